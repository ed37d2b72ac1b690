"""Vehicle history (one vehicle, one day: track, trips, stops, events, replay) and the events list.

Both pages read through the municipality scope: another municipality's vehicle is a 404.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

from fleet.models import Vehicle
from fleet.permissions import CapabilityRequiredMixin
from fleet.scoping import scope_queryset
from telematics.models import Position
from telematics.motion.events import EventType
from telematics.motion_models import MotionEvent, Stop, Trip

# A day at one fix a second is 86,400 points; the replay needs far fewer, so longer days are
# thinned evenly rather than sending megabytes to the browser.
MAX_TRACK_POINTS = 20_000
EVENTS_PER_PAGE = 100

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


def _day_bounds(day: date, tz_name: str) -> tuple[datetime, datetime]:
    """A calendar day in the municipality's time zone (23 or 25 hours on DST changes)."""
    tz = ZoneInfo(tz_name or "Europe/Athens")
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def vehicle_day_history(*, vehicle: Vehicle, day: date, tz_name: str) -> dict[str, Any]:
    """Track points, trips, stops and events of one vehicle over one local day, as plain data."""
    start, end = _day_bounds(day, tz_name)
    rows = Position.objects.filter(
        vehicle=vehicle, fix_time__gte=start, fix_time__lt=end, valid=True
    ).order_by("fix_time")
    total = rows.count()
    points = list(
        rows.values_list("fix_time", "latitude", "longitude", "speed_kmh")[: MAX_TRACK_POINTS * 5]
    )
    if len(points) > MAX_TRACK_POINTS:
        step = len(points) / MAX_TRACK_POINTS
        points = [points[int(i * step)] for i in range(MAX_TRACK_POINTS)] + [points[-1]]
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
            "lat": e.latitude,
            "lon": e.longitude,
            "facts": e.facts,
        }
        for e in MotionEvent.objects.filter(
            vehicle=vehicle, time__gte=start, time__lt=end
        ).order_by("time")[:2000]
    ]
    return {
        "track": track,
        "trips": trips,
        "stops": stops,
        "events": events,
        "positions": total,
        "thinned": total > len(track),
    }


class VehicleHistoryView(CapabilityRequiredMixin, TemplateView):
    """``?vehicle=<id>&day=YYYY-MM-DD``: the day on a map with a replay. Without a vehicle, the
    picker alone."""

    capability = "telematics.view"
    template_name = "telematics/history.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        municipality = user.municipality
        tz_name = getattr(municipality, "timezone", "") or settings.TIME_ZONE
        vehicles = scope_queryset(Vehicle.objects.all(), user).order_by("plate")
        raw_day = self.request.GET.get("day", "")
        day = parse_date(raw_day) if raw_day else None
        if raw_day and day is None:
            context["error"] = _("The day must be given as YYYY-MM-DD.")
        if day is None:
            day = timezone.now().astimezone(ZoneInfo(tz_name)).date()
        context.update(vehicles=vehicles, day=day, vehicle=None, history=None)
        raw_vehicle = self.request.GET.get("vehicle", "")
        if raw_vehicle:
            if not raw_vehicle.isdigit():
                raise Http404
            vehicle = get_object_or_404(vehicles, pk=int(raw_vehicle))
            context["vehicle"] = vehicle
            context["history"] = vehicle_day_history(vehicle=vehicle, day=day, tz_name=tz_name)
        overrides = {}
        if municipality is not None and municipality.center_lat is not None:
            overrides = {
                "DEFAULT_CENTER": (municipality.center_lat, municipality.center_lon),
                "DEFAULT_ZOOM": 13,
            }
        context["leaflet_overrides"] = overrides
        context["tile_url"] = settings.KINISI_TILE_URL
        context["previous_day"] = day - timedelta(days=1)
        context["next_day"] = day + timedelta(days=1)
        return context


class EventListView(CapabilityRequiredMixin, TemplateView):
    """Events newest first, filtered by vehicle, type and a date range (local days)."""

    capability = "telematics.view"
    template_name = "telematics/events.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        municipality = user.municipality
        tz_name = getattr(municipality, "timezone", "") or settings.TIME_ZONE
        params = self.request.GET
        events = scope_queryset(MotionEvent.objects.all(), user).select_related("vehicle", "driver")
        vehicles = scope_queryset(Vehicle.objects.all(), user).order_by("plate")
        errors = []
        vehicle_id = params.get("vehicle", "")
        if vehicle_id:
            if vehicle_id.isdigit():
                events = events.filter(vehicle_id=int(vehicle_id))
            else:
                errors.append(_("Unknown vehicle."))
        event_type = params.get("type", "")
        if event_type:
            events = events.filter(type=event_type)
        for name, op in (("date_from", "gte"), ("date_to", "lt")):
            raw = params.get(name, "")
            if not raw:
                continue
            day = parse_date(raw)
            if day is None:
                errors.append(_("The day must be given as YYYY-MM-DD."))
                continue
            start, end = _day_bounds(day, tz_name)
            events = events.filter(**{f"time__{op}": start if op == "gte" else end})
        page = Paginator(events.order_by("-time"), EVENTS_PER_PAGE).get_page(params.get("page"))
        rows = list(page.object_list)
        for row in rows:
            row.label = event_label(row.type)
        query = params.copy()
        query.pop("page", None)
        context.update(
            page=page,
            events=rows,
            vehicles=vehicles,
            # The known types, not a DISTINCT over the events table (it grows without bound).
            types=[(value, str(label)) for value, label in EVENT_LABELS.items()],
            selected={
                "vehicle": vehicle_id,
                "type": event_type,
                "date_from": params.get("date_from", ""),
                "date_to": params.get("date_to", ""),
            },
            query=query.urlencode(),
            errors=errors,
        )
        return context
