"""Dispatch pages. Each view parses the request and calls one selector."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings
from django.urls import reverse
from django.views.generic import TemplateView

from dispatch.routing import selectors as routing
from fleet.permissions import CapabilityRequiredMixin


class RoutePlannerView(CapabilityRequiredMixin, TemplateView):
    """Click two or more points on the map; the route and its time are drawn."""

    capability = "routing.use"
    template_name = "dispatch/route_planner.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        municipality = self.request.user.municipality
        vehicles = routing.planner_vehicles(municipality=municipality) if municipality else []
        overrides = {}
        if municipality is not None and municipality.center_lat is not None:
            overrides = {
                "DEFAULT_CENTER": (municipality.center_lat, municipality.center_lon),
                "DEFAULT_ZOOM": 15,
            }
        context["leaflet_overrides"] = overrides
        context["planner_config"] = {
            "routeUrl": reverse("route-plan"),
            "streetsUrl": reverse("streets"),
            "tileUrl": settings.KINISI_TILE_URL,
            "vehicles": [asdict(v) for v in vehicles],
        }
        return context
