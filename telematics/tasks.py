"""Celery entry points of the telematics app. Thin: parse ids and dates, call one function."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger("telematics.tasks")


@shared_task(name="telematics.process_positions", ignore_result=True)
def process_positions(device_id: int, start: str, end: str) -> None:
    """Motion processing of one device's positions stored between ``start`` and ``end``
    (ISO 8601, inclusive), enqueued by the gateway per device in time order.

    AWAITING THE MOTION ISSUE: the body (trips, stops, events, odometer, geofences) is written by
    the motion work; until then this only records that the range arrived. Not done.
    """
    log.info(
        "telematics.process_positions_pending device=%s start=%s end=%s", device_id, start, end
    )


@shared_task(name="telematics.position_partitions_ensure", ignore_result=True)
def position_partitions_ensure() -> None:
    """Create next months' partitions of the positions table ahead of time (PostgreSQL)."""
    from telematics.services import position_partitions_ensure as ensure

    ensure()
