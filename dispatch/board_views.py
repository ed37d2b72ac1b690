"""The dispatch board page. Its data arrives over the WebSocket (``ws/dispatch/board/``)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.views.generic import TemplateView

from dispatch.services import is_administrator
from fleet.permissions import CapabilityRequiredMixin, has_capability


class BoardView(CapabilityRequiredMixin, TemplateView):
    capability = "dispatch.view"
    template_name = "dispatch/board.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        municipality = user.municipality
        center = (
            [municipality.center_lat, municipality.center_lon]
            if municipality and municipality.center_lat is not None
            else list(settings.LEAFLET_CONFIG["DEFAULT_CENTER"])
        )
        context["board_config"] = {
            "wsPath": "/ws/dispatch/board/",
            "snapshotUrl": reverse("dispatch-board"),
            "jobsUrl": "/api/v1/jobs/",
            "jobPageUrl": reverse("dispatch:job_detail", args=[0]).replace("/0/", "/{id}/"),
            "newJobUrl": reverse("dispatch:job_create"),
            "streetsUrl": reverse("streets"),
            "tileUrl": settings.KINISI_TILE_URL,
            "center": center,
            "canEdit": has_capability(user, "dispatch.edit"),
            "canOverride": is_administrator(user),
            "openJob": self.request.GET.get("job", ""),
            "timeZone": municipality.timezone if municipality else settings.TIME_ZONE,
        }
        return context
