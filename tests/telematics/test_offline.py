"""Tracker offline in real time (beat task ``telematics.trackers_offline``) and its reconciliation
with the outage the motion pipeline sees when data resumes: one offline and one back-online
event per outage, however it was seen."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from fleet.choices import Role
from notifications.models import Notification, NotificationRule
from telematics.models import (
    DailySummary,
    Device,
    MotionEvent,
    MotionSettings,
)
from telematics.motion_watch import trackers_offline_detect
from telematics.tasks import motion_rebuild, process_positions, trackers_offline
from tests.factories import MunicipalityFactory, UserFactory
from tests.telematics.motion.conftest import FixBuilder
from tests.telematics.tracked import store_fixes, tracked_vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture
def town():
    municipality = MunicipalityFactory()
    vehicle, device = tracked_vehicle(municipality, "862462030000001")
    manager = UserFactory(municipality=municipality, role=Role.MANAGER, email="m@example.gr")
    return municipality, vehicle, device, manager


def store(device, vehicle, fixes) -> tuple[str, str]:
    first, last = store_fixes(device, vehicle, fixes)
    return first.isoformat(), last.isoformat()


def driving_until(end: datetime) -> FixBuilder:
    """Ten minutes of driving with the engine on, the last fix at ``end``: the tracker goes
    silent mid-trip (the short threshold applies)."""
    b = FixBuilder(start=end - timedelta(minutes=12)).set(ignition=False).park(60)
    b.set(ignition=True).drive(6000, 0, 36)
    return b


def events(kind: str) -> list[MotionEvent]:
    return list(MotionEvent.objects.filter(type=kind).order_by("time"))


def test_silent_tracker_gets_one_offline_event_then_the_pipeline_takes_over(
    town, django_capture_on_commit_callbacks
) -> None:
    municipality, vehicle, device, manager = town
    NotificationRule.objects.create(
        municipality=municipality,
        name="Trackers",
        event_types=["tracker_offline", "tracker_online"],
        roles=[Role.MANAGER],
    )
    now = timezone.now()
    b = driving_until(now - timedelta(minutes=40))
    last_fix = b.fixes[-1].fix_time
    with django_capture_on_commit_callbacks(execute=True):
        process_positions(device.pk, *store(device, vehicle, b.fixes))
    assert events("tracker_offline") == []

    # Live: 40 minutes of silence against the default 30-minute threshold.
    with django_capture_on_commit_callbacks(execute=True):
        created = trackers_offline_detect(now=now)
    assert len(created) == 1
    live = created[0]
    assert live.time == last_fix + timedelta(seconds=1800)
    assert live.vehicle_id == vehicle.pk and live.closed is False
    assert live.facts["last_fix_time"] == last_fix.isoformat()
    summary = DailySummary.objects.get(vehicle=vehicle, day=timezone.localdate(live.time))
    assert summary.events.get("tracker_offline") == 1
    # Every minute after that: nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        assert trackers_offline_detect(now=now + timedelta(minutes=1)) == []
        trackers_offline()
    assert len(events("tracker_offline")) == 1
    assert Notification.objects.filter(recipient=manager, event_type="tracker_offline").count() == 1

    # Data resumes: the pipeline sees the same outage and replaces the live event with its own.
    b.set(ignition=True).silence(45 * 60).drive(0, 1000, 30)
    with django_capture_on_commit_callbacks(execute=True):
        process_positions(device.pk, *store(device, vehicle, b.fixes[-4:]))
    offline, online = events("tracker_offline"), events("tracker_online")
    assert [e.time for e in offline] == [live.time]
    assert offline[0].closed is True and offline[0].pk != live.pk
    assert len(online) == 1 and online[0].time > live.time
    # Notified once each: the offline one is known by device, type and time.
    assert sorted(Notification.objects.values_list("event_type", flat=True)) == [
        "tracker_offline",
        "tracker_online",
    ]
    # Nothing for the live check to do now, and a full rebuild finds the same outage.
    assert trackers_offline_detect(now=timezone.now()) == []
    with django_capture_on_commit_callbacks(execute=True):
        motion_rebuild(device.pk)
    assert [e.time for e in events("tracker_offline")] == [live.time]
    assert [e.time for e in events("tracker_online")] == [online[0].time]
    assert Notification.objects.count() == 2


def test_threshold_from_the_municipality_motion_settings(town) -> None:
    municipality, vehicle, device, _manager = town
    MotionSettings.objects.create(municipality=municipality, offline_after_s=600)
    now = timezone.now()
    b = driving_until(now - timedelta(minutes=15))
    process_positions(device.pk, *store(device, vehicle, b.fixes))
    created = trackers_offline_detect(now=now)
    assert [e.time for e in created] == [b.fixes[-1].fix_time + timedelta(seconds=600)]


def test_parked_with_the_engine_off_is_not_offline_after_half_an_hour(town) -> None:
    _municipality, vehicle, device, _manager = town
    now = timezone.now()
    b = driving_until(now - timedelta(hours=3))
    b.set(ignition=False).park(900)
    process_positions(device.pk, *store(device, vehicle, b.fixes))
    # The pipeline's rule: a parked tracker with the engine off may sleep for a day.
    assert trackers_offline_detect(now=now) == []
    # ... and it says the same when data resumes after those hours.
    b.silence(2 * 3600).park(60)
    process_positions(device.pk, *store(device, vehicle, b.fixes[-6:]))
    assert events("tracker_offline") == [] and events("tracker_online") == []


def test_stored_but_unprocessed_positions_leave_the_decision_to_the_pipeline(town) -> None:
    _municipality, vehicle, device, _manager = town
    now = timezone.now()
    b = driving_until(now - timedelta(minutes=50))
    process_positions(device.pk, *store(device, vehicle, b.fixes))
    b.silence(40 * 60).drive(0, 500, 30)
    store(device, vehicle, b.fixes[-2:])  # stored, not processed yet
    assert trackers_offline_detect(now=now) == []
    assert events("tracker_offline") == []


def test_inactive_devices_and_devices_never_processed_are_left_alone(town) -> None:
    _municipality, vehicle, device, _manager = town
    now = timezone.now()
    b = driving_until(now - timedelta(hours=2))
    store(device, vehicle, b.fixes)  # never processed: no checkpoint
    assert trackers_offline_detect(now=now) == []
    process_positions(device.pk, b.fixes[0].fix_time.isoformat(), b.fixes[-1].fix_time.isoformat())
    Device.objects.filter(pk=device.pk).update(active=False)
    assert trackers_offline_detect(now=now) == []


def test_the_check_costs_the_same_however_many_trackers_are_offline_or_parked(town) -> None:
    """Trackers already marked offline and trackers parked with the engine off (within their
    day-long threshold) are left out by the query itself: adding more of them adds no query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    municipality, _vehicle, _device, _manager = town
    now = timezone.now()
    made = 0

    def silent_trackers(count: int) -> None:
        nonlocal made
        for _ in range(count):
            made += 1
            vehicle, device = tracked_vehicle(municipality, f"86246203100{made:04d}")
            process_positions(
                device.pk, *store(device, vehicle, driving_until(now - timedelta(minutes=40)).fixes)
            )
            for ignition in (False, None):  # engine off, or no ignition wire at all
                made += 1
                vehicle, device = tracked_vehicle(municipality, f"86246203100{made:04d}")
                b = driving_until(now - timedelta(hours=3))
                b.set(ignition=ignition).park(900)
                process_positions(device.pk, *store(device, vehicle, b.fixes))
        # The ones silent mid-trip are marked offline now; the parked ones are not due.
        assert len(trackers_offline_detect(now=now)) == count

    def queries_of_a_quiet_run() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert trackers_offline_detect(now=now + timedelta(minutes=1)) == []
        return len(queries)

    silent_trackers(1)
    few = queries_of_a_quiet_run()
    silent_trackers(4)
    assert len(events("tracker_offline")) == 5
    assert queries_of_a_quiet_run() == few

    # Still found: the parked ones once their day is over, and a new silent one.
    silent_trackers(1)
    later = trackers_offline_detect(now=now + timedelta(hours=22))
    assert len(later) == 12
    assert all(e.facts["threshold_s"] == 24 * 3600 for e in later)


def test_the_live_map_shows_offline_exactly_when_the_offline_event_exists(town) -> None:
    """One threshold for both: the motion settings of the municipality (600 s) and of a vehicle
    category (1200 s), and the day-long one when parked with the engine off."""
    from telematics.models import VehicleLiveState
    from telematics.selectors import live_vehicles

    municipality, truck, truck_device, manager = town  # a refuse truck: the municipality's 600 s
    MotionSettings.objects.create(municipality=municipality, offline_after_s=600)
    MotionSettings.objects.create(
        municipality=municipality, category="sweeper", offline_after_s=1200
    )
    sweeper, sweeper_device = tracked_vehicle(municipality, "862462030000002", category="sweeper")
    parked, parked_device = tracked_vehicle(municipality, "862462030000003")
    start = timezone.now() - timedelta(days=2)
    last_fix = {}
    for vehicle, device in ((truck, truck_device), (sweeper, sweeper_device)):
        b = driving_until(start)  # silent mid-trip, engine on
        process_positions(device.pk, *store(device, vehicle, b.fixes))
        last_fix[vehicle.pk] = (b.fixes[-1], True)
    b = driving_until(start - timedelta(minutes=15))
    b.set(ignition=False).park(900)
    process_positions(parked_device.pk, *store(parked_device, parked, b.fixes))
    last_fix[parked.pk] = (b.fixes[-1], False)
    for vehicle_id, (fix, moving) in last_fix.items():
        # What the gateway writes with the last fix.
        VehicleLiveState.objects.create(
            vehicle_id=vehicle_id,
            municipality=municipality,
            fix_time=fix.fix_time,
            latitude=fix.latitude,
            longitude=fix.longitude,
            speed_kmh=fix.speed_kmh,
            ignition=fix.ignition,
            moving=moving,
            last_seen=fix.fix_time,
            updated_at=fix.fix_time,
        )

    seen = []
    for minutes in (5, 9, 11, 15, 19, 21, 60, 23 * 60, 24 * 60 + 5):
        now = last_fix[truck.pk][0].fix_time + timedelta(minutes=minutes)
        trackers_offline_detect(now=now)
        with_event = set(
            MotionEvent.objects.filter(type="tracker_offline").values_list("vehicle_id", flat=True)
        )
        on_map = {
            v.vehicle_id for v in live_vehicles(user=manager, now=now) if v.status == "offline"
        }
        assert on_map == with_event, minutes
        seen.append(len(on_map))
    # Each threshold was crossed in the walk: 600 s, then 1200 s, then a day parked.
    assert seen == [0, 0, 1, 1, 1, 2, 2, 2, 3]
