"""Catch-up of stored positions that were never handed to the workers (the gateway killed
between its commit and the hand-off): beat task ``telematics.motion_catchup``."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from telematics.models import (
    DailySummary,
    MotionCatchup,
    MotionCheckpoint,
    Position,
    Stop,
    Trip,
)
from telematics.motion_watch import motion_catchup
from telematics.tasks import motion_catchup as motion_catchup_task
from telematics.tasks import process_position_ranges, process_positions
from tests.factories import MunicipalityFactory
from tests.telematics.motion.conftest import FixBuilder
from tests.telematics.tracked import store_fixes, tracked_vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture
def town():
    municipality = MunicipalityFactory()
    vehicle, device = tracked_vehicle(municipality, "862462030000777")
    return municipality, vehicle, device


def two_trips(start: datetime) -> list:
    b = FixBuilder(start=start).set(ignition=False).park(600).set(ignition=True)
    b.drive(2000, 0, 36).set(ignition=False).park(900).set(ignition=True)
    b.drive(0, 1500, 30).set(ignition=False).park(600)
    return b.fixes


def store(device, vehicle, fixes, stored_at: datetime | None = None) -> None:
    """What the gateway's commit leaves behind: rows, and no hand-off."""
    store_fixes(device, vehicle, fixes, stored_at=stored_at)


def trips() -> list[tuple]:
    return list(
        Trip.objects.order_by("start_time").values_list(
            "pk", "start_time", "end_time", "distance_m"
        )
    )


def test_positions_never_handed_off_are_processed_once(town) -> None:
    _municipality, vehicle, device = town
    now = timezone.now()
    fixes = two_trips(now - timedelta(hours=3))
    store(device, vehicle, fixes)
    assert Trip.objects.count() == 0

    motion_catchup_task()  # the beat task (Celery runs eagerly in the tests)

    found = trips()
    assert len(found) == 2
    assert found[0][3] == pytest.approx(2000, rel=0.01)
    assert found[1][3] == pytest.approx(1500, rel=0.01)
    assert Stop.objects.count() == 3
    day = timezone.localdate(fixes[0].fix_time)
    summaries = DailySummary.objects.filter(vehicle=vehicle)
    assert sum(s.trip_count for s in summaries) == 2
    assert summaries.filter(day__gte=day).exists()
    latest = MotionCheckpoint.objects.filter(device=device).order_by("-time").first()
    assert latest.time == fixes[-1].fix_time
    mark = MotionCatchup.objects.get(device=device)
    assert mark.through == fixes[-1].fix_time

    # Second run: caught up, nothing enqueued, nothing changes.
    checkpoints = list(MotionCheckpoint.objects.values_list("pk", "time").order_by("pk"))
    assert motion_catchup(now=timezone.now()) == []
    assert trips() == found
    assert list(MotionCheckpoint.objects.values_list("pk", "time").order_by("pk")) == checkpoints


def test_a_lost_hand_off_after_processed_data_continues_from_the_checkpoint(town) -> None:
    _municipality, vehicle, device = town
    now = timezone.now()
    fixes = two_trips(now - timedelta(hours=4))
    first, rest = fixes[:150], fixes[150:]
    store(device, vehicle, first)
    process_positions(device.pk, first[0].fix_time.isoformat(), first[-1].fix_time.isoformat())
    processed = MotionCheckpoint.objects.filter(device=device).order_by("-time").first().time
    store(device, vehicle, rest)  # the gateway died before handing this off

    assert motion_catchup(now=now) == [device.pk]
    assert len(trips()) == 2
    assert MotionCheckpoint.objects.filter(device=device).order_by("-time").first().time > processed
    assert motion_catchup(now=now) == []


def test_positions_within_the_grace_period_are_left_to_the_hand_off(town, settings) -> None:
    _municipality, vehicle, device = town
    settings.KINISI_MOTION_CATCHUP_GRACE_S = 600
    now = timezone.now()
    fixes = two_trips(now - timedelta(hours=2))
    store(device, vehicle, fixes, stored_at=now - timedelta(minutes=3))
    assert motion_catchup(now=now) == []
    assert Trip.objects.count() == 0
    assert motion_catchup(now=now + timedelta(minutes=8)) == [device.pk]
    assert len(trips()) == 2


def test_handed_off_devices_and_invalid_tails_are_not_enqueued(town) -> None:
    _municipality, vehicle, device = town
    now = timezone.now()
    fixes = two_trips(now - timedelta(hours=3))
    store(device, vehicle, fixes)
    process_positions(device.pk, fixes[0].fix_time.isoformat(), fixes[-1].fix_time.isoformat())
    assert motion_catchup(now=now) == []
    # Fixes without a valid position never move the checkpoint: nothing to catch up on.
    tail = FixBuilder(start=fixes[-1].fix_time + timedelta(seconds=10)).park(120).fixes
    Position.objects.bulk_create(
        Position(
            municipality_id=device.municipality_id,
            device=device,
            vehicle=vehicle,
            fix_time=f.fix_time,
            server_time=f.fix_time,
            latitude=0.0,
            longitude=0.0,
            valid=False,
        )
        for f in tail
    )
    assert motion_catchup(now=now) == []
    assert not MotionCatchup.objects.exists()


def test_a_range_is_enqueued_again_only_after_the_retry_interval(town, settings) -> None:
    """If the enqueued task was lost too (worker killed), the catch-up tries again later."""
    _municipality, vehicle, device = town
    settings.KINISI_MOTION_CATCHUP_RETRY_S = 3600
    now = timezone.now()
    fixes = two_trips(now - timedelta(hours=3))
    store(device, vehicle, fixes)
    # As if the catch-up had enqueued this range a minute ago and the task had been lost.
    MotionCatchup.objects.create(
        device=device, through=fixes[-1].fix_time, enqueued_at=now - timedelta(minutes=1)
    )
    assert motion_catchup(now=now) == []
    assert Trip.objects.count() == 0
    assert motion_catchup(now=now + timedelta(hours=1)) == [device.pk]
    assert len(trips()) == 2


def test_a_failed_enqueue_is_retried_on_the_next_run_and_does_not_stop_the_others(
    town, monkeypatch
) -> None:
    """The broker refuses one device's range: the others still go, and that device is tried
    again on the next run, not after the retry interval. (The tests run Celery eagerly, so the
    broker outage is played by replacing ``delay`` for one run.)"""
    from kombu.exceptions import OperationalError

    municipality, vehicle, device = town
    other_vehicle, other = tracked_vehicle(municipality, "862462030000778")
    now = timezone.now()
    store(device, vehicle, two_trips(now - timedelta(hours=3)))
    store(other, other_vehicle, two_trips(now - timedelta(hours=3)))
    real_delay = process_positions.delay

    def refuse_first_device(device_id, start, end):
        if device_id == device.pk:
            raise OperationalError("broker unreachable")
        return real_delay(device_id, start, end)

    monkeypatch.setattr(process_positions, "delay", refuse_first_device)
    assert motion_catchup(now=now) == [other.pk]
    assert not MotionCatchup.objects.filter(device=device).exists()
    monkeypatch.undo()

    assert motion_catchup(now=now) == [device.pk]
    assert Trip.objects.filter(vehicle=vehicle).count() == 2


def test_the_gateways_batched_hand_off_processes_each_device_and_survives_a_bad_item(
    town, caplog
) -> None:
    municipality, vehicle, device = town
    other_vehicle, other = tracked_vehicle(municipality, "862462030000779")
    now = timezone.now()
    first = two_trips(now - timedelta(hours=3))
    second = two_trips(now - timedelta(hours=2))
    store(device, vehicle, first)
    store(other, other_vehicle, second)
    process_position_ranges(
        [
            [device.pk, first[0].fix_time.isoformat(), first[-1].fix_time.isoformat()],
            ["not a device", "yesterday"],  # malformed: logged, the others go on
            [other.pk, second[0].fix_time.isoformat(), second[-1].fix_time.isoformat()],
        ]
    )
    assert Trip.objects.filter(vehicle=vehicle).count() == 2
    assert Trip.objects.filter(vehicle=other_vehicle).count() == 2
    assert "process_position_ranges_failed" in caplog.text
