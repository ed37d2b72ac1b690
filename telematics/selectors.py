"""What reads in the telematics app. Every query on positions is bounded by vehicle and time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fleet.scoping import scope_queryset
from telematics.models import Device, DeviceAssignment, Position, UnknownDevice, VehicleLiveState
from telematics.motion.events import EventType
from telematics.motion_models import MotionEvent, Stop, Trip

# Longest time range one positions request may ask for: a month of one vehicle at one fix a
# second is 2.7 million rows, which is where a request stops being a request.
MAX_POSITIONS_RANGE = timedelta(days=31)


def device_list(*, user) -> QuerySet[Device]:
    current = DeviceAssignment.objects.filter(valid_to__isnull=True).select_related("vehicle")
    return scope_queryset(Device.objects.all(), user).prefetch_related(
        Prefetch("assignments", queryset=current, to_attr="open_assignments")
    )


def unknown_device_list() -> QuerySet[UnknownDevice]:
    """Unknown devices belong to no municipality yet: every administrator sees them."""
    return UnknownDevice.objects.all()


def time_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """Validate a requested range: both ends, start before end, at most MAX_POSITIONS_RANGE."""
    if start is None or end is None:
        raise ValidationError({"range": _("Give both the start and the end of the time range.")})
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValidationError({"range": _("Times must include their time zone.")})
    if end <= start:
        raise ValidationError({"range": _("The end must come after the start.")})
    if end - start > MAX_POSITIONS_RANGE:
        raise ValidationError({"range": _("Ask for at most 31 days at a time.")})
    return start, end


def vehicle_positions(*, vehicle_id: int, start: datetime, end: datetime) -> QuerySet[Position]:
    """Positions of one vehicle in [start, end), oldest first (index vehicle, fix_time)."""
    start, end = time_range(start, end)
    return Position.objects.filter(
        vehicle_id=vehicle_id, fix_time__gte=start, fix_time__lt=end
    ).order_by("fix_time")


@dataclass(frozen=True, slots=True)
class LiveVehicle:
    vehicle_id: int
    label: str
    status: str  # moving, stopped, offline, no_data
    latitude: float | None
    longitude: float | None
    speed_kmh: float | None
    course: float | None
    ignition: bool | None
    fix_time: datetime | None
    last_seen: datetime | None


def live_vehicles(*, user, now: datetime | None = None) -> list[LiveVehicle]:
    """Every vehicle of the user's municipality with where it is now (if known)."""
    from fleet.models import Vehicle
    from telematics.motion_watch import OfflineThresholds

    now = now or timezone.now()
    vehicles = list(scope_queryset(Vehicle.objects.all(), user).order_by("pk"))
    states = {
        s.vehicle_id: s
        for s in scope_queryset(VehicleLiveState.objects.all(), user).only(
            "vehicle_id",
            "latitude",
            "longitude",
            "speed_kmh",
            "course",
            "ignition",
            "moving",
            "fix_time",
            "last_seen",
        )
    }
    # Offline after the same threshold as the "tracker offline" event (the motion settings,
    # longer when parked with the engine off), so the map and the events agree.
    thresholds = OfflineThresholds({v.municipality_id for v in vehicles})
    result = []
    for vehicle in vehicles:
        state = states.get(vehicle.pk)
        if state is None:
            status = "no_data"
        elif (now - state.last_seen).total_seconds() > thresholds.after_s(
            vehicle.municipality_id,
            vehicle.category,
            parked=not state.moving,
            ignition=state.ignition,
        ):
            status = "offline"
        else:
            status = "moving" if state.moving else "stopped"
        result.append(
            LiveVehicle(
                vehicle_id=vehicle.pk,
                label=str(vehicle),
                status=status,
                latitude=state.latitude if state else None,
                longitude=state.longitude if state else None,
                speed_kmh=state.speed_kmh if state else None,
                course=state.course if state else None,
                ignition=state.ignition if state else None,
                fix_time=state.fix_time if state else None,
                last_seen=state.last_seen if state else None,
            )
        )
    return result


# ------------------------------------------------------------------------------------------------
# geofences (page: telematics/geofence_views.py)


def geofence_list(*, user) -> QuerySet:
    """The user's municipality's geofences, by name."""
    from telematics.motion_models import Geofence

    return scope_queryset(Geofence.objects.all(), user).order_by("name", "pk")


def geofence_feature(fence) -> dict:
    """A geofence as a GeoJSON Feature in the form the import accepts (a circle is its centre
    Point with a ``radius`` in metres), so an export can be imported again."""
    properties: dict = {
        "name": fence.name,
        "role": fence.role,
        "active": fence.active,
        "speed_limit_kmh": fence.speed_limit_kmh,
    }
    if fence.radius_m is not None:
        properties["radius"] = fence.radius_m
    return {"type": "Feature", "id": fence.pk, "geometry": fence.geometry, "properties": properties}


def geofence_feature_collection(fences) -> dict:
    return {"type": "FeatureCollection", "features": [geofence_feature(f) for f in fences]}


# ------------------------------------------------------------------------------------------------
# vehicle history (one vehicle, one local day)

# A day at one fix a second is 86,400 points; the replay needs far fewer, so longer days are
# thinned evenly rather than sending megabytes to the browser.
MAX_TRACK_POINTS = 20_000

EVENT_LABELS = {
    EventType.IGNITION_ON: gettext_lazy("Ignition on"),
    EventType.IGNITION_OFF: gettext_lazy("Ignition off"),
    EventType.OVERSPEED: gettext_lazy("Overspeed"),
    EventType.IDLING: gettext_lazy("Idling"),
    EventType.GEOFENCE_ENTER: gettext_lazy("Entered a geofence"),
    EventType.GEOFENCE_EXIT: gettext_lazy("Left a geofence"),
    EventType.BOUNDARY_EXIT: gettext_lazy("Left the municipality"),
    EventType.BOUNDARY_ENTER: gettext_lazy("Came back into the municipality"),
    EventType.AFTER_HOURS: gettext_lazy("Used outside working hours"),
    EventType.TRACKER_OFFLINE: gettext_lazy("Tracker offline"),
    EventType.TRACKER_ONLINE: gettext_lazy("Tracker back online"),
    EventType.DRIVER_CHANGE: gettext_lazy("Driver changed"),
    EventType.FUEL_DROP: gettext_lazy("Fuel drop while parked"),
}


def event_label(event_type: str) -> str:
    label = EVENT_LABELS.get(event_type)
    return str(label) if label is not None else event_type


def local_day_bounds(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """A calendar day in the municipality's time zone (23 or 25 hours on DST changes)."""
    tz = ZoneInfo(tz_name or "Europe/Athens")
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def _thinned(rows, total: int, limit: int) -> list:
    """Every k-th of ``total`` rows so that at most ``limit`` (plus the last) remain, read as a
    stream: a day of any length is drawn whole, never cut off at its end."""
    step = max(1, -(-total // limit))
    kept, last = [], None
    for index, row in enumerate(rows.iterator(chunk_size=10_000)):
        if index % step == 0:
            kept.append(row)
        last = row
    if last is not None and kept[-1] is not last:
        kept.append(last)
    return kept


def vehicle_day_history(*, vehicle: Any, day: date, tz_name: str) -> dict[str, Any]:
    """Track points, trips, stops and events of one vehicle over one local day, as plain data.

    Times come twice: ISO in UTC for the replay to seek by, and ``*_local`` wall-clock strings
    in the municipality's zone for people to read (a dispatcher in Chania does not think in UTC).
    """
    start, end = local_day_bounds(day, tz_name)
    tz = ZoneInfo(tz_name or "Europe/Athens")

    def local(moment: datetime, fmt: str = "%H:%M") -> str:
        moment = moment.astimezone(tz)
        if moment.date() != day:
            # A trip or stop running over midnight: say which day its other end falls on.
            fmt = "%d/%m " + fmt
        return moment.strftime(fmt)

    rows = Position.objects.filter(
        vehicle=vehicle, fix_time__gte=start, fix_time__lt=end, valid=True
    ).order_by("fix_time")
    total = rows.count()
    points = _thinned(
        rows.values_list("fix_time", "latitude", "longitude", "speed_kmh"), total, MAX_TRACK_POINTS
    )
    track = [
        [round(lat, 6), round(lon, 6), int(t.timestamp()), round(speed or 0.0, 1)]
        for t, lat, lon, speed in points
    ]
    overlap = Q(vehicle=vehicle, start_time__lt=end, end_time__gt=start)
    trips = [
        {
            "id": t.pk,
            "start": t.start_time.isoformat(),
            "end": t.end_time.isoformat(),
            "start_local": local(t.start_time),
            "end_local": local(t.end_time),
            "from": t.start_place,
            "to": t.end_place,
            "km": round(t.distance_m / 1000.0, 2),
            "max_kmh": round(t.max_speed_kmh),
            "driver": str(t.driver) if t.driver_id else "",
        }
        for t in Trip.objects.filter(overlap).select_related("driver").order_by("start_time")
    ]
    stops = [
        {
            "id": s.pk,
            "start": s.start_time.isoformat(),
            "end": s.end_time.isoformat(),
            "start_local": local(s.start_time),
            "end_local": local(s.end_time),
            "place": s.place,
            "lat": s.latitude,
            "lon": s.longitude,
            "minutes": round(s.duration_s / 60.0),
        }
        for s in Stop.objects.filter(overlap).order_by("start_time")
    ]
    events = [
        {
            "id": e.pk,
            "type": e.type,
            "label": event_label(e.type),
            "time": e.time.isoformat(),
            "time_local": local(e.time, "%H:%M:%S"),
            "lat": e.latitude,
            "lon": e.longitude,
            "facts": e.facts,
        }
        for e in MotionEvent.objects.filter(
            vehicle=vehicle, time__gte=start, time__lt=end
        ).order_by("time")[:2000]
    ]
    return {
        "timezone": tz.key,
        "track": track,
        "trips": trips,
        "stops": stops,
        "events": events,
        "positions": total,
        "thinned": total > len(track),
    }
