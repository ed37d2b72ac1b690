"""Pages of the telematics app: the live map and the device list (adopt in one click)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from fleet.permissions import CapabilityRequiredMixin
from telematics import selectors, services


def _streets_url() -> str:
    try:
        return reverse("streets")
    except NoReverseMatch:
        return ""


class LiveMapView(CapabilityRequiredMixin, TemplateView):
    """Every vehicle on a map, refreshed from ``/api/v1/live/`` every two seconds."""

    capability = "telematics.view"
    template_name = "telematics/live_map.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        municipality = self.request.user.municipality
        overrides = {}
        if municipality is not None and municipality.center_lat is not None:
            overrides = {
                "DEFAULT_CENTER": (municipality.center_lat, municipality.center_lon),
                "DEFAULT_ZOOM": 14,
            }
        context["leaflet_overrides"] = overrides
        context["live_config"] = {
            "liveUrl": reverse("live-state"),
            "streetsUrl": _streets_url(),
            "tileUrl": settings.KINISI_TILE_URL,
            "intervalMs": 2000,
        }
        return context


class DeviceListView(CapabilityRequiredMixin, TemplateView):
    capability = "devices.manage"
    template_name = "telematics/device_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["devices"] = selectors.device_list(user=self.request.user)[:500]
        context["unknown_devices"] = selectors.unknown_device_list()[:200]
        return context


class UnknownDeviceAdoptView(CapabilityRequiredMixin, View):
    """POST ``unique_id``: register the unknown tracker in the administrator's municipality.

    Addressed by unique id in the form, not by URL: an unknown tracker has no municipality yet.
    """

    capability = "devices.manage"

    def post(self, request):
        unknown = get_object_or_404(
            selectors.unknown_device_list(), unique_id=request.POST.get("unique_id", "")
        )
        try:
            device = services.unknown_device_adopt(
                unknown=unknown, municipality=request.user.municipality
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Device %(id)s adopted.") % {"id": device.unique_id})
        return redirect("telematics:device_list")
