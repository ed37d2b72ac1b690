"""Celery entry points for dispatch: thin, idempotent, ids and dates only."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from dispatch import services


@shared_task(name="dispatch.plan_compute")
def plan_compute_task(plan_id: int) -> str:
    # Idempotent: only a plan still pending is computed.
    return services.plan_compute(plan_id=plan_id).status


@shared_task(name="dispatch.recurrences_generate")
def recurrences_generate_task(days_ahead: int = 7, today: str | None = None) -> int:
    return services.recurrences_generate_all(
        days_ahead=days_ahead, today=date.fromisoformat(today) if today else None
    )


@shared_task(name="dispatch.arrivals_track", ignore_result=True)
def arrivals_track_task(municipality_id: int | None = None) -> int:
    # Idempotent: each run compares live positions with the jobs' current status.
    return services.arrivals_track(municipality_id=municipality_id)
