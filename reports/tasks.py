"""Celery tasks of the reports app: thin and idempotent, they take ids and periods (text) and
call one service each."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger("kinisi.reports.tasks")


@shared_task(name="reports.run_generate")
def run_generate(run_id: int) -> str:
    """Generate one pending report run (a run that is not pending is left alone)."""
    from reports.services import report_run_generate

    run = report_run_generate(run_id=run_id)
    return run.status if run is not None else "missing"


@shared_task(name="reports.monthly")
def monthly(month: str = "") -> None:
    """Beat, on the 1st of each month: the previous month's reports for every municipality,
    one task each so a failure in one town does not hold up the others."""
    from fleet.models import Municipality
    from reports.services import previous_month_key

    month = month or previous_month_key()
    for municipality_id in Municipality.objects.values_list("pk", flat=True):
        monthly_for_municipality.delay(municipality_id, month)
    log.info("reports.monthly_scheduled month=%s", month)


@shared_task(name="reports.monthly_for_municipality")
def monthly_for_municipality(municipality_id: int, month: str) -> list[int]:
    from reports.services import monthly_reports_generate

    return [
        run.pk for run in monthly_reports_generate(municipality_id=municipality_id, month=month)
    ]
