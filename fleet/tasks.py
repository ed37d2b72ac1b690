"""Celery tasks of the fleet app: thin and idempotent, they take ids and ISO dates and call one
service each."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

log = logging.getLogger("kinisi.fleet.tasks")


@shared_task(name="fleet.fuel_import_execute")
def fuel_import_execute(run_id: int) -> str:
    from fleet.services.fuel import fuel_import_execute as execute

    return execute(run_id=run_id).status


@shared_task(name="fleet.fuel_entry_check")
def fuel_entry_check(entry_id: int) -> None:
    """The checks for the month of one new or edited entry (consumption is judged per month)."""
    from fleet.models import FuelEntry
    from fleet.services.fuel import fuel_anomalies_detect

    entry = (
        FuelEntry.objects.filter(pk=entry_id)
        .values("municipality_id", "vehicle_id", "filled_at")
        .first()
    )
    if entry is None:
        log.info("fuel.check_skipped entry=%s reason=deleted", entry_id)
        return
    day = timezone.localtime(entry["filled_at"]).date()
    fuel_anomalies_detect(
        municipality_id=entry["municipality_id"],
        start=day,
        end=day + timedelta(days=1),
        vehicle_ids=[entry["vehicle_id"]],
    )


@shared_task(name="fleet.fuel_anomalies_detect")
def fuel_anomalies_detect(
    municipality_id: int, start: str, end: str, vehicle_ids: list[int] | None = None
) -> dict:
    from fleet.services.fuel import fuel_anomalies_detect as detect

    return detect(
        municipality_id=municipality_id,
        start=date.fromisoformat(start),
        end=date.fromisoformat(end),
        vehicle_ids=vehicle_ids,
    )


@shared_task(name="fleet.fuel_anomalies_daily")
def fuel_anomalies_daily() -> None:
    """Yesterday's motion has been summarised by now: re-check the whole month yesterday belongs
    to (consumption is judged per month), for every municipality."""
    from fleet.models import Municipality

    yesterday = timezone.localdate() - timedelta(days=1)
    for municipality_id in Municipality.objects.values_list("pk", flat=True):
        fuel_anomalies_detect.delay(
            municipality_id, yesterday.isoformat(), (yesterday + timedelta(days=1)).isoformat()
        )


@shared_task(name="fleet.compliance_reminders")
def compliance_reminders() -> None:
    """Daily: new reminders for what falls due within the horizon, then one e-mail each."""
    from fleet.models import Municipality
    from fleet.services.maintenance import reminders_email, reminders_generate

    for municipality in Municipality.objects.all():
        reminders_generate(municipality=municipality)
        reminders_email(municipality=municipality)
