"""Writes for the reports: asking for a report, generating it, e-mailing the monthly ones.

A report is stored once per municipality, kind, period, scope and language
(:class:`ReportRun`). Asking again for one that exists returns it untouched; regenerating is an
explicit request. Generation is claimed with a conditional update (pending -> running), so a
task delivered twice generates once.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fleet.models import Department, Municipality, Vehicle
from reports import selectors
from reports.generators import fuel as fuel_gen
from reports.generators import maintenance as maintenance_gen
from reports.generators import movement as movement_gen
from reports.generators.document import ReportDocument
from reports.generators.fmt import Period
from reports.models import ReportKind, ReportRun, ReportStatus
from reports.pdf.render import render

log = logging.getLogger("kinisi.reports")

# A run still "running" after this long lost its worker: it may be regenerated.
STALE_AFTER = timedelta(minutes=30)
LANGUAGES = ("el", "en")


def report_scope(*, department: Department | None = None, vehicle: Vehicle | None = None) -> str:
    if vehicle is not None:
        return f"vehicle:{vehicle.pk}"
    if department is not None:
        return f"department:{department.pk}"
    return "all"


def _language(language: str | None) -> str:
    code = (language or settings.LANGUAGE_CODE or "el").split("-")[0].lower()
    return code if code in LANGUAGES else "el"


def _validate(
    *,
    municipality: Municipality,
    kind: str,
    period: Period,
    department: Department | None,
    vehicle: Vehicle | None,
    today: date,
) -> None:
    errors: dict[str, str] = {}
    if kind not in ReportKind.values:
        errors["kind"] = _("Unknown report.")
    if kind == ReportKind.MOVEMENT:
        if vehicle is None:
            errors["vehicle"] = _("A movement sheet is for one vehicle: choose it.")
    elif vehicle is not None:
        errors["vehicle"] = _("This report covers departments, not single vehicles.")
    elif period.is_day:
        errors["period"] = _("This report is monthly: give a month (YYYY-MM).")
    if vehicle is not None and vehicle.municipality_id != municipality.pk:
        errors["vehicle"] = _("The vehicle belongs to another municipality.")
    if department is not None and department.municipality_id != municipality.pk:
        errors["department"] = _("The department belongs to another municipality.")
    if period.start > today:
        errors["period"] = _("The period has not started yet.")
    if errors:
        raise ValidationError(errors)


def report_run_request(
    *,
    municipality: Municipality,
    kind: str,
    period: Period | str,
    department: Department | None = None,
    vehicle: Vehicle | None = None,
    language: str | None = None,
    user=None,
    regenerate: bool = False,
    enqueue: bool = True,
) -> tuple[ReportRun, bool]:
    """The stored report for these parameters, created if missing. Returns (run, queued):
    ``queued`` is True when a generation was scheduled (a new run, a regeneration, or a retry
    of a failed one); an existing report is never generated twice by accident."""
    if isinstance(period, str):
        try:
            period = Period.parse(period)
        except ValueError as exc:
            raise ValidationError({"period": str(exc)}) from None
    _validate(
        municipality=municipality,
        kind=kind,
        period=period,
        department=department,
        vehicle=vehicle,
        today=timezone.localdate(),
    )
    language = _language(language)
    scope = report_scope(department=department, vehicle=vehicle)
    with transaction.atomic():
        run, created = ReportRun.objects.get_or_create(
            municipality=municipality,
            kind=kind,
            period=period.key,
            scope=scope,
            language=language,
            defaults={
                "period_start": period.start,
                "period_end": period.end,
                "department": department,
                "vehicle": vehicle,
                "requested_by": user if getattr(user, "pk", None) else None,
            },
        )
        queued = created
        if not created:
            stale = (
                run.status == ReportStatus.RUNNING
                and run.started_at is not None
                and timezone.now() - run.started_at > STALE_AFTER
            )
            retry = run.status == ReportStatus.FAILED
            again = regenerate and run.status in (ReportStatus.DONE, ReportStatus.FAILED)
            if again or retry or stale:
                run.status = ReportStatus.PENDING
                run.progress = 0
                run.stage = ""
                run.error = ""
                run.requested_by = user if getattr(user, "pk", None) else run.requested_by
                run.save(update_fields=["status", "progress", "stage", "error", "requested_by"])
                queued = True
        if queued and enqueue:
            run_id = run.pk
            transaction.on_commit(lambda: _enqueue(run_id))
    log.info(
        "reports.run_requested run=%s kind=%s period=%s scope=%s created=%s queued=%s",
        run.pk,
        kind,
        period.key,
        scope,
        created,
        queued,
    )
    return run, queued


def _enqueue(run_id: int) -> None:
    from reports import tasks

    tasks.run_generate.delay(run_id)


def _progress_writer(run_id: int):
    last = {"percent": -100}

    def write(percent: int, stage: str) -> None:
        # A few writes per run are enough for a progress bar polled every second or two.
        if percent - last["percent"] < 5 and percent < 100:
            return
        last["percent"] = percent
        ReportRun.objects.filter(pk=run_id).update(progress=min(100, max(0, percent)), stage=stage)

    return write


def _assign_sheet_number(run: ReportRun) -> None:
    """A movement sheet's number in its vehicle's series for the year, taken once."""
    if run.sequence or run.kind != ReportKind.MOVEMENT:
        return
    year = run.period_start.year
    for _attempt in range(3):
        try:
            with transaction.atomic():
                # The same sheet in the other language carries the same number.
                twin = (
                    ReportRun.objects.filter(
                        municipality_id=run.municipality_id,
                        kind=run.kind,
                        period=run.period,
                        scope=run.scope,
                        sequence__isnull=False,
                    )
                    .exclude(pk=run.pk)
                    .values_list("sequence", flat=True)
                    .first()
                )
                if twin is None:
                    # The highest number of the year in any language: the series is shared.
                    top = (
                        ReportRun.objects.select_for_update()
                        .filter(
                            kind=ReportKind.MOVEMENT, vehicle_id=run.vehicle_id, sequence_year=year
                        )
                        .aggregate(top=Max("sequence"))["top"]
                    )
                    twin = (top or 0) + 1
                run.sequence, run.sequence_year = twin, year
                run.save(update_fields=["sequence", "sequence_year"])
                return
        except IntegrityError:
            # Another sheet of this vehicle took the number first: count again.
            run.sequence = None
    raise RuntimeError(f"could not number movement sheet run={run.pk}")


def pdf_labels() -> dict[str, str]:
    return {
        "page": _("Page %(page)s of %(pages)s"),
        "generated": _("Generated on %(when)s"),
        "period": _("Period"),
        "software": "Kinisi",
    }


def report_document(run: ReportRun, *, progress=selectors._no_progress) -> ReportDocument:
    """The report's content for a run (no PDF yet). Call inside the run's language."""
    period = Period(run.period_start, run.period_end)
    now = timezone.now()
    common = {
        "municipality": run.municipality,
        "period": period,
        "language": run.language,
        "generated_at": now,
        "progress": progress,
    }
    if run.kind == ReportKind.FUEL:
        data = selectors.fuel_report_input(department=run.department, **common)
        doc = fuel_gen.build(data, _)
    elif run.kind == ReportKind.MAINTENANCE:
        data = selectors.maintenance_report_input(department=run.department, **common)
        doc = maintenance_gen.build(data, _, now=now)
    elif run.kind == ReportKind.MOVEMENT:
        data = selectors.movement_sheet_input(
            vehicle=run.vehicle, reference=run.reference, **common
        )
        doc = movement_gen.build(data, _)
    else:
        raise ValueError(f"unknown report kind {run.kind!r}")
    return dataclasses.replace(doc, meta=dataclasses.replace(doc.meta, labels=pdf_labels()))


def report_run_generate(*, run_id: int) -> ReportRun | None:
    """Generate a pending run: its PDF and its figures. Does nothing for a run that is not
    pending (already generated, or being generated by another worker)."""
    claimed = ReportRun.objects.filter(pk=run_id, status=ReportStatus.PENDING).update(
        status=ReportStatus.RUNNING,
        started_at=timezone.now(),
        progress=2,
        stage="starting",
        error="",
    )
    if not claimed:
        log.info("reports.run_skipped run=%s reason=not_pending", run_id)
        return ReportRun.objects.filter(pk=run_id).first()
    run = ReportRun.objects.select_related("municipality", "department", "vehicle").get(pk=run_id)
    progress = _progress_writer(run.pk)
    started = timezone.now()
    try:
        _assign_sheet_number(run)
        with translation.override(run.language):
            doc = report_document(run, progress=progress)
            progress(75, "drawing")
            pdf = render(doc)
        old = run.file.name if run.file else ""
        run.file.save(run.filename(), ContentFile(pdf), save=False)
        if old and old != run.file.name:
            run.file.storage.delete(old)
        run.data = doc.as_json()
        run.status = ReportStatus.DONE
        run.progress = 100
        run.stage = "done"
        run.finished_at = timezone.now()
        run.generations += 1
        run.save(
            update_fields=[
                "file",
                "data",
                "status",
                "progress",
                "stage",
                "finished_at",
                "generations",
            ]
        )
        log.info(
            "reports.run_done run=%s kind=%s period=%s scope=%s bytes=%s seconds=%.1f",
            run.pk,
            run.kind,
            run.period,
            run.scope,
            len(pdf),
            (run.finished_at - started).total_seconds(),
        )
    except Exception as exc:
        log.exception("reports.run_failed run=%s kind=%s period=%s", run.pk, run.kind, run.period)
        run.status = ReportStatus.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
    return run


def report_pdf(
    *,
    municipality: Municipality,
    kind: str,
    period: Period,
    department: Department | None = None,
    vehicle: Vehicle | None = None,
    language: str | None = None,
) -> tuple[ReportRun, bytes]:
    """Generate (or regenerate) a stored report now, in this process, and return its PDF: the
    command line's path, which must not depend on a worker."""
    run, _queued = report_run_request(
        municipality=municipality,
        kind=kind,
        period=period,
        department=department,
        vehicle=vehicle,
        language=language,
        regenerate=True,
        enqueue=False,
    )
    run = report_run_generate(run_id=run.pk)
    if run is None or run.status != ReportStatus.DONE:
        raise RuntimeError(run.error if run else "the report disappeared")
    with run.file.open("rb") as fh:
        return run, fh.read()


# --- The monthly reports --------------------------------------------------------------------------

MONTHLY_KINDS = (ReportKind.FUEL, ReportKind.MAINTENANCE)


def monthly_reports_generate(*, municipality_id: int, month: str) -> list[ReportRun]:
    """The municipality-wide fuel and maintenance reports of ``month`` (YYYY-MM), generated now
    if they are not stored yet, then e-mailed once to the fleet managers."""
    municipality = Municipality.objects.get(pk=municipality_id)
    runs = []
    for kind in MONTHLY_KINDS:
        run, queued = report_run_request(
            municipality=municipality,
            kind=kind,
            period=month,
            language=settings.LANGUAGE_CODE,
            enqueue=False,
        )
        if queued or run.status == ReportStatus.PENDING:
            run = report_run_generate(run_id=run.pk) or run
        runs.append(run)
    if getattr(settings, "KINISI_REPORTS_EMAIL", True):
        monthly_reports_email(municipality=municipality, runs=runs)
    return runs


def monthly_reports_email(*, municipality: Municipality, runs: list[ReportRun]) -> int:
    """One e-mail with the PDFs not sent yet, to the municipality's fleet managers. Returns the
    number of reports attached."""
    pending = [r for r in runs if r.status == ReportStatus.DONE and r.emailed_at is None]
    recipients = selectors.fleet_manager_emails(municipality_id=municipality.pk)
    if not pending or not recipients:
        log.info(
            "reports.email_skipped municipality=%s reports=%s recipients=%s",
            municipality.pk,
            len(pending),
            len(recipients),
        )
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        period = Period(pending[0].period_start, pending[0].period_end).label(_)
        subject = _("Kinisi: monthly reports for %(period)s") % {"period": period}
        lines = [
            _("The monthly reports of %(municipality)s for %(period)s are attached:")
            % {"municipality": municipality.name, "period": period},
            "",
            *[f"- {r.get_kind_display()}" for r in pending],
            "",
            _("They can also be downloaded from the Reports page."),
        ]
    message = EmailMessage(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients)
    for run in pending:
        with run.file.open("rb") as fh:
            message.attach(run.filename(), fh.read(), "application/pdf")
    message.send()
    ReportRun.objects.filter(pk__in=[r.pk for r in pending]).update(emailed_at=timezone.now())
    log.info(
        "reports.emailed municipality=%s reports=%s recipients=%s",
        municipality.pk,
        len(pending),
        len(recipients),
    )
    return len(pending)


def previous_month_key(today: date | None = None) -> str:
    today = today or timezone.localdate()
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last:%Y-%m}"
