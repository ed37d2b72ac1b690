"""Vehicle history (one vehicle, one day: track, trips, stops, events, replay) and the events list.

Both pages read through the municipality scope: another municipality's vehicle is a 404.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from fleet.models import Vehicle
from fleet.permissions import CapabilityRequiredMixin
from fleet.scoping import scope_queryset
from notifications.selectors import event_detail
from telematics.motion_models import MotionEvent
from telematics.selectors import (
    EVENT_LABELS,
    event_label,
    local_day_bounds,
    vehicle_day_history,
)

EVENTS_PER_PAGE = 100


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
            history = vehicle_day_history(vehicle=vehicle, day=day, tz_name=tz_name)
            for event in history["events"]:
                # Which geofence, how fast against which limit: as in the events list.
                event["detail"] = event_detail(event["type"], event["facts"])
            context["history"] = history
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
            start, end = local_day_bounds(day, tz_name)
            events = events.filter(**{f"time__{op}": start if op == "gte" else end})
        page = Paginator(events.order_by("-time"), EVENTS_PER_PAGE).get_page(params.get("page"))
        rows = list(page.object_list)
        for row in rows:
            row.label = event_label(row.type)
            row.summary = event_detail(row.type, row.facts)
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
            # The template shows the times (and the history link's day) on this clock.
            tz_name=tz_name,
        )
        return context
