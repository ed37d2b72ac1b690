"""Everything that writes fuel data: entries, stations, cards, provider layouts, statement imports
and anomaly findings.

A statement import is never half done: rows are parsed and checked first (reading only), then
every good row goes in inside one transaction together with the run's counts and its per-row
error report. If anything fails while writing, nothing of that file is in the database.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fleet import anomalies as checks
from fleet import fuel_import
from fleet.models import (
    FuelAnomaly,
    FuelCard,
    FuelCardProvider,
    FuelEntry,
    FuelImportRun,
    FuelStation,
    Municipality,
    Vehicle,
)
from fleet.models.fuel import AnomalyStatus, FuelSource, ImportStatus

log = logging.getLogger("kinisi.fuel")

ENTRY_FIELDS = frozenset(
    {
        "vehicle",
        "driver",
        "filled_at",
        "litres",
        "unit_price",
        "amount",
        "station",
        "station_name",
        "odometer_km",
        "engine_hours",
        "full_tank",
        "source",
        "card",
        "notes",
    }
)
STATION_FIELDS = frozenset(
    {
        "name",
        "brand",
        "address",
        "latitude",
        "longitude",
        "is_municipal_tank",
        "capacity_l",
        "active",
    }
)
CARD_FIELDS = frozenset({"provider", "number", "vehicle", "active", "notes"})
PROVIDER_FIELDS = frozenset(
    {"name", "columns", "date_order", "decimal_separator", "encoding", "sheet"}
)
BULK_BATCH = 2000


def _assign(instance, fields: dict, allowed: frozenset[str]) -> list[str]:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("Unknown field.")))
    for name, value in fields.items():
        setattr(instance, name, value)
    return list(fields)


def _same_municipality(municipality_id: int, **related) -> None:
    errors = {
        name: ValidationError(_("Belongs to another municipality."), code="other_municipality")
        for name, obj in related.items()
        if obj is not None and obj.municipality_id != municipality_id
    }
    if errors:
        raise ValidationError(errors)


def _complete_price(entry: FuelEntry) -> None:
    """Fill in the amount from the price or the price from the amount when only one is given."""
    if entry.litres and entry.litres > 0:
        if entry.amount is None and entry.unit_price is not None:
            entry.amount = (entry.unit_price * entry.litres).quantize(Decimal("0.01"))
        elif entry.unit_price is None and entry.amount is not None:
            entry.unit_price = (entry.amount / entry.litres).quantize(Decimal("0.0001"))


def _check_entry(entry: FuelEntry) -> None:
    errors = {}
    if entry.source == FuelSource.TANK and (
        entry.station is None or not entry.station.is_municipal_tank
    ):
        errors["station"] = _("Choose the municipal tank the fuel came from.")
    if entry.filled_at and entry.filled_at > timezone.now() + timedelta(hours=1):
        errors["filled_at"] = _("The refuel cannot be in the future.")
    if errors:
        raise ValidationError(errors)


def vehicle_meters_advance(
    *, vehicle: Vehicle, odometer_km: Decimal | None = None, engine_hours: Decimal | None = None
) -> None:
    """Move the vehicle's recorded meters forward to a newer reading (never backwards: a lower
    reading is a fuel anomaly to review, not a new truth)."""
    changed = []
    if odometer_km is not None and (
        vehicle.odometer_km is None or odometer_km > vehicle.odometer_km
    ):
        vehicle.odometer_km = odometer_km
        changed.append("odometer_km")
    if engine_hours is not None and (
        vehicle.engine_hours is None or engine_hours > vehicle.engine_hours
    ):
        vehicle.engine_hours = engine_hours
        changed.append("engine_hours")
    if changed:
        vehicle.save(update_fields=[*changed, "updated_at"])


def _enqueue_check(entry: FuelEntry) -> None:
    from fleet import tasks

    entry_id = entry.pk
    transaction.on_commit(lambda: tasks.fuel_entry_check.delay(entry_id))


@transaction.atomic
def fuel_entry_record(*, municipality: Municipality, created_by=None, **fields) -> FuelEntry:
    """A refuel entered by a driver or the office, or dispensed from the municipal tank."""
    entry = FuelEntry(municipality=municipality, created_by=created_by)
    _assign(entry, fields, ENTRY_FIELDS)
    _same_municipality(
        municipality.pk,
        vehicle=fields.get("vehicle"),
        driver=fields.get("driver"),
        station=fields.get("station"),
        card=fields.get("card"),
    )
    if entry.station is not None and not entry.station_name:
        entry.station_name = entry.station.name
    if entry.card is not None:
        entry.card_number = entry.card.number
    _complete_price(entry)
    _check_entry(entry)
    entry.full_clean()
    entry.save()
    vehicle_meters_advance(
        vehicle=entry.vehicle, odometer_km=entry.odometer_km, engine_hours=entry.engine_hours
    )
    log.info(
        "fuel.entry_recorded entry=%s vehicle=%s litres=%s source=%s",
        entry.pk,
        entry.vehicle_id,
        entry.litres,
        entry.source,
    )
    _enqueue_check(entry)
    return entry


@transaction.atomic
def fuel_entry_update(*, entry: FuelEntry, **fields) -> FuelEntry:
    _same_municipality(
        entry.municipality_id,
        vehicle=fields.get("vehicle"),
        driver=fields.get("driver"),
        station=fields.get("station"),
        card=fields.get("card"),
    )
    changed = _assign(entry, fields, ENTRY_FIELDS)
    if "station" in fields and entry.station is not None and "station_name" not in fields:
        entry.station_name = entry.station.name
        changed.append("station_name")
    if ("amount" in fields) != ("unit_price" in fields) or "litres" in fields:
        if "amount" in fields and "unit_price" not in fields:
            entry.unit_price = None
        elif "unit_price" in fields and "amount" not in fields:
            entry.amount = None
        _complete_price(entry)
        changed += ["amount", "unit_price"]
    _check_entry(entry)
    entry.full_clean()
    entry.save(update_fields=sorted(set(changed)))
    vehicle_meters_advance(
        vehicle=entry.vehicle, odometer_km=entry.odometer_km, engine_hours=entry.engine_hours
    )
    _enqueue_check(entry)
    return entry


@transaction.atomic
def fuel_entry_delete(*, entry: FuelEntry) -> None:
    log.info("fuel.entry_deleted entry=%s vehicle=%s", entry.pk, entry.vehicle_id)
    entry.delete()


# --- Stations, cards, providers -------------------------------------------------------------------


@transaction.atomic
def fuel_station_create(*, municipality: Municipality, **fields) -> FuelStation:
    station = FuelStation(municipality=municipality)
    _assign(station, fields, STATION_FIELDS)
    station.full_clean()
    station.save()
    return station


@transaction.atomic
def fuel_station_update(*, station: FuelStation, **fields) -> FuelStation:
    changed = _assign(station, fields, STATION_FIELDS)
    station.full_clean()
    station.save(update_fields=changed)
    return station


def _clean_card_number(fields: dict) -> None:
    if "number" in fields:
        number = fuel_import.normalize_card(fields["number"])
        if not number:
            raise ValidationError({"number": _("Enter the card number.")})
        fields["number"] = number


@transaction.atomic
def fuel_card_create(*, municipality: Municipality, **fields) -> FuelCard:
    _clean_card_number(fields)
    _same_municipality(
        municipality.pk, vehicle=fields.get("vehicle"), provider=fields.get("provider")
    )
    card = FuelCard(municipality=municipality)
    _assign(card, fields, CARD_FIELDS)
    card.full_clean()
    card.save()
    return card


@transaction.atomic
def fuel_card_update(*, card: FuelCard, **fields) -> FuelCard:
    _clean_card_number(fields)
    _same_municipality(
        card.municipality_id, vehicle=fields.get("vehicle"), provider=fields.get("provider")
    )
    changed = _assign(card, fields, CARD_FIELDS)
    card.full_clean()
    card.save(update_fields=changed)
    return card


def _clean_columns(fields: dict) -> None:
    if "columns" not in fields:
        return
    columns = fields["columns"] or {}
    if not isinstance(columns, dict):
        raise ValidationError({"columns": _("The mapping must pair our fields with headers.")})
    unknown = sorted(set(columns) - set(fuel_import.FIELDS))
    if unknown:
        raise ValidationError(
            {"columns": _("Unknown fields: %(fields)s") % {"fields": ", ".join(unknown)}}
        )
    cleaned = {k: str(v).strip() for k, v in columns.items() if v is not None and str(v).strip()}
    missing = fuel_import.ColumnMapping(cleaned).missing_required() if cleaned else []
    if missing:
        raise ValidationError(
            {"columns": _("Map at least the date, the litres and one of plate, card or tracker.")}
        )
    headers = [fuel_import.normalize_header(v) for v in cleaned.values()]
    if len(headers) != len(set(headers)):
        raise ValidationError({"columns": _("One column is mapped to two fields.")})
    fields["columns"] = cleaned


@transaction.atomic
def fuel_provider_create(*, municipality: Municipality, **fields) -> FuelCardProvider:
    _clean_columns(fields)
    provider = FuelCardProvider(municipality=municipality)
    _assign(provider, fields, PROVIDER_FIELDS)
    provider.full_clean()
    provider.save()
    return provider


@transaction.atomic
def fuel_provider_update(*, provider: FuelCardProvider, **fields) -> FuelCardProvider:
    _clean_columns(fields)
    changed = _assign(provider, fields, PROVIDER_FIELDS)
    provider.full_clean()
    provider.save(update_fields=changed)
    return provider


# --- Statement imports ----------------------------------------------------------------------------


def import_options(
    provider: FuelCardProvider, municipality: Municipality
) -> fuel_import.ImportOptions:
    return fuel_import.ImportOptions(
        date_order=provider.date_order,
        decimal=provider.decimal_separator,
        encoding=provider.encoding or "auto",
        sheet=provider.sheet,
        timezone=municipality.timezone or settings.TIME_ZONE,
    )


@transaction.atomic
def fuel_import_upload(
    *, municipality: Municipality, provider: FuelCardProvider, upload: UploadedFile, user=None
) -> FuelImportRun:
    """Keep the uploaded statement with a new import run (nothing is imported yet)."""
    _same_municipality(municipality.pk, provider=provider)
    limit = getattr(settings, "KINISI_FUEL_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
    if upload.size > limit:
        raise ValidationError(
            {
                "file": _("The file is %(size)s MB; the limit is %(limit)s MB.")
                % {"size": round(upload.size / 1e6, 1), "limit": round(limit / 1e6, 1)}
            }
        )
    name = (upload.name or "statement").rsplit("/", 1)[-1][:200]
    if not name.lower().endswith((".csv", ".txt", ".xlsx", ".xlsm")):
        raise ValidationError({"file": _("Upload a CSV or XLSX file.")})
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    run = FuelImportRun(
        municipality=municipality,
        provider=provider,
        original_name=name,
        sha256=digest.hexdigest(),
        uploaded_by=user,
    )
    run.file.save(name, upload, save=False)
    run.save()
    log.info(
        "fuel.import_uploaded run=%s provider=%s size=%s sha256=%s",
        run.pk,
        provider.pk,
        upload.size,
        run.sha256[:12],
    )
    return run


def _row_error_dict(error: fuel_import.RowError) -> dict:
    return error.as_dict()


def _file_error(run: FuelImportRun, exc: fuel_import.ImportFileError) -> FuelImportRun:
    run.status = ImportStatus.FAILED
    run.error_code = exc.code
    run.error_message = str(exc)
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error_code", "error_message", "finished_at"])
    log.warning("fuel.import_failed run=%s code=%s reason=%s", run.pk, exc.code, exc)
    return run


def fuel_import_execute(*, run_id: int) -> FuelImportRun:
    """Import one uploaded statement. Idempotent: a run that is running or done is left alone."""
    from fleet.selectors import fuel as selectors

    claimed = FuelImportRun.objects.filter(
        pk=run_id, status__in=[ImportStatus.UPLOADED, ImportStatus.FAILED]
    ).update(
        status=ImportStatus.RUNNING, started_at=timezone.now(), error_code="", error_message=""
    )
    run = FuelImportRun.objects.select_related("provider", "municipality").get(pk=run_id)
    if not claimed:
        log.info("fuel.import_skipped run=%s status=%s", run_id, run.status)
        return run
    provider, municipality = run.provider, run.municipality
    options = import_options(provider, municipality)
    mapping = fuel_import.ColumnMapping(provider.columns or {})
    directory = selectors.vehicle_directory(municipality_id=municipality.pk)
    cards = selectors.card_ids(municipality_id=municipality.pk)
    stations = selectors.station_ids(municipality_id=municipality.pk)
    provider_key = str(provider.pk)

    # Phase 1, reading only: parse, match and de-duplicate every row.
    good: list[fuel_import.ParsedRow] = []
    errors: list[dict] = []
    seen: set[str] = set()
    duplicates = total = 0
    try:
        with (
            run.file.open("rb") as stream,
            fuel_import.open_table(stream, filename=run.original_name, options=options) as table,
        ):
            pending: list[fuel_import.ParsedRow] = []
            for result in fuel_import.parse_rows(
                table,
                mapping,
                options=options,
                directory=directory,
                now=timezone.now(),
                provider_key=provider_key,
            ):
                total += 1
                if isinstance(result, fuel_import.RowError):
                    errors.append(_row_error_dict(result))
                    continue
                if result.dedupe_key in seen:
                    duplicates += 1
                    continue
                seen.add(result.dedupe_key)
                pending.append(result)
                if len(pending) >= BULK_BATCH:
                    duplicates += _keep_new(municipality.pk, pending, good)
                    pending = []
            duplicates += _keep_new(municipality.pk, pending, good)
    except fuel_import.ImportFileError as exc:
        return _file_error(run, exc)
    except OSError as exc:
        return _file_error(run, fuel_import.ImportFileError("unreadable", str(exc)))

    # Phase 2: every good row and the run's report in one transaction.
    try:
        with transaction.atomic():
            created_at = timezone.now()
            for start in range(0, len(good), BULK_BATCH):
                _insert_batch(good[start : start + BULK_BATCH], run, cards, stations, created_at)
            _advance_meters_from_rows(good)
            run.status = ImportStatus.DONE
            run.rows_total = total
            run.rows_imported = len(good)
            run.rows_duplicate = duplicates
            run.rows_failed = len(errors)
            run.errors = errors
            run.finished_at = timezone.now()
            run.first_at = min((r.occurred_at for r in good), default=None)
            run.last_at = max((r.occurred_at for r in good), default=None)
            run.save(
                update_fields=[
                    "status",
                    "rows_total",
                    "rows_imported",
                    "rows_duplicate",
                    "rows_failed",
                    "errors",
                    "finished_at",
                    "first_at",
                    "last_at",
                ]
            )
            if good:
                vehicle_ids = sorted({r.vehicle_id for r in good})
                first_day = timezone.localtime(run.first_at).date()
                last_day = timezone.localtime(run.last_at).date()
                run_id_ = run.pk
                transaction.on_commit(
                    lambda: _enqueue_detection(
                        municipality.pk,
                        first_day,
                        last_day + timedelta(days=1),
                        vehicle_ids,
                        run_id_,
                    )
                )
    except DatabaseError as exc:
        # Another import of the same transactions committed in between (unique key), or the
        # database refused the batch: nothing of this file went in.
        log.exception("fuel.import_failed run=%s reason=database", run.pk)
        return _file_error(run, fuel_import.ImportFileError("database", f"nothing imported: {exc}"))
    log.info(
        "fuel.import_done run=%s rows=%s imported=%s duplicates=%s errors=%s",
        run.pk,
        total,
        len(good),
        duplicates,
        len(errors),
    )
    return run


def _keep_new(
    municipality_id: int, pending: list[fuel_import.ParsedRow], good: list[fuel_import.ParsedRow]
) -> int:
    """Move the rows whose transaction is not in the database yet into ``good``; count the rest."""
    if not pending:
        return 0
    existing = set(
        FuelEntry.objects.filter(
            municipality_id=municipality_id, dedupe_key__in=[r.dedupe_key for r in pending]
        ).values_list("dedupe_key", flat=True)
    )
    fresh = [r for r in pending if r.dedupe_key not in existing]
    good.extend(fresh)
    return len(pending) - len(fresh)


# Columns an imported entry fills, in the order of the INSERT below.
_IMPORT_COLUMNS = (
    "municipality",
    "vehicle",
    "filled_at",
    "litres",
    "unit_price",
    "amount",
    "station",
    "station_name",
    "odometer_km",
    "full_tank",
    "source",
    "card",
    "card_number",
    "transaction_id",
    "dedupe_key",
    "import_run",
    "import_line",
    "notes",
    "created_by",
    "created_at",
)


def _insert_batch(
    rows: list[fuel_import.ParsedRow],
    run: FuelImportRun,
    cards: dict,
    stations: dict,
    created_at,
) -> None:
    """Write one batch of imported rows with a single prepared INSERT.

    ``bulk_create`` builds a model instance per row and, on SQLite, splits batches at 999
    parameters (39 rows of this table): 50,000 rows took most of the import's time. One
    statement run with ``executemany`` is several times faster; values go through the backend's
    own adapters, as the ORM would send them. Run inside the import's transaction.
    """
    meta = FuelEntry._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _IMPORT_COLUMNS)
    marks = ", ".join(["%s"] * len(_IMPORT_COLUMNS))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    when = connection.ops.adapt_datetimefield_value
    number = connection.ops.adapt_decimalfield_value
    stamp = when(created_at)
    values = []
    for row in rows:
        station_id = (
            stations.get(fuel_import.normalize_header(row.station)) if row.station else None
        )
        values.append(
            (
                run.municipality_id,
                row.vehicle_id,
                when(row.occurred_at),
                number(row.litres),
                None if row.unit_price is None else number(row.unit_price),
                None if row.amount is None else number(row.amount),
                station_id,
                row.station,
                None if row.odometer is None else number(row.odometer.quantize(Decimal("0.1"))),
                False,
                FuelSource.CARD.value,
                cards.get(row.card_number) if row.card_number else None,
                row.card_number,
                row.transaction_id,
                row.dedupe_key,
                run.pk,
                row.line,
                row.driver,
                run.uploaded_by_id,
                stamp,
            )
        )
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def _advance_meters_from_rows(rows: Iterable[fuel_import.ParsedRow]) -> None:
    highest: dict[int, Decimal] = {}
    for row in rows:
        if row.odometer is not None and row.odometer > highest.get(row.vehicle_id, Decimal(-1)):
            highest[row.vehicle_id] = row.odometer
    for vehicle in Vehicle.objects.filter(pk__in=highest):
        vehicle_meters_advance(vehicle=vehicle, odometer_km=highest[vehicle.pk])


def _enqueue_detection(
    municipality_id: int, start: date, end: date, vehicle_ids: list[int], run_id: int
) -> None:
    from fleet import tasks

    log.info("fuel.detection_enqueued run=%s vehicles=%s", run_id, len(vehicle_ids))
    tasks.fuel_anomalies_detect.delay(
        municipality_id, start.isoformat(), end.isoformat(), vehicle_ids
    )


# --- Anomalies ------------------------------------------------------------------------------------


@transaction.atomic
def fuel_anomaly_resolve(
    *, anomaly: FuelAnomaly, status: str, note: str = "", user=None
) -> FuelAnomaly:
    """Mark a finding justified (with the reason) or confirmed, or reopen it."""
    if status not in AnomalyStatus.values:
        raise ValidationError({"status": _("Choose open, justified or confirmed.")})
    note = (note or "").strip()
    if status == AnomalyStatus.JUSTIFIED and not note:
        raise ValidationError({"note": _("Say why the finding is justified.")})
    anomaly.status = status
    anomaly.note = note
    if status == AnomalyStatus.OPEN:
        anomaly.resolved_by, anomaly.resolved_at = None, None
    else:
        anomaly.resolved_by, anomaly.resolved_at = user, timezone.now()
    anomaly.save(update_fields=["status", "note", "resolved_by", "resolved_at"])
    log.info(
        "fuel.anomaly_resolved anomaly=%s status=%s user=%s",
        anomaly.pk,
        status,
        getattr(user, "pk", None),
    )
    return anomaly


def fuel_anomalies_detect(
    *,
    municipality_id: int,
    start: date,
    end: date,
    vehicle_ids: Iterable[int] | None = None,
    config: checks.AnomalyConfig | None = None,
) -> dict[str, int]:
    """Run every check over refuels on local days [start, end) and store the findings.

    Findings are keyed, so re-running adds nothing twice; an open finding that no longer holds
    (the entry was corrected) is removed, and a resolved one is never touched.
    """
    from fleet.selectors import fuel as selectors

    config = config or selectors.anomaly_config()
    inputs = selectors.detection_inputs(
        municipality_id=municipality_id, start=start, end=end, vehicle_ids=vehicle_ids
    )
    findings: list[checks.Finding] = []
    for item in inputs:
        findings.extend(
            checks.check_vehicle(
                item.profile,
                item.refuels,
                item.motion,
                period=item.period,
                previous=item.previous,
                history=item.history,
                period_key=item.period_key,
                config=config,
            )
        )
    scope_vehicles = [item.profile.vehicle_id for item in inputs]
    return _store_findings(municipality_id, findings, scope_vehicles, inputs)


@transaction.atomic
def _store_findings(municipality_id: int, findings, vehicle_ids, inputs) -> dict[str, int]:
    keys = sorted({f.key for f in findings})
    existing = {}
    for start in range(0, len(keys), 500):  # bounded IN lists, whatever the backend's limit
        for anomaly in FuelAnomaly.objects.filter(
            municipality_id=municipality_id,
            vehicle_id__in=vehicle_ids,
            key__in=keys[start : start + 500],
        ):
            existing[(anomaly.vehicle_id, anomaly.key)] = anomaly
    created = updated = 0
    fresh = []
    for finding in findings:
        current = existing.get((finding.vehicle_id, finding.key))
        if current is None:
            fresh.append(
                FuelAnomaly(
                    municipality_id=municipality_id,
                    vehicle_id=finding.vehicle_id,
                    fuel_entry_id=finding.refuel_id,
                    kind=str(finding.kind),
                    key=finding.key,
                    occurred_at=finding.occurred_at,
                    facts=finding.facts,
                )
            )
        elif current.status == AnomalyStatus.OPEN and current.facts != finding.facts:
            current.facts = finding.facts
            current.save(update_fields=["facts"])
            updated += 1
    FuelAnomaly.objects.bulk_create(fresh, batch_size=BULK_BATCH)
    created = len(fresh)
    # Open findings in the checked scope that no longer hold.
    found = {(f.vehicle_id, f.key) for f in findings}
    stale_ids = []
    for item in inputs:
        candidates = FuelAnomaly.objects.filter(
            vehicle_id=item.profile.vehicle_id,
            status=AnomalyStatus.OPEN,
            occurred_at__gte=item.period_start,
            occurred_at__lte=item.period_end,
        ).values_list("pk", "key")
        stale_ids += [pk for pk, key in candidates if (item.profile.vehicle_id, key) not in found]
    removed = 0
    if stale_ids:
        removed, _detail = FuelAnomaly.objects.filter(pk__in=stale_ids).delete()
    log.info(
        "fuel.anomalies_detected municipality=%s vehicles=%s created=%s updated=%s removed=%s",
        municipality_id,
        len(vehicle_ids),
        created,
        updated,
        removed,
    )
    return {"created": created, "updated": updated, "removed": removed}
