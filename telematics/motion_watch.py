"""Watching the motion pipeline from the outside, on a schedule (Celery beat).

``trackers_offline_detect`` (every minute): a tracker that has gone silent gets its
"tracker offline" event while it is still silent. The pipeline itself only sees an outage once
data resumes (``telematics/motion/events.py`` emits offline and back-online together then). The
live event is reconciled with that by construction: it is the event the pipeline would emit
(same time: last fix + the same threshold, same place and facts), stored as provisional
(``closed=False``), and the pipeline deletes every provisional row of a device on its next
update. When data resumes, the pipeline's own offline and back-online events replace it, so an
outage has exactly one of each whether seen live, on resumption or on a rebuild; and the
notifier knows the event by device, type and time, so it is not notified twice.

``motion_catchup`` (every few minutes): positions the gateway stored but never handed to the
workers (killed between commit and hand-off) are found by comparing each device's latest
stored fix with its latest motion checkpoint, and processed once the grace period is over.
A late upload stored *behind* the checkpoint and never handed off is not seen this way (no
column says when a device was last processed); only positions beyond the checkpoint are.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from telematics.models import Device, Position
from telematics.motion.events import EventConfig, EventDetector, EventType
from telematics.motion.records import from_epoch
from telematics.motion.trips import SampleStatus
from telematics.motion_models import MotionCatchup, MotionCheckpoint, MotionEvent, MotionSettings
from telematics.motion_services import (
    daily_summaries_update,
    enqueue_notifications,
    geofence_index_for,
    motion_config_for,
    vehicle_at,
)

log = logging.getLogger("telematics.motion")


def _latest_checkpoint_time():
    return Subquery(
        MotionCheckpoint.objects.filter(device=OuterRef("pk")).order_by("-time").values("time")[:1]
    )


# ------------------------------------------------------------------------------------------------
# trackers offline


def offline_after_s(config: EventConfig, *, parked: bool, ignition: bool | None) -> float:
    """The pipeline's rule (``EventDetector._offline``): a tracker parked with the engine off
    may stay quiet much longer than one in use. The live map applies the same rule
    (``OfflineThresholds``), so the map and the events agree."""
    if parked and ignition is not True:
        return config.offline_after_parked_s
    return config.offline_after_s


def offline_threshold_s(detector: EventDetector, config: EventConfig) -> float | None:
    """``offline_after_s`` for the detector's last sample. ``None``: nothing processed yet."""
    last = detector.last
    if last is None:
        return None
    parked = detector.last_status in (SampleStatus.PARKED, SampleStatus.PARKED_PENDING)
    return offline_after_s(config, parked=parked, ignition=last.ignition)


class OfflineThresholds:
    """The offline thresholds of many vehicles from one query: the municipality's motion
    settings and its vehicle-category rows, with the precedence of ``motion_config_for``
    (defaults < municipality row < category row)."""

    def __init__(self, municipality_ids) -> None:
        self._rows: dict[tuple[int, str], float] = {
            (m, c): v
            for m, c, v in MotionSettings.objects.filter(
                municipality_id__in=list(municipality_ids), offline_after_s__isnull=False
            ).values_list("municipality_id", "category", "offline_after_s")
        }

    def config(self, municipality_id: int, category: str) -> EventConfig:
        value = self._rows.get((municipality_id, category or ""))
        if value is None:
            value = self._rows.get((municipality_id, ""), EventConfig.offline_after_s)
        return EventConfig(offline_after_s=value)

    def after_s(
        self, municipality_id: int, category: str, *, parked: bool, ignition: bool | None
    ) -> float:
        return offline_after_s(
            self.config(municipality_id, category), parked=parked, ignition=ignition
        )


def _shortest_threshold_s() -> float:
    configured = MotionSettings.objects.filter(offline_after_s__isnull=False).values_list(
        "offline_after_s", flat=True
    )
    return min([EventConfig.offline_after_s, *configured])


def _due_devices(now: datetime) -> list[Device]:
    """Active devices whose silence has crossed their offline threshold and that have no
    provisional offline event yet, found by one query: a tracker already marked offline, or
    parked with the engine off and still within its longer threshold, costs nothing per run, so
    the check does not grow with the silent fleet.

    The parked case is read from the latest checkpoint's event state (``last_status`` and the
    ignition of the last sample, ``Sample.to_list`` index 4), the pipeline's own rule. Otherwise
    the shortest configured threshold is the bound here; ``_offline_event`` applies the
    device's own under the lock."""
    shortest = now - timedelta(seconds=_shortest_threshold_s())
    parked_limit = now - timedelta(seconds=EventConfig.offline_after_parked_s)
    parked_engine_off = Exists(
        MotionCheckpoint.objects.filter(
            device=OuterRef("pk"),
            time=OuterRef("checkpoint_time"),
            state__events__last_status__in=[SampleStatus.PARKED, SampleStatus.PARKED_PENDING],
        ).exclude(state__events__last__4=True)
    )
    marked = Exists(
        MotionEvent.objects.filter(
            device=OuterRef("pk"), type=EventType.TRACKER_OFFLINE, closed=False
        )
    )
    return list(
        Device.objects.filter(active=True)
        .annotate(checkpoint_time=_latest_checkpoint_time())
        .filter(checkpoint_time__lt=shortest)
        .alias(parked_engine_off=parked_engine_off, marked=marked)
        .filter(marked=False)
        .filter(Q(parked_engine_off=False) | Q(checkpoint_time__lt=parked_limit))
        .select_related("municipality")
    )


def trackers_offline_detect(*, now: datetime | None = None) -> list[MotionEvent]:
    """Create the "tracker offline" event of every active device silent for longer than its
    threshold, once per outage. Returns the events created."""
    now = now or timezone.now()
    created = []
    for device in _due_devices(now):
        try:
            event = _offline_event(device, now)
        except (KeyError, TypeError, ValueError) as exc:
            # A checkpoint this code cannot read: the next motion update rebuilds it.
            log.warning("motion.offline_check_failed device=%s error=%s", device.unique_id, exc)
            continue
        if event is not None:
            created.append(event)
    return created


def _offline_event(device: Device, now: datetime) -> MotionEvent | None:
    municipality = device.municipality
    with transaction.atomic():
        # Not while the device's motion is being updated (the same lock).
        Device.objects.select_for_update().filter(pk=device.pk).first()
        checkpoint = MotionCheckpoint.objects.filter(device=device).order_by("-time").first()
        if checkpoint is None:
            return None
        vehicle = vehicle_at(device, checkpoint.time)
        vehicle_id = vehicle.pk if vehicle is not None else None
        config = motion_config_for(vehicle, municipality).events
        detector = EventDetector.from_dict(
            checkpoint.state["events"],
            config,
            geofence_index_for(municipality),
            municipality.timezone or "Europe/Athens",
        )
        threshold = offline_threshold_s(detector, config)
        last = detector.last
        if threshold is None or now.timestamp() - last.t <= threshold:
            return None
        offline_at = from_epoch(last.t + threshold)
        # Positions stored after that moment are waiting for the pipeline, which will emit the
        # outage itself (or see there was none).
        if Position.objects.filter(device=device, fix_time__gt=offline_at).exists():
            return None
        if MotionEvent.objects.filter(
            device=device, type=EventType.TRACKER_OFFLINE, time=offline_at
        ).exists():
            return None
        event = MotionEvent.objects.create(
            municipality_id=device.municipality_id,
            device=device,
            vehicle_id=vehicle_id,
            emitted_at=offline_at,
            closed=False,
            type=str(EventType.TRACKER_OFFLINE),
            time=offline_at,
            latitude=last.lat,
            longitude=last.lon,
            facts={"last_fix_time": from_epoch(last.t).isoformat(), "threshold_s": threshold},
        )
        if vehicle_id is not None:
            tz = municipality.timezone or "Europe/Athens"
            daily_summaries_update(
                vehicle_id=vehicle_id, days=[offline_at.astimezone(ZoneInfo(tz)).date()]
            )
        enqueue_notifications(device.pk)
    log.info(
        "motion.tracker_offline device=%s last_fix=%s threshold_s=%s",
        device.unique_id,
        from_epoch(last.t).isoformat(),
        threshold,
    )
    return event


# ------------------------------------------------------------------------------------------------
# catch-up of positions never handed off


def motion_catchup(*, now: datetime | None = None) -> list[int]:
    """Enqueue motion processing for every active device whose stored fixes go beyond its
    latest checkpoint and were stored more than ``KINISI_MOTION_CATCHUP_GRACE_S`` ago. The same
    range is enqueued again only after ``KINISI_MOTION_CATCHUP_RETRY_S``. Returns the ids of
    the devices enqueued."""
    from telematics.tasks import process_positions

    now = now or timezone.now()
    grace = timedelta(seconds=settings.KINISI_MOTION_CATCHUP_GRACE_S)
    retry = timedelta(seconds=settings.KINISI_MOTION_CATCHUP_RETRY_S)
    # Invalid fixes never move the checkpoint (the pipeline rejects them): they do not count.
    latest_fix = Subquery(
        Position.objects.filter(device=OuterRef("pk"), valid=True)
        .order_by("-fix_time")
        .values("fix_time")[:1]
    )
    rows = (
        Device.objects.filter(active=True)
        .annotate(checkpoint_time=_latest_checkpoint_time(), last_fix=latest_fix)
        .filter(last_fix__isnull=False)
        .values_list("pk", "unique_id", "checkpoint_time", "last_fix")
    )
    behind = [(pk, uid, cp, last) for pk, uid, cp, last in rows if cp is None or last > cp]
    if not behind:
        return []
    marks = {
        m.device_id: m for m in MotionCatchup.objects.filter(device_id__in=[b[0] for b in behind])
    }
    enqueued = []
    for device_id, unique_id, checkpoint_time, last_fix in behind:
        mark = marks.get(device_id)
        if mark is not None and mark.through >= last_fix and mark.enqueued_at > now - retry:
            continue
        first = Position.objects.filter(device_id=device_id, valid=True)
        if checkpoint_time is not None:
            first = first.filter(fix_time__gt=checkpoint_time)
        first = first.order_by("fix_time").values_list("fix_time", "server_time").first()
        if first is None or first[1] > now - grace:
            continue  # the hand-off may still be on its way
        log.warning(
            "motion.catchup device=%s from=%s to=%s checkpoint=%s",
            unique_id,
            first[0].isoformat(),
            last_fix.isoformat(),
            checkpoint_time.isoformat() if checkpoint_time else "none",
        )
        try:
            process_positions.delay(device_id, first[0].isoformat(), last_fix.isoformat())
        except Exception as exc:  # noqa: BLE001 - a broker outage: the next run tries again
            log.error("motion.catchup_enqueue_failed device=%s reason=%s", unique_id, exc)
            continue
        # Marked only once enqueued, so a failed enqueue is retried on the next run.
        MotionCatchup.objects.update_or_create(
            device_id=device_id, defaults={"through": last_fix, "enqueued_at": now}
        )
        enqueued.append(device_id)
    return enqueued
