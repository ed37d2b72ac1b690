"""Motion processing on the database: the Django side of ``telematics/motion/``.

``motion_process_device`` is what the ``telematics.process_positions`` task calls for every
batch the gateway stores: it loads the device's configuration (detector settings, working
calendar, geofences, the street graph when there is one), runs
:func:`telematics.motion.pipeline.motion_update` through :class:`DatabaseMotionStore`, names the
drivers and places of new trips, and recomputes the daily summaries of the days touched.

Exactness and idempotence come from the pipeline's checkpoints (see its docstring): processing
the same range twice, or ranges out of order, gives the same rows.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone as django_timezone
from shapely.errors import ShapelyError

from telematics.models import Device, DeviceAssignment, Position
from telematics.motion.events import EventConfig
from telematics.motion.events import MotionEvent as PureEvent
from telematics.motion.geofence import (
    GeofenceIndex,
    ParsedGeofence,
    geofence_from_geojson,
    parse_geojson,
)
from telematics.motion.odometer import OdometerConfig, RoadDistance
from telematics.motion.pipeline import (
    Checkpoint,
    MotionConfig,
    MotionResult,
    motion_update,
)
from telematics.motion.pipeline import (
    DayMeter as PureDayMeter,
)
from telematics.motion.pipeline import (
    EngineSession as PureSession,
)
from telematics.motion.records import MotionFix
from telematics.motion.summary import daily_summary, days_touched
from telematics.motion.trips import DayPart, TripConfig
from telematics.motion.trips import Stop as PureStop
from telematics.motion.trips import Trip as PureTrip
from telematics.motion.workcalendar import WorkingCalendar as PureCalendar
from telematics.motion_models import (
    DailySummary,
    DayMeter,
    EngineSession,
    Geofence,
    GeofenceRole,
    MotionCheckpoint,
    MotionEvent,
    MotionSettings,
    Stop,
    Trip,
    WorkingCalendar,
)

log = logging.getLogger("telematics.motion")

# Checkpoints older than this are pruned: a late upload older than the oldest kept checkpoint
# triggers a rebuild from the beginning of the retained window instead.
CHECKPOINT_RETENTION = timedelta(days=62)
_POSITION_FIELDS = (
    "fix_time",
    "latitude",
    "longitude",
    "valid",
    "speed_kmh",
    "ignition",
    "odometer",
    "engine_hours",
    "fuel_level",
    "driver_tag",
    "server_time",
    "course",
)


# ------------------------------------------------------------------------------------------------
# configuration


def motion_config_for(vehicle: Any | None, municipality: Any) -> MotionConfig:
    """Detector and event settings: defaults < municipality row < vehicle category row."""
    rows = {
        s.category: s
        for s in MotionSettings.objects.filter(
            municipality=municipality,
            category__in=["", getattr(vehicle, "category", "") or ""],
        )
    }
    values: dict[str, Any] = {}
    for key in ("", getattr(vehicle, "category", "") or ""):
        row = rows.get(key)
        if row is None:
            continue
        for field in (
            "min_trip_distance_m",
            "min_trip_duration_s",
            "min_stop_duration_s",
            "max_gap_s",
            "use_ignition",
            "speed_limit_kmh",
            "overspeed_min_duration_s",
            "idle_min_duration_s",
            "offline_after_s",
        ):
            value = getattr(row, field)
            if value is not None:
                values[field] = value
    tz = municipality.timezone or "Europe/Athens"
    trip_kw = {
        k: values[k]
        for k in (
            "min_trip_distance_m",
            "min_trip_duration_s",
            "min_stop_duration_s",
            "max_gap_s",
            "use_ignition",
        )
        if k in values
    }
    event_kw = {
        k: values[k]
        for k in (
            "speed_limit_kmh",
            "overspeed_min_duration_s",
            "idle_min_duration_s",
            "offline_after_s",
        )
        if k in values
    }
    odometer_kw: dict[str, Any] = {}
    if "max_gap_s" in values:
        odometer_kw["max_gap_s"] = values["max_gap_s"]
    return MotionConfig(
        trips=TripConfig(timezone=tz, **trip_kw),
        odometer=OdometerConfig(**odometer_kw),
        events=EventConfig(
            calendar=calendar_for(vehicle, municipality),
            max_gap_s=values.get("max_gap_s", 900.0),
            **event_kw,
        ),
    )


def calendar_for(vehicle: Any | None, municipality: Any) -> PureCalendar:
    """The vehicle's department calendar, else the municipality's, else the default one. A row
    that cannot be parsed (saved before validation, or by hand) is logged and replaced by the
    default, so one bad calendar does not stop the municipality's motion processing."""
    department_id = getattr(vehicle, "department_id", None)
    rows = list(
        WorkingCalendar.objects.filter(municipality=municipality).filter(
            Q(department__isnull=True) | Q(department_id=department_id)
        )
    )
    row = next((r for r in rows if r.department_id == department_id and department_id), None)
    row = row or next((r for r in rows if r.department_id is None), None)
    tz = municipality.timezone or "Europe/Athens"
    if row is None or not row.week:
        return PureCalendar(timezone=tz)
    try:
        return calendar_from_row(row, tz)
    except (AttributeError, TypeError, ValueError) as exc:
        log.warning(
            "motion.calendar_unusable calendar=%s municipality=%s department=%s error=%s",
            row.pk,
            row.municipality_id,
            row.department_id,
            exc,
        )
        return PureCalendar(timezone=tz)


def calendar_from_row(row: WorkingCalendar, tz: str) -> PureCalendar:
    def parse(value: str) -> time:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))

    week = tuple(tuple((parse(a), parse(b)) for a, b in day) for day in row.week)
    return PureCalendar(
        week=week,
        timezone=tz,
        extra_holidays=frozenset(date.fromisoformat(d) for d in row.extra_holidays or ()),
        extra_working_days=frozenset(date.fromisoformat(d) for d in row.extra_working_days or ()),
    )


_index_cache: dict[int, tuple[Any, GeofenceIndex]] = {}

# The id of the municipality's own boundary among its geofences: geofence rows have integer ids,
# so a string cannot clash with one. Events leaving it carry it as their "geofence" fact.
MUNICIPALITY_BOUNDARY_ID = "municipality-boundary"


def geofence_index_for(municipality: Any) -> GeofenceIndex:
    """The municipality's active geofences (plus its boundary) behind one spatial index,
    cached per process until a geofence or the boundary changes."""
    rows = Geofence.objects.filter(municipality=municipality, active=True)
    stamp = (
        rows.count(),
        max((g.updated_at for g in rows.only("updated_at")), default=None),
        # Compared by value (a copy is kept): a changed boundary rebuilds the index.
        municipality.boundary,
    )
    cached = _index_cache.get(municipality.pk)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    fences = []
    for row in rows:
        try:
            fences.append(
                geofence_from_geojson(
                    row.pk,
                    row.geometry,
                    name=row.name,
                    radius_m=row.radius_m,
                    speed_limit_kmh=row.speed_limit_kmh,
                    role="boundary" if row.role == GeofenceRole.BOUNDARY else "",
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("motion.geofence_unusable geofence=%s error=%s", row.pk, exc)
    if not any(f.role == "boundary" for f in fences):
        boundary = _municipality_boundary(municipality)
        if boundary is not None:
            fences.append(boundary)
    index = GeofenceIndex(fences)
    _index_cache[municipality.pk] = (copy.deepcopy(stamp), index)
    return index


def _municipality_boundary(municipality: Any) -> Any | None:
    """``Municipality.boundary`` (a GeoJSON polygon, bare or in a Feature) as a boundary fence,
    so leaving the municipality is reported without importing it as a geofence too. A boundary
    geofence row, when there is one, is used instead (two would report each crossing twice)."""
    geometry = municipality.boundary
    if not geometry:
        return None
    try:
        if geometry.get("type") == "Feature":
            geometry = geometry["geometry"]
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"a boundary must be a polygon, not {geometry.get('type')!r}")
        return geofence_from_geojson(
            MUNICIPALITY_BOUNDARY_ID, geometry, name=municipality.name, role="boundary"
        )
    except (AttributeError, IndexError, KeyError, TypeError, ValueError, ShapelyError) as exc:
        log.warning("motion.boundary_unusable municipality=%s error=%s", municipality.pk, exc)
        return None


def _street_router(municipality: Any) -> Any | None:
    """The router of the municipality's street graph (it measures silences along the road and
    names trips and stops), or ``None`` when the municipality has none."""
    try:
        from dispatch.routing.registry import RoutingUnavailable, router_for

        return router_for(municipality)
    except (ImportError, RoutingUnavailable, OSError, ValueError) as exc:
        log.info("motion.no_street_graph municipality=%s reason=%s", municipality.pk, exc)
        return None


def _road_distance(router: Any) -> RoadDistance:
    from dispatch.routing.router import Metric

    def road(lat0: float, lon0: float, lat1: float, lon1: float) -> float | None:
        route = router.route([(lat0, lon0), (lat1, lon1)], metric=Metric.DISTANCE)
        return float(route.length_m) if route.ok else None

    return road


# ------------------------------------------------------------------------------------------------
# the store


class _Assignments:
    """Which vehicle a device was in at a given time."""

    def __init__(self, device: Device) -> None:
        self.rows = list(
            DeviceAssignment.objects.filter(device=device)
            .order_by("valid_from")
            .values_list("valid_from", "valid_to", "vehicle_id")
        )

    def vehicle_at(self, when: datetime) -> int | None:
        for start, end, vehicle_id in reversed(self.rows):
            if start <= when and (end is None or when < end):
                return vehicle_id
        return None


class DatabaseMotionStore:
    """:class:`telematics.motion.pipeline.MotionStore` on the telematics tables, one device."""

    output_models = (Trip, Stop, MotionEvent, EngineSession, DayMeter)

    def __init__(self, device: Device) -> None:
        self.device = device
        self.assignments = _Assignments(device)
        self.removed_ranges: list[tuple[int | None, datetime, datetime]] = []
        self.saved: dict[type, list[Any]] = {}

    def load_fixes(self, after: datetime | None) -> Iterable[MotionFix]:
        rows = Position.objects.filter(device=self.device)
        if after is not None:
            rows = rows.filter(fix_time__gt=after)
        return self._fixes(rows.order_by("fix_time").values_list(*_POSITION_FIELDS))

    @staticmethod
    def _fixes(rows: Any) -> Iterator[MotionFix]:
        for row in rows.iterator(chunk_size=5000):
            yield MotionFix(*row)

    def latest_checkpoint(self, before: datetime | None) -> Checkpoint | None:
        rows = MotionCheckpoint.objects.filter(device=self.device)
        if before is not None:
            rows = rows.filter(time__lt=before)
        row = rows.order_by("-time").first()
        return Checkpoint(row.time, row.state) if row is not None else None

    def replace_after(self, after: datetime | None, result: MotionResult) -> None:
        device = self.device
        for model in self.output_models:
            gone = model.objects.filter(device=device)
            if after is not None:
                gone = gone.filter(Q(emitted_at__gt=after) | Q(closed=False))
            self._remember_removed(model, gone)
            gone.delete()
        checkpoints = MotionCheckpoint.objects.filter(device=device)
        if after is not None:
            checkpoints = checkpoints.filter(time__gt=after)
        checkpoints.delete()
        MotionCheckpoint.objects.bulk_create(
            [
                MotionCheckpoint(device=device, time=c.time, state=c.state)
                for c in result.checkpoints
            ],
            batch_size=200,
        )
        if result.checkpoints:
            MotionCheckpoint.objects.filter(
                device=device, time__lt=result.checkpoints[-1].time - CHECKPOINT_RETENTION
            ).delete()
        outputs: list[Any] = [*result.closed_outputs(), *result.provisional]
        rows: dict[type, list[Any]] = {}
        for out in outputs:
            row = self._row(out)
            rows.setdefault(type(row), []).append(row)
        for model, items in rows.items():
            model.objects.bulk_create(items, batch_size=500)
        self.saved = rows

    def _remember_removed(self, model: type, rows: Any) -> None:
        # The days of removed rows need their summaries redone too.
        if model is DayMeter:
            return
        start_field = "time" if model is MotionEvent else "start_time"
        end_field = "time" if model is MotionEvent else "end_time"
        for vehicle_id, start, end in rows.values_list("vehicle_id", start_field, end_field):
            self.removed_ranges.append((vehicle_id, start, end))

    def _common(self, out: Any, when: datetime) -> dict[str, Any]:
        return {
            "municipality_id": self.device.municipality_id,
            "device": self.device,
            "vehicle_id": self.assignments.vehicle_at(when),
            "emitted_at": out.emitted_at,
            "closed": getattr(out, "closed", True),
        }

    def _row(self, out: Any) -> Any:
        if isinstance(out, PureTrip):
            return Trip(
                **self._common(out, out.start_time),
                start_time=out.start_time,
                end_time=out.end_time,
                start_lat=out.start_lat,
                start_lon=out.start_lon,
                end_lat=out.end_lat,
                end_lon=out.end_lon,
                distance_m=out.distance_m,
                gps_distance_m=out.gps_distance_m,
                distance_source=out.distance_source,
                duration_s=out.duration_s,
                moving_s=out.moving_s,
                idle_s=out.idle_s,
                max_speed_kmh=out.max_speed_kmh,
                avg_speed_kmh=out.avg_speed_kmh,
                driver_tags=list(out.driver_tags),
                track=[list(p) for p in out.track],
                day_parts=[
                    {
                        "day": p.day.isoformat(),
                        "start": p.start_time.isoformat(),
                        "end": p.end_time.isoformat(),
                        "distance_m": p.distance_m,
                        "moving_s": p.moving_s,
                        "idle_s": p.idle_s,
                        "max_speed_kmh": p.max_speed_kmh,
                    }
                    for p in out.day_parts
                ],
            )
        if isinstance(out, PureStop):
            return Stop(
                **self._common(out, out.start_time),
                start_time=out.start_time,
                end_time=out.end_time,
                latitude=out.latitude,
                longitude=out.longitude,
                duration_s=out.duration_s,
                day_parts=[[d.isoformat(), s] for d, s in out.day_parts],
                moved=[[d.isoformat(), m] for d, m in out.moved],
            )
        if isinstance(out, PureEvent):
            return MotionEvent(
                **self._common(out, out.time),
                type=str(out.type),
                time=out.time,
                latitude=out.latitude,
                longitude=out.longitude,
                facts=out.facts,
            )
        if isinstance(out, PureSession):
            return EngineSession(
                **self._common(out, out.start_time),
                start_time=out.start_time,
                end_time=out.end_time,
                hours=out.hours,
                device_hours=out.device_hours,
            )
        if isinstance(out, PureDayMeter):
            tz = ZoneInfo(self.device.municipality.timezone or "Europe/Athens")
            noon = datetime.combine(out.day, time(12), tz)
            return DayMeter(
                **self._common(out, noon),
                day=out.day,
                odometer_first=out.odometer_first,
                odometer_last=out.odometer_last,
                engine_hours_first=out.engine_hours_first,
                engine_hours_last=out.engine_hours_last,
            )
        raise TypeError(f"unknown motion output {type(out).__name__}")


# ------------------------------------------------------------------------------------------------
# services


def motion_process_device(
    *, device_id: int, earliest: datetime | None, use_streets: bool = True
) -> MotionResult | None:
    """Bring one device's trips, stops, events and summaries up to date after positions with
    fix times from ``earliest`` on were stored (``None``: rebuild everything)."""
    device = Device.objects.select_related("municipality").filter(pk=device_id).first()
    if device is None:
        log.warning("motion.unknown_device device=%s", device_id)
        return None
    municipality = device.municipality
    vehicle = _vehicle_for(device, earliest)
    config = motion_config_for(vehicle, municipality)
    fences = geofence_index_for(municipality)
    router = _street_router(municipality) if use_streets else None
    road = _road_distance(router) if router is not None else None
    with transaction.atomic():
        # One update per device at a time: concurrent workers queue here (PostgreSQL); SQLite
        # serialises writers anyway.
        Device.objects.select_for_update().filter(pk=device.pk).first()
        store = DatabaseMotionStore(device)
        result = motion_update(store, config, fences, earliest_new=earliest, road_distance=road)
        _name_trips(device, store.saved.get(Trip, []), router)
        _name_stops(store.saved.get(Stop, []), router)
        _name_events(device, store.saved.get(MotionEvent, []))
        touched = _touched_days(store, result, municipality.timezone or "Europe/Athens")
        for vid, days in touched.items():
            daily_summaries_update(vehicle_id=vid, days=sorted(days))
    if store.saved.get(MotionEvent):
        enqueue_notifications(device.pk)
    for _fix, reason in result.rejected:
        if reason in ("out_of_order", "same_time"):
            continue
        log.info("motion.fix_rejected device=%s reason=%s", device.unique_id, reason)
    log.info(
        "motion.processed device=%s fixes=%d trips=%d events=%d rebuilt_from=%s",
        device.unique_id,
        result.accepted,
        len(result.trips),
        len(result.events),
        result.rebuilt_from.isoformat() if result.rebuilt_from else "start",
    )
    return result


def _vehicle_for(device: Device, earliest: datetime | None) -> Any | None:
    """The vehicle whose category settings and department calendar apply to this update: the
    one the device was in at ``earliest`` (a full rebuild: at its first stored position), else
    the one it is in now. Incremental updates and full rebuilds must agree on it, or the same
    positions give different trips."""
    when = earliest
    if when is None:
        when = (
            Position.objects.filter(device=device)
            .order_by("fix_time")
            .values_list("fix_time", flat=True)
            .first()
        )
    vehicle = vehicle_at(device, when) if when is not None else None
    return vehicle if vehicle is not None else vehicle_at(device, django_timezone.now())


def vehicle_at(device: Device, when: datetime) -> Any | None:
    """The vehicle ``device`` was in at ``when`` (its row), or ``None``."""
    vehicle_id = _Assignments(device).vehicle_at(when)
    if vehicle_id is None:
        return None
    from fleet.models import Vehicle

    return Vehicle.objects.filter(pk=vehicle_id).first()


def enqueue_notifications(device_id: int) -> None:
    """Notifications have their own task, enqueued once this update has committed."""

    def enqueue() -> None:
        from notifications.tasks import notify_device

        try:
            notify_device.delay(device_id)
        except Exception as exc:  # noqa: BLE001 - a broker outage must not fail the motion update
            log.warning("motion.notify_enqueue_failed device=%s reason=%s", device_id, exc)

    transaction.on_commit(enqueue)


def _touched_days(
    store: DatabaseMotionStore, result: MotionResult, tz: str
) -> dict[int, set[date]]:
    touched: dict[int, set[date]] = {}
    spans: list[tuple[int | None, datetime, datetime]] = list(store.removed_ranges)
    for model, rows in store.saved.items():
        for row in rows:
            if model is DayMeter:
                start = end = datetime.combine(row.day, time(12), ZoneInfo(tz))
            elif model is MotionEvent:
                start = end = row.time
            else:
                start, end = row.start_time, row.end_time
            spans.append((row.vehicle_id, start, end))
    for vehicle_id, start, end in spans:
        if vehicle_id is None:
            continue
        touched.setdefault(vehicle_id, set()).update(days_touched(start, end, tz))
    return touched


def _name_trips(device: Device, trips: list[Trip], router: Any | None) -> None:
    """Driver (tag reported, else an approved movement order) and street names of new trips."""
    if not trips:
        return
    from fleet.models import Driver

    tags = {t for trip in trips for t in trip.driver_tags}
    by_tag = {
        d.tag_id: d.pk
        for d in Driver.objects.filter(municipality_id=device.municipality_id, tag_id__in=tags)
    }
    changed = []
    for trip in trips:
        driver_id = next((by_tag[t] for t in trip.driver_tags if t in by_tag), None)
        if driver_id is None and trip.vehicle_id is not None:
            driver_id = _ordered_driver(trip.vehicle_id, trip.start_time)
        trip.driver_id = driver_id
        if router is not None:
            trip.start_place = _street(router, trip.start_lat, trip.start_lon)
            trip.end_place = _street(router, trip.end_lat, trip.end_lon)
        changed.append(trip)
    Trip.objects.bulk_update(changed, ["driver", "start_place", "end_place"], batch_size=500)


def _name_stops(stops: list[Stop], router: Any | None) -> None:
    """Street names of new stops, as for trips (the history page lists stops by place)."""
    if router is None:
        return
    changed = []
    for stop in stops:
        if stop.place:
            continue
        stop.place = _street(router, stop.latitude, stop.longitude)
        if stop.place:
            changed.append(stop)
    if changed:
        Stop.objects.bulk_update(changed, ["place"], batch_size=500)


def _street(router: Any, lat: float, lon: float) -> str:
    snap = router.snap(lat, lon, max_snap_m=150.0)
    return (snap.street or "")[:200] if snap.ok else ""


def _ordered_driver(vehicle_id: int, when: datetime) -> int | None:
    from dispatch.choices import MovementOrderStatus
    from dispatch.models import MovementOrder

    order = (
        MovementOrder.objects.filter(
            vehicle_id=vehicle_id,
            status=MovementOrderStatus.APPROVED,
            starts_at__lte=when,
            ends_at__gt=when,
            driver__isnull=False,
        )
        .order_by("-starts_at")
        .first()
    )
    return order.driver_id if order is not None else None


def _name_events(device: Device, events: list[MotionEvent]) -> None:
    """Events carry the driver of the trip they happened in, when known."""
    if not events:
        return
    changed = []
    for event in events:
        trip = (
            Trip.objects.filter(device=device, start_time__lte=event.time, end_time__gte=event.time)
            .exclude(driver=None)
            .only("driver_id")
            .first()
        )
        if trip is not None:
            event.driver_id = trip.driver_id
            changed.append(event)
    if changed:
        MotionEvent.objects.bulk_update(changed, ["driver"], batch_size=500)


# ------------------------------------------------------------------------------------------------
# daily summaries


def _pure_trip(row: Trip) -> PureTrip:
    parts = tuple(
        DayPart(
            day=date.fromisoformat(p["day"]),
            start_time=datetime.fromisoformat(p["start"]),
            end_time=datetime.fromisoformat(p["end"]),
            distance_m=p["distance_m"],
            moving_s=p["moving_s"],
            idle_s=p["idle_s"],
            max_speed_kmh=p["max_speed_kmh"],
        )
        for p in row.day_parts
    )
    return PureTrip(
        start_time=row.start_time,
        end_time=row.end_time,
        start_lat=row.start_lat,
        start_lon=row.start_lon,
        end_lat=row.end_lat,
        end_lon=row.end_lon,
        distance_m=row.distance_m,
        gps_distance_m=row.gps_distance_m,
        distance_source=row.distance_source,
        odometer_start=None,
        odometer_end=None,
        duration_s=row.duration_s,
        moving_s=row.moving_s,
        idle_s=row.idle_s,
        max_speed_kmh=row.max_speed_kmh,
        avg_speed_kmh=row.avg_speed_kmh,
        driver_tags=tuple(row.driver_tags),
        track=(),
        day_parts=parts,
        emitted_at=row.emitted_at,
        closed=row.closed,
    )


def daily_summaries_update(*, vehicle_id: int, days: list[date]) -> list[DailySummary]:
    """Recompute (and store) one vehicle's summaries for the given local days."""
    from fleet.models import Vehicle

    vehicle = Vehicle.objects.select_related("municipality").filter(pk=vehicle_id).first()
    if vehicle is None or not days:
        return []
    tz = vehicle.municipality.timezone or "Europe/Athens"
    zone = ZoneInfo(tz)
    t0 = datetime.combine(min(days), time(0), zone)
    t1 = datetime.combine(max(days) + timedelta(days=1), time(0), zone)
    overlapping = {"vehicle_id": vehicle_id, "start_time__lt": t1, "end_time__gt": t0}
    trips = [_pure_trip(r) for r in Trip.objects.filter(**overlapping)]
    stops = [
        PureStop(
            start_time=r.start_time,
            end_time=r.end_time,
            latitude=r.latitude,
            longitude=r.longitude,
            duration_s=r.duration_s,
            day_parts=tuple((date.fromisoformat(d), s) for d, s in r.day_parts),
            emitted_at=r.emitted_at,
            closed=r.closed,
            moved=tuple((date.fromisoformat(d), m) for d, m in r.moved),
        )
        for r in Stop.objects.filter(**overlapping)
    ]
    events = [
        PureEvent(r.type, r.time, r.latitude, r.longitude, r.facts, r.emitted_at)
        for r in MotionEvent.objects.filter(vehicle_id=vehicle_id, time__gte=t0, time__lt=t1)
    ]
    sessions = [
        PureSession(
            r.start_time, r.end_time, r.hours, r.device_hours, 0.0, 0.0, 0.0, 0.0, r.emitted_at
        )
        for r in EngineSession.objects.filter(**overlapping)
    ]
    meters = [
        PureDayMeter(
            r.day,
            r.odometer_first,
            r.odometer_last,
            r.engine_hours_first,
            r.engine_hours_last,
            r.emitted_at,
        )
        for r in DayMeter.objects.filter(
            vehicle_id=vehicle_id, day__gte=min(days) - timedelta(days=1), day__lte=max(days)
        )
    ]
    saved = []
    for day in days:
        s = daily_summary(
            day,
            trips=trips,
            stops=stops,
            events=events,
            engine_sessions=sessions,
            day_meters=meters,
            timezone=tz,
        )
        row, _ = DailySummary.objects.update_or_create(
            vehicle_id=vehicle_id,
            day=day,
            defaults={
                "municipality_id": vehicle.municipality_id,
                "distance_m": s.distance_m,
                "engine_hours": s.engine_hours,
                "engine_hours_source": s.engine_hours_source,
                "moving_s": s.moving_s,
                "idle_s": s.idle_s,
                "stopped_s": s.stopped_s,
                "trip_count": s.trip_count,
                "first_movement": s.first_movement,
                "last_movement": s.last_movement,
                "max_speed_kmh": s.max_speed_kmh,
                "events": s.events,
                "odometer_start": s.odometer_start,
                "odometer_end": s.odometer_end,
            },
        )
        saved.append(row)
    return saved


# ------------------------------------------------------------------------------------------------
# geofences


def geofences_import(
    *, municipality: Any, data: str | bytes | dict, role: str = GeofenceRole.GENERAL
) -> list[Geofence]:
    """Validate a GeoJSON upload and create its geofences, all or nothing.

    Raises :class:`telematics.motion.geofence.GeofenceError` (a ``ValueError`` listing every
    problem) and creates nothing when any feature is malformed.
    """
    bbox = municipality.bbox
    expect = None
    if bbox is not None:
        south, west, north, east = bbox
        # Generous margin: depots and landfills sit just outside town limits.
        expect = (west - 0.5, south - 0.5, east + 0.5, north + 0.5)
    parsed: list[ParsedGeofence] = parse_geojson(data, expect_bbox=expect)
    with transaction.atomic():
        created = [
            Geofence.objects.create(
                municipality=municipality,
                name=p.name,
                role=p.properties.get("role", role)
                if p.properties.get("role") in GeofenceRole.values
                else role,
                kind=p.kind,
                geometry=p.geometry,
                radius_m=p.radius_m,
                speed_limit_kmh=p.speed_limit_kmh,
            )
            for p in parsed
        ]
    log.info("motion.geofences_imported municipality=%s count=%d", municipality.pk, len(created))
    return created


def motion_rebuild_device(*, device_id: int, since: datetime | None = None) -> None:
    """Recompute a device's motion from ``since`` (or from its first position)."""
    motion_process_device(device_id=device_id, earliest=since)
