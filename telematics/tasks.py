"""Celery entry points of the telematics app. Thin: parse ids and dates, call one function."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger("telematics.tasks")


@shared_task(name="telematics.process_positions", ignore_result=True)
def process_positions(device_id: int, start: str, end: str) -> None:
    """Motion processing of one device's positions stored between ``start`` and ``end``
    (ISO 8601, inclusive), enqueued by the gateway per device. Idempotent and order-free: the
    motion pipeline rebuilds from its last checkpoint before ``start``."""
    from datetime import datetime

    from telematics.motion_services import motion_process_device

    try:
        earliest = datetime.fromisoformat(start)
    except (TypeError, ValueError):
        log.warning("telematics.process_positions_bad_start device=%s start=%r", device_id, start)
        earliest = None
    motion_process_device(device_id=device_id, earliest=earliest)


@shared_task(name="telematics.process_position_ranges", ignore_result=True)
def process_position_ranges(ranges: list) -> None:
    """The gateway's hand-off of one interval: ``[[device_id, start, end], ...]`` in device
    order, processed one device after the other. A device that fails is logged and left to the
    catch-up (``motion_catchup``); the others go on."""
    for item in ranges:
        try:
            device_id, start, end = item
            process_positions(int(device_id), start, end)
        except Exception:  # noqa: BLE001 - one device's failure must not hold up the rest
            log.exception("telematics.process_position_ranges_failed item=%r", item)


@shared_task(name="telematics.motion_rebuild", ignore_result=True)
def motion_rebuild(device_id: int, since: str | None = None) -> None:
    """Recompute a device's trips, stops, events and summaries from ``since`` (ISO 8601) or
    from its first position (after changing detector settings, geofences or calendars)."""
    from datetime import datetime

    from telematics.motion_services import motion_process_device

    motion_process_device(
        device_id=device_id, earliest=datetime.fromisoformat(since) if since else None
    )


@shared_task(name="telematics.position_partitions_ensure", ignore_result=True)
def position_partitions_ensure() -> None:
    """Create next months' partitions of the positions table ahead of time (PostgreSQL)."""
    from telematics.services import position_partitions_ensure as ensure

    ensure()


@shared_task(name="telematics.trackers_offline", ignore_result=True)
def trackers_offline() -> None:
    """Every minute: the "tracker offline" event of trackers silent beyond their threshold."""
    from telematics.motion_watch import trackers_offline_detect

    trackers_offline_detect()


@shared_task(name="telematics.motion_catchup", ignore_result=True)
def motion_catchup() -> None:
    """Every few minutes: process stored positions whose hand-off to the workers was lost."""
    from telematics.motion_watch import motion_catchup as catchup

    catchup()
