from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telematics.motion.geofence import (
    Geofence,
    GeofenceError,
    GeofenceIndex,
    geofence_from_geojson,
    parse_geojson,
)

# The school's circle, north-east of the depot.
LAT0, LON0 = 35.5230, 24.0230
R = 6_371_008.8
M_LAT = R * math.pi / 180
M_LON = M_LAT * math.cos(math.radians(LAT0))

# An L-shaped depot (not convex, so a bounding-box test would be wrong in the notch).
L_SHAPE = [
    [24.010, 35.510],
    [24.020, 35.510],
    [24.020, 35.515],
    [24.015, 35.515],
    [24.015, 35.520],
    [24.010, 35.520],
    [24.010, 35.510],
]


def ray_casting(lon: float, lat: float, ring: list[list[float]]) -> bool:
    """Independent point-in-polygon (even-odd rule) for points not on an edge."""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x_cross:
                inside = not inside
    return inside


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * R * math.asin(math.sqrt(a))


def feature(geometry: dict, **props) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def collection(*features: dict) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


POLYGON = {"type": "Polygon", "coordinates": [L_SHAPE]}
CIRCLE = {"type": "Point", "coordinates": [LON0, LAT0]}


def make_index() -> GeofenceIndex:
    return GeofenceIndex(
        [
            geofence_from_geojson("depot", POLYGON, name="Depot"),
            Geofence(id="school", name="School", center=(LAT0, LON0), radius_m=100.0),
        ]
    )


def test_circle_contains_points_by_ground_distance() -> None:
    index = make_index()
    # 90 m and 110 m north, and the same east (a degree of longitude is shorter here).
    assert index.containing(LAT0 + 90 / M_LAT, LON0) == {"school"}
    assert index.containing(LAT0 + 110 / M_LAT, LON0) == frozenset()
    assert index.containing(LAT0, LON0 + 90 / M_LON) == {"school"}
    assert index.containing(LAT0, LON0 + 110 / M_LON) == frozenset()


def test_polygon_notch_is_outside_and_edges_are_inside() -> None:
    index = make_index()
    assert index.containing(35.5125, 24.0125) == {"depot"}
    assert index.containing(35.5175, 24.0175) == frozenset()  # the notch of the L
    assert index.containing(35.510, 24.0125) == {"depot"}  # on the southern edge


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(35.505, 35.528), st.floats(24.005, 24.028)),
        min_size=1,
        max_size=200,
    )
)
def test_batch_containment_matches_independent_reference(points) -> None:
    index = make_index()
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    result = index.containing_many(lats, lons)
    for (lat, lon), ids in zip(points, result, strict=True):
        expected = set()
        if ray_casting(lon, lat, L_SHAPE):
            expected.add("depot")
        if haversine(lat, lon, LAT0, LON0) <= 100.0:
            expected.add("school")
        on_edge = any(
            abs(lon - x) < 1e-9 or abs(lat - y) < 1e-9 for x, y in L_SHAPE
        )  # points on an edge may go either way in the reference
        if not on_edge:
            assert set(ids) == expected, (lat, lon)


def test_empty_index_answers_empty() -> None:
    assert GeofenceIndex().containing_many([35.5, 35.6], [24.0, 24.1]) == [frozenset()] * 2


def test_duplicate_ids_are_refused() -> None:
    fence = Geofence(id=1, center=(LAT0, LON0), radius_m=10.0)
    with pytest.raises(ValueError, match="duplicate"):
        GeofenceIndex([fence, fence])


# ----------------------------------------------------------------------------------------------
# GeoJSON uploads


def test_valid_upload_with_polygon_and_circle() -> None:
    parsed = parse_geojson(
        collection(
            feature(POLYGON, name="Depot", speed_limit_kmh=20),
            feature(CIRCLE, name="School", radius=150),
        )
    )
    assert [(p.name, p.kind) for p in parsed] == [("Depot", "polygon"), ("School", "circle")]
    assert parsed[0].speed_limit_kmh == 20.0
    assert parsed[1].radius_m == 150.0
    index = GeofenceIndex([p.to_geofence(i) for i, p in enumerate(parsed)])
    assert index.containing(35.5125, 24.0125) == {0}


def test_bare_polygon_is_accepted_with_a_default_name() -> None:
    parsed = parse_geojson(json.dumps(POLYGON))
    assert parsed[0].name == "Geofence 1"


def assert_rejected(data, *fragments: str) -> GeofenceError:
    with pytest.raises(GeofenceError) as info:
        parse_geojson(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_not_json_says_where() -> None:
    assert_rejected('{"type": "FeatureCollection", "features": [}', "not valid JSON", "line 1")


def test_unclosed_ring_is_rejected() -> None:
    open_ring = {"type": "Polygon", "coordinates": [L_SHAPE[:-1]]}
    assert_rejected(collection(feature(open_ring, name="Yard")), "Yard", "not closed")


def test_self_intersecting_polygon_is_rejected_with_the_reason() -> None:
    bowtie = [[24.0, 35.5], [24.01, 35.51], [24.01, 35.5], [24.0, 35.51], [24.0, 35.5]]
    assert_rejected(
        collection(feature({"type": "Polygon", "coordinates": [bowtie]})),
        "invalid polygon",
        "Self-intersection",
    )


def test_line_cannot_be_a_geofence() -> None:
    line = {"type": "LineString", "coordinates": [[24.0, 35.5], [24.1, 35.6]]}
    assert_rejected(collection(feature(line)), "LineString cannot be a geofence")


def test_circle_needs_a_positive_radius() -> None:
    assert_rejected(collection(feature(CIRCLE)), "radius")
    assert_rejected(collection(feature(CIRCLE, radius=-5)), "radius must be")


def test_out_of_range_coordinates_are_named() -> None:
    swapped = [[35.5, 124.0], [35.6, 124.0], [35.6, 124.1], [35.5, 124.0]]
    assert_rejected(
        collection(feature({"type": "Polygon", "coordinates": [swapped]})),
        "outside longitude ±180 / latitude ±90",
    )


def test_shape_far_from_the_municipality_is_rejected_when_an_area_is_given() -> None:
    # Longitude and latitude swapped: still valid coordinates (in the Indian Ocean), but
    # nowhere near Chania.
    swapped = [[p[1], p[0]] for p in L_SHAPE]
    with pytest.raises(GeofenceError, match="swapped"):
        parse_geojson(
            collection(feature({"type": "Polygon", "coordinates": [swapped]})),
            expect_bbox=(23.7, 35.2, 24.3, 35.7),
        )


def test_non_finite_numbers_are_rejected() -> None:
    ring = [[24.0, 35.5], [float("nan"), 35.51], [24.01, 35.5], [24.0, 35.5]]
    assert_rejected(
        collection(feature({"type": "Polygon", "coordinates": [ring]})), "finite numbers"
    )


def test_one_bad_feature_rejects_the_whole_upload_listing_every_problem() -> None:
    error = assert_rejected(
        collection(
            feature(POLYGON, name="Good"),
            feature(CIRCLE, name="No radius"),
            feature({"type": "Polygon", "coordinates": [L_SHAPE[:3]]}, name="Too short"),
        ),
        "No radius",
        "Too short",
    )
    assert len(error.problems) == 2


def test_empty_and_wrong_top_level_objects() -> None:
    assert_rejected(collection(), "no geofences")
    assert_rejected("[]", "expected a GeoJSON object")
    assert_rejected(json.dumps({"type": "Topology"}), "unsupported GeoJSON type")
    assert_rejected(json.dumps(CIRCLE), "bare Point")


def test_oversized_upload_is_rejected_before_parsing() -> None:
    assert_rejected(" " * (6 * 1024 * 1024), "larger than 5 MB")


def test_bad_properties_are_rejected() -> None:
    assert_rejected(collection(feature(POLYGON, name="")), "name")
    assert_rejected(collection(feature(POLYGON, speed_limit_kmh=900)), "speed_limit_kmh")
