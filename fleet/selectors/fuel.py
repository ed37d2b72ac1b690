"""Reads for fuel: entry lists, consumption per vehicle and period, the inputs of the anomaly
checks (refuels plus what the trackers saw), and import previews.

Motion data comes from the telematics app. Positions and device assignments exist; trips, daily
summaries and stored motion events are looked up by name and used when they exist (see
``_telematics_model``), so fuel checks get better as the motion pipeline lands, without a change
here. With none of them, positions (and the device's own odometer or hour meter on them) are
used, and meter readings on the refuels stand in for vehicles without a tracker.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from fleet import anomalies as checks
from fleet import fuel_import
from fleet.models import (
    FuelAnomaly,
    FuelCard,
    FuelEntry,
    FuelImportRun,
    FuelStation,
    Municipality,
    Vehicle,
)
from fleet.models.fuel import AnomalyStatus
from fleet.plates import InvalidPlate, normalize_plate

log = logging.getLogger("kinisi.fuel")

HISTORY_MONTHS = 6
METER_LOOKUP = timedelta(minutes=30)


def anomaly_config() -> checks.AnomalyConfig:
    """Thresholds, overridable per installation with ``KINISI_FUEL_ANOMALY = {"max_distance_m":
    800, ...}`` in the settings."""
    overrides = getattr(settings, "KINISI_FUEL_ANOMALY", {}) or {}
    return checks.AnomalyConfig(**overrides)


# --- Lists ----------------------------------------------------------------------------------------


def fuel_entry_list(
    *,
    municipality_id: int | None,
    vehicle_id: int | None = None,
    source: str = "",
    start: date | None = None,
    end: date | None = None,
    import_run_id: int | None = None,
) -> QuerySet:
    qs = FuelEntry.objects.select_related("vehicle", "driver", "station").annotate(
        open_anomalies=Count("anomalies", filter=Q(anomalies__status=AnomalyStatus.OPEN))
    )
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    if vehicle_id:
        qs = qs.filter(vehicle_id=vehicle_id)
    if source:
        qs = qs.filter(source=source)
    if import_run_id:
        qs = qs.filter(import_run_id=import_run_id)
    if start:
        qs = qs.filter(filled_at__gte=_local_midnight(start))
    if end:
        qs = qs.filter(filled_at__lt=_local_midnight(end + timedelta(days=1)))
    return qs.order_by("-filled_at", "-pk")


def fuel_anomaly_list(
    *,
    municipality_id: int | None,
    status: str = "",
    kind: str = "",
    vehicle_id: int | None = None,
) -> QuerySet:
    qs = FuelAnomaly.objects.select_related("vehicle", "fuel_entry", "resolved_by")
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if vehicle_id:
        qs = qs.filter(vehicle_id=vehicle_id)
    return qs.order_by("-occurred_at", "-pk")


def _local_midnight(day: date, tz: str | None = None) -> datetime:
    zone = ZoneInfo(tz or settings.TIME_ZONE)
    return datetime.combine(day, time(0), zone)


# --- Matching statement rows ----------------------------------------------------------------------


def vehicle_directory(*, municipality_id: int) -> fuel_import.VehicleDirectory:
    directory = fuel_import.VehicleDirectory()
    for pk, plate, me_plate in Vehicle.objects.filter(municipality_id=municipality_id).values_list(
        "pk", "plate", "machinery_plate"
    ):
        for text in (plate, me_plate):
            if text:
                try:
                    directory.by_plate[normalize_plate(text)] = pk
                except InvalidPlate:
                    directory.by_plate[text] = pk
    for number, vehicle_id in FuelCard.objects.filter(
        municipality_id=municipality_id, active=True, vehicle__isnull=False
    ).values_list("number", "vehicle_id"):
        directory.by_card[fuel_import.normalize_card(number)] = vehicle_id
    assignment = _telematics_model("DeviceAssignment", {"device", "vehicle", "valid_from"})
    if assignment is not None:
        rows = assignment.objects.filter(municipality_id=municipality_id).values_list(
            "device__unique_id", "valid_from", "valid_to", "vehicle_id"
        )
        for unique_id, valid_from, valid_to, vehicle_id in rows:
            directory.by_tracker.setdefault(unique_id, []).append(
                (valid_from, valid_to, vehicle_id)
            )
    return directory


def card_ids(*, municipality_id: int) -> dict[str, int]:
    return dict(
        FuelCard.objects.filter(municipality_id=municipality_id).values_list("number", "pk")
    )


def station_ids(*, municipality_id: int) -> dict[str, int]:
    return {
        fuel_import.normalize_header(name): pk
        for name, pk in FuelStation.objects.filter(municipality_id=municipality_id).values_list(
            "name", "pk"
        )
    }


@dataclass(frozen=True)
class ImportPreview:
    headers: list[str]
    rows: list[fuel_import.ParsedRow | fuel_import.RowError]
    error_code: str = ""
    error_message: str = ""
    mapping_fits: bool = False
    vehicles: dict[int, str] = field(default_factory=dict)


def fuel_import_headers(*, run: FuelImportRun) -> tuple[list[str], str]:
    """The file's header row (for the mapping form), or an error message."""
    from fleet.services.fuel import import_options

    options = import_options(run.provider, run.municipality)
    try:
        with run.file.open("rb") as stream:
            return fuel_import.read_headers(stream, filename=run.original_name, options=options), ""
    except fuel_import.ImportFileError as exc:
        return [], str(exc)


def fuel_import_preview(*, run: FuelImportRun, limit: int = 30) -> ImportPreview:
    """The first rows as they would be imported, with their errors; writes nothing."""
    from fleet.services.fuel import import_options

    options = import_options(run.provider, run.municipality)
    headers, problem = fuel_import_headers(run=run)
    if problem:
        return ImportPreview(headers=[], rows=[], error_code="unreadable", error_message=problem)
    mapping = fuel_import.ColumnMapping(run.provider.columns or {})
    if mapping.missing_required():
        return ImportPreview(headers=headers, rows=[], error_code="mapping_incomplete")
    rows: list = []
    try:
        with (
            run.file.open("rb") as stream,
            fuel_import.open_table(stream, filename=run.original_name, options=options) as table,
        ):
            for result in fuel_import.parse_rows(
                table,
                mapping,
                options=options,
                directory=vehicle_directory(municipality_id=run.municipality_id),
                now=timezone.now(),
                provider_key=str(run.provider_id),
            ):
                rows.append(result)
                if len(rows) >= limit:
                    break
    except fuel_import.ImportFileError as exc:
        return ImportPreview(
            headers=headers, rows=rows, error_code=exc.code, error_message=str(exc)
        )
    ids = {r.vehicle_id for r in rows if isinstance(r, fuel_import.ParsedRow)}
    vehicles = {v.pk: v.display_plate for v in Vehicle.objects.filter(pk__in=ids)}
    return ImportPreview(headers=headers, rows=rows, mapping_fits=True, vehicles=vehicles)


# --- Motion from the database ---------------------------------------------------------------------


def _telematics_model(name: str, needed: set[str]):
    """A telematics model if it exists with the fields we read; None otherwise."""
    try:
        model = apps.get_model("telematics", name)
    except LookupError:
        return None
    names = {f.name for f in model._meta.get_fields()}
    return model if needed <= names else None


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def moved_m(stops: list[tuple[float, float, list]], t0: float, t1: float, tz: str) -> float:
    """Metres of the moves too short to be trips (across the yard, to the next bay) that the
    stops ``(start, end, [[local day, metres], ...])`` kept, inside ``[t0, t1)``. When in its
    day a move was made is not kept: each day's metres count by the share of the stop's time
    that day inside the window."""
    zone = ZoneInfo(tz)
    total = 0.0
    for start, end, moved in stops:
        for day_iso, metres in moved:
            day = date.fromisoformat(day_iso)
            midnight = datetime.combine(day, time(0), zone).timestamp()
            next_midnight = datetime.combine(day + timedelta(days=1), time(0), zone).timestamp()
            lo, hi = max(start, midnight), min(end, next_midnight)
            if hi <= lo:
                share = 1.0 if t0 <= lo < t1 else 0.0
            else:
                share = max(0.0, min(hi, t1) - max(lo, t0)) / (hi - lo)
            total += float(metres) * share
    return total


class DbMotion:
    """:class:`fleet.anomalies.Motion` over one vehicle's rows in the database.

    Every query is bounded by time and uses the (vehicle, fix_time) index: positions are the big
    table and are never scanned for a whole month.
    """

    def __init__(self, vehicle_id: int, tz: str) -> None:
        self.vehicle_id = vehicle_id
        self.zone = ZoneInfo(tz)
        self._meter_cache: dict[tuple[str, float], float | None] = {}
        self.position = _telematics_model(
            "Position", {"vehicle", "fix_time", "latitude", "longitude", "speed_kmh"}
        )
        self.trip = _telematics_model("Trip", {"vehicle", "start_time", "end_time", "distance_m"})
        self.stop = _telematics_model("Stop", {"vehicle", "start_time", "end_time", "moved"})
        self.daily = _telematics_model(
            "DailySummary", {"vehicle", "day", "distance_m", "engine_hours"}
        )
        self.event = _telematics_model(
            "MotionEvent", {"vehicle", "type", "time", "latitude", "longitude"}
        )

    def fixes_near(self, t: float, window_s: float) -> list[checks.Fix]:
        if self.position is None:
            return []
        rows = (
            self.position.objects.filter(
                vehicle_id=self.vehicle_id,
                fix_time__gte=_dt(t - window_s),
                fix_time__lte=_dt(t + window_s),
                valid=True,
            )
            .order_by("fix_time")
            .values_list("fix_time", "latitude", "longitude", "speed_kmh")
        )
        return [checks.Fix(_ts(ft), lat, lon, speed) for ft, lat, lon, speed in rows]

    def _midnight(self, t: float) -> date | None:
        local = datetime.fromtimestamp(t, self.zone)
        return local.date() if local.time() == time(0) else None

    def _daily(self, t0: float, t1: float, field_name: str) -> float | None:
        if self.daily is None:
            return None
        d0, d1 = self._midnight(t0), self._midnight(t1)
        if d0 is None or d1 is None:
            return None
        rows = self.daily.objects.filter(vehicle_id=self.vehicle_id, day__gte=d0, day__lt=d1)
        found = rows.aggregate(total=Sum(field_name), days=Count("pk"))
        if not found["days"]:
            return None
        total = float(found["total"] or 0)
        return total / 1000.0 if field_name == "distance_m" else total

    def _trips(self, t0: float, t1: float) -> float | None:
        if self.trip is None:
            return None
        rows = self.trip.objects.filter(
            vehicle_id=self.vehicle_id, start_time__lt=_dt(t1), end_time__gt=_dt(t0)
        ).values_list("start_time", "end_time", "distance_m")
        total, any_trip = 0.0, False
        for start, end, metres in rows:
            any_trip = True
            s, e = _ts(start), _ts(end)
            # A trip cut by the interval counts in proportion to the time inside it.
            share = 1.0 if e <= s else max(0.0, min(e, t1) - max(s, t0)) / (e - s)
            total += (metres or 0.0) * share
        return total / 1000.0 if any_trip else None

    def _moved(self, t0: float, t1: float) -> float:
        """Kilometres of the short moves the stops overlapping the window kept."""
        if self.stop is None:
            return 0.0
        rows = self.stop.objects.filter(
            vehicle_id=self.vehicle_id, start_time__lt=_dt(t1), end_time__gt=_dt(t0)
        ).values_list("start_time", "end_time", "moved")
        stops = [(_ts(start), _ts(end), moved) for start, end, moved in rows if moved]
        return moved_m(stops, t0, t1, self.zone.key) / 1000.0

    def _driven(self, t0: float, t1: float) -> float | None:
        """Kilometres of the trips in the window and of the short moves its stops kept (as the
        daily summaries count them); None when there is neither."""
        trips = self._trips(t0, t1)
        moved = self._moved(t0, t1)
        if trips is None and not moved:
            return None
        return (trips or 0.0) + moved

    def _meter_at(self, field_name: str, t: float) -> float | None:
        key = (field_name, t)
        if key in self._meter_cache:
            return self._meter_cache[key]
        value = None
        if self.position is not None:
            base = self.position.objects.filter(
                vehicle_id=self.vehicle_id, **{f"{field_name}__isnull": False}
            )
            before = (
                base.filter(fix_time__lte=_dt(t), fix_time__gte=_dt(t) - METER_LOOKUP)
                .order_by("-fix_time")
                .values_list(field_name, flat=True)
                .first()
            )
            value = before
            if value is None:
                value = (
                    base.filter(fix_time__gt=_dt(t), fix_time__lte=_dt(t) + METER_LOOKUP)
                    .order_by("fix_time")
                    .values_list(field_name, flat=True)
                    .first()
                )
        self._meter_cache[key] = value
        return value

    def _meters(self, field_name: str, t0: float, t1: float) -> float | None:
        a, b = self._meter_at(field_name, t0), self._meter_at(field_name, t1)
        if a is None or b is None or b < a:
            return None
        return b - a

    def distance_km(self, t0: float, t1: float) -> float | None:
        found = self._daily(t0, t1, "distance_m")
        if found is None:
            found = self._driven(t0, t1)
        if found is None:
            metres = self._meters("odometer", t0, t1)
            found = None if metres is None else metres / 1000.0
        return found

    def engine_hours(self, t0: float, t1: float) -> float | None:
        found = self._daily(t0, t1, "engine_hours")
        if found is None:
            found = self._meters("engine_hours", t0, t1)
        return found

    def fuel_drops(self, t0: float, t1: float) -> list[checks.FuelDrop]:
        if self.event is None:
            return []
        facts_field = next(
            (
                f.name
                for f in self.event._meta.get_fields()
                if f.name in ("facts", "attributes", "details")
            ),
            None,
        )
        if facts_field is None:
            return []
        rows = self.event.objects.filter(
            vehicle_id=self.vehicle_id, type="fuel_drop", time__gte=_dt(t0), time__lt=_dt(t1)
        ).values_list("time", "latitude", "longitude", facts_field)
        drops = []
        for when, lat, lon, facts in rows:
            facts = facts or {}
            if "before" in facts and "after" in facts:
                drops.append(
                    checks.FuelDrop(
                        _ts(when), lat, lon, float(facts["before"]), float(facts["after"])
                    )
                )
        return drops


# --- Inputs of the anomaly checks -----------------------------------------------------------------


@dataclass
class DetectionInput:
    profile: checks.VehicleProfile
    refuels: list[checks.Refuel]
    previous: checks.Refuel | None
    motion: checks.Motion | None
    period: tuple[float, float]
    period_key: str
    period_start: datetime
    period_end: datetime
    history: list[float] = field(default_factory=list)


def _months(start: date, end: date) -> list[date]:
    """First days of the calendar months that [start, end) touches."""
    first = start.replace(day=1)
    months = []
    while first < end:
        months.append(first)
        first = (first + timedelta(days=32)).replace(day=1)
    return months


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _refuel(entry: dict) -> checks.Refuel:
    return checks.Refuel(
        id=entry["pk"],
        time=entry["filled_at"],
        litres=float(entry["litres"]),
        full_tank=entry["full_tank"],
        odometer_km=_f(entry["odometer_km"]),
        engine_hours=_f(entry["engine_hours"]),
        station_lat=entry["station__latitude"],
        station_lon=entry["station__longitude"],
        station=entry["station_name"] or "",
    )


_REFUEL_FIELDS = (
    "pk",
    "vehicle_id",
    "filled_at",
    "litres",
    "full_tank",
    "odometer_km",
    "engine_hours",
    "station__latitude",
    "station__longitude",
    "station_name",
)


def _profile(vehicle: Vehicle) -> checks.VehicleProfile:
    return checks.VehicleProfile(
        vehicle_id=vehicle.pk,
        tank_capacity_l=_f(vehicle.tank_capacity_l),
        norm=_f(vehicle.consumption_norm),
        uses_hours=vehicle.uses_hours,
    )


def detection_inputs(
    *,
    municipality_id: int,
    start: date,
    end: date,
    vehicle_ids: Iterable[int] | None = None,
) -> list[DetectionInput]:
    """One input per vehicle and calendar month touched by the local days [start, end).

    Whole months are checked, so consumption is always judged per month (stable keys).
    """
    municipality = Municipality.objects.get(pk=municipality_id)
    tz = municipality.timezone or settings.TIME_ZONE
    months = _months(start, end)
    if not months:
        return []
    last_day = _next_month(months[-1])
    history_start = months[0]
    for _ in range(HISTORY_MONTHS):
        history_start = (history_start - timedelta(days=1)).replace(day=1)
    vehicles = Vehicle.objects.filter(municipality_id=municipality_id)
    if vehicle_ids is not None:
        vehicles = vehicles.filter(pk__in=list(vehicle_ids))
    entries = (
        FuelEntry.objects.filter(
            municipality_id=municipality_id,
            filled_at__gte=_local_midnight(history_start, tz),
            filled_at__lt=_local_midnight(last_day, tz),
        )
        .filter(vehicle__in=vehicles)
        .order_by("filled_at", "pk")
        .values(*_REFUEL_FIELDS)
    )
    by_vehicle: dict[int, list[checks.Refuel]] = defaultdict(list)
    for entry in entries:
        by_vehicle[entry["vehicle_id"]].append(_refuel(entry))
    inputs: list[DetectionInput] = []
    # Every vehicle, not only those that refuelled: fuel can vanish from a parked one.
    for vehicle in vehicles:
        refuels = by_vehicle.get(vehicle.pk, [])
        profile = _profile(vehicle)
        motion = DbMotion(vehicle.pk, tz)
        history_cache: dict[date, float | None] = {}
        for month in months:
            m0, m1 = _local_midnight(month, tz), _local_midnight(_next_month(month), tz)
            inside = [r for r in refuels if m0 <= r.time < m1]
            before = [r for r in refuels if r.time < m0]
            history = []
            past = month
            for _ in range(HISTORY_MONTHS if inside else 0):
                past = (past - timedelta(days=1)).replace(day=1)
                if past not in history_cache:
                    history_cache[past] = _month_consumption(refuels, past, profile, motion, tz)
                if history_cache[past] is not None:
                    history.append(history_cache[past])
            inputs.append(
                DetectionInput(
                    profile=profile,
                    refuels=inside,
                    previous=before[-1] if before else None,
                    motion=motion,
                    period=(m0.timestamp(), m1.timestamp()),
                    period_key=f"{month:%Y-%m}",
                    period_start=m0,
                    period_end=m1,
                    history=history,
                )
            )
    return inputs


def _month_consumption(
    refuels: list[checks.Refuel], month: date, profile, motion, tz: str
) -> float | None:
    m0, m1 = _local_midnight(month, tz), _local_midnight(_next_month(month), tz)
    inside = [r for r in refuels if m0 <= r.time < m1]
    if not inside:
        return None
    found = checks.consumption(
        inside,
        uses_hours=profile.uses_hours,
        motion=motion,
        period=(m0.timestamp(), m1.timestamp()),
    )
    return found.value if found else None


# --- Consumption report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumptionRow:
    vehicle: Vehicle
    litres: Decimal
    amount: Decimal
    refuels: int
    result: checks.Consumption | None
    norm: float | None
    off_norm_pct: float | None
    history_median: float | None
    off_history_pct: float | None


def consumption_report(
    *, municipality_id: int, start: date, end: date, vehicle_id: int | None = None
) -> list[ConsumptionRow]:
    """Per vehicle over local days [start, end]: litres, cost, consumption, norm and history."""
    municipality = Municipality.objects.get(pk=municipality_id)
    tz = municipality.timezone or settings.TIME_ZONE
    t0 = _local_midnight(start, tz)
    t1 = _local_midnight(end + timedelta(days=1), tz)
    history_from = _local_midnight(
        (start.replace(day=1) - timedelta(days=HISTORY_MONTHS * 31)).replace(day=1), tz
    )
    entries = FuelEntry.objects.filter(
        municipality_id=municipality_id, filled_at__gte=history_from, filled_at__lt=t1
    )
    if vehicle_id:
        entries = entries.filter(vehicle_id=vehicle_id)
    totals = {
        row["vehicle_id"]: row
        for row in entries.filter(filled_at__gte=t0)
        .values("vehicle_id")
        .annotate(litres=Sum("litres"), amount=Sum("amount"), n=Count("pk"))
    }
    by_vehicle: dict[int, list[checks.Refuel]] = defaultdict(list)
    for entry in entries.order_by("filled_at", "pk").values(*_REFUEL_FIELDS):
        by_vehicle[entry["vehicle_id"]].append(_refuel(entry))
    rows = []
    vehicles = Vehicle.objects.filter(pk__in=list(totals)).order_by("plate", "machinery_plate")
    for vehicle in vehicles:
        profile = _profile(vehicle)
        motion = DbMotion(vehicle.pk, tz)
        refuels = by_vehicle[vehicle.pk]
        inside = [r for r in refuels if t0 <= r.time < t1]
        result = checks.consumption(
            inside,
            uses_hours=profile.uses_hours,
            motion=motion,
            period=(t0.timestamp(), t1.timestamp()),
        )
        history = [
            value
            for value in (
                _month_consumption(refuels, month, profile, motion, tz)
                for month in _months(history_from.date(), start.replace(day=1))
            )
            if value is not None
        ]
        median = statistics.median(history) if history else None
        norm = profile.norm
        value = result.value if result else None
        rows.append(
            ConsumptionRow(
                vehicle=vehicle,
                litres=totals[vehicle.pk]["litres"] or Decimal(0),
                amount=totals[vehicle.pk]["amount"] or Decimal(0),
                refuels=totals[vehicle.pk]["n"],
                result=result,
                norm=norm,
                off_norm_pct=round((value - norm) / norm * 100, 1) if value and norm else None,
                history_median=round(median, 2) if median else None,
                off_history_pct=round((value - median) / median * 100, 1)
                if value and median
                else None,
            )
        )
    return rows


def fuel_summary(*, municipality_id: int, start: date, end: date) -> dict[str, Any]:
    """Totals for a page header: litres, euros, entries, open anomalies."""
    t0, t1 = _local_midnight(start), _local_midnight(end + timedelta(days=1))
    totals = FuelEntry.objects.filter(
        municipality_id=municipality_id, filled_at__gte=t0, filled_at__lt=t1
    ).aggregate(litres=Sum("litres"), amount=Sum("amount"), n=Count("pk"))
    totals["open_anomalies"] = FuelAnomaly.objects.filter(
        municipality_id=municipality_id, status=AnomalyStatus.OPEN
    ).count()
    return totals
