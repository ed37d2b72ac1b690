"""Many-to-one road times must equal the router's own matrix, origin by origin."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.routing.router import Vehicle
from dispatch.travel import many_to_one
from tests.dispatch.conftest import CHANIA_BBOX

SOUTH, WEST, NORTH, EAST = CHANIA_BBOX
lat = st.floats(SOUTH, NORTH)
lon = st.floats(WEST, EAST)
point = st.tuples(lat, lon)


@pytest.fixture(scope="module")
def router(chania_router_session):
    return chania_router_session


def _same(router, origins, dest, vehicle=None):
    ours = many_to_one(router, origins, dest, vehicle=vehicle)
    reference = router.matrix(origins, [dest], vehicle=vehicle)
    ref_t = reference.durations_s[:, 0]
    ref_m = reference.lengths_m[:, 0]
    assert np.array_equal(np.isnan(ours.durations_s), np.isnan(ref_t))
    ok = ~np.isnan(ref_t)
    # Integer milliseconds summed in a different order: equal to float precision.
    np.testing.assert_allclose(ours.durations_s[ok], ref_t[ok], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.lengths_m[ok], ref_m[ok], rtol=0, atol=1e-6)
    return ours


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(origins=st.lists(point, min_size=1, max_size=40), dest=point)
def test_many_to_one_equals_router_matrix(router, origins, dest):
    _same(router, origins, dest)


def test_heavy_vehicle_profile_is_respected(router):
    rng = np.random.default_rng(7)
    origins = list(zip(rng.uniform(SOUTH, NORTH, 60), rng.uniform(WEST, EAST, 60), strict=True))
    dest = (35.5149, 24.0182)
    _same(router, origins, dest, vehicle=Vehicle(weight_t=26.0, height_m=3.8))


def test_origin_on_the_destination_road_drives_straight_along_it(router):
    dest = (35.5149, 24.0182)
    snap = router.snap(*dest)
    result = _same(router, [dest, (snap.road_lat, snap.road_lon)], dest)
    assert result.durations_s[0] == pytest.approx(0.0, abs=1e-9)


def test_unusable_points_give_nan_not_errors(router):
    result = many_to_one(router, [(91.0, 0.0), (35.0, 20.0)], (35.5149, 24.0182))
    assert all(math.isnan(v) for v in result.durations_s)
    empty = many_to_one(router, [], (35.5149, 24.0182))
    assert len(empty.durations_s) == 0
    outside = many_to_one(router, [(35.5149, 24.0182)], (0.0, 0.0))
    assert math.isnan(outside.durations_s[0])
