"""The fuel checks read what the motion pipeline stores: trips, daily summaries and events."""

from datetime import UTC, date, datetime

import pytest

from fleet.selectors.fuel import DbMotion
from tests.factories import DailySummaryFactory, MotionEventFactory, TripFactory

pytestmark = pytest.mark.django_db


def test_fuel_drop_events_from_the_motion_pipeline_reach_the_fuel_checks():
    event = MotionEventFactory(
        type="fuel_drop",
        time=datetime(2026, 3, 10, 22, 0, tzinfo=UTC),
        facts={"before": 64.0, "after": 41.0, "drop": 23.0},
    )
    MotionEventFactory(
        vehicle=event.vehicle, device=event.device, municipality=event.municipality
    )  # an overspeed: not a fuel drop
    motion = DbMotion(event.vehicle_id, "Europe/Athens")
    drops = motion.fuel_drops(
        datetime(2026, 3, 10, tzinfo=UTC).timestamp(), datetime(2026, 3, 11, tzinfo=UTC).timestamp()
    )
    assert len(drops) == 1
    assert (drops[0].before_pct, drops[0].after_pct) == (64.0, 41.0)


def test_motion_tables_are_found_by_the_fuel_checks():
    trip = TripFactory()
    DailySummaryFactory(vehicle=trip.vehicle, municipality=trip.municipality, day=date(2026, 3, 10))
    motion = DbMotion(trip.vehicle_id, "Europe/Athens")
    assert motion.trip is not None
    assert motion.daily is not None
    assert motion.event is not None
