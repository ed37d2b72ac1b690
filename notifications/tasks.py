"""Celery entry points of the notifications app."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="notifications.notify_device", ignore_result=True)
def notify_device(device_id: int) -> None:
    """Notify about one device's recent events (enqueued after its motion was updated)."""
    from notifications.services import notify_device_events

    notify_device_events(device_id=int(device_id))
