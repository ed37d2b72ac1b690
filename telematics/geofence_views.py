"""Geofences page: every geofence of the municipality beside a map, coloured by role.

Who has ``geofences.edit`` draws polygons and circles, moves vertices, moves and resizes
circles, deletes, imports GeoJSON; everyone with ``telematics.view`` sees the page read-only and
may export. The map posts its edits here (form fields, CSRF token, JSON answer); the checks and
writes are in ``telematics.services``. Another municipality's geofence is a 404.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from fleet.permissions import CapabilityRequiredMixin, has_capability
from telematics import motion_services, selectors, services
from telematics.motion.geofence import GeofenceError
from telematics.motion_models import Geofence, GeofenceKind, GeofenceRole

log = logging.getLogger("telematics")

READ_CAPABILITY = "telematics.view"
EDIT_CAPABILITY = "geofences.edit"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# An import with more faults than this lists the first ones and says how many more there are.
MAX_PROBLEMS_SHOWN = 20

# Role colours on the map and in the list (the list's swatch is the map's fill).
ROLE_COLOURS = {
    GeofenceRole.GENERAL: "#6a51a3",
    GeofenceRole.DEPOT: "#1f5fa8",
    GeofenceRole.LANDFILL: "#8c510a",
    GeofenceRole.TRANSFER_STATION: "#e08214",
    GeofenceRole.SCHOOL: "#1a9850",
    GeofenceRole.RESTRICTED: "#c62828",
    GeofenceRole.BOUNDARY: "#37474f",
}


def _streets_url() -> str:
    try:
        return reverse("streets")
    except NoReverseMatch:
        return ""


def _json_errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            field: [str(m) for e in errs for m in e.messages]
            for field, errs in exc.error_dict.items()
        }
    return {"__all__": [str(m) for m in exc.messages]}


def _number(raw: str | None, field: str) -> float | None:
    """An optional number from a form field; a comma works as the decimal mark, as typed in
    Greece."""
    raw = (raw or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValidationError({field: _("Enter a number.")}) from None


def _geometry(raw: str | None) -> Any:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than anyone draws
        raise ValidationError(
            {"geometry": _("The shape could not be read; draw it again.")}
        ) from None


def _attributes(post) -> dict[str, Any]:
    return {
        "name": post.get("name", ""),
        "role": post.get("role", ""),
        "speed_limit_kmh": _number(post.get("speed_limit_kmh"), "speed_limit_kmh"),
        "active": post.get("active") in ("on", "true", "1"),
    }


def _page_text() -> dict[str, str]:
    """What the map's script says, translated here."""
    return {
        "newPolygon": _("New polygon"),
        "newCircle": _("New circle"),
        "polygon": _("Polygon"),
        "circle": _("Circle"),
        "confirmDelete": _("Delete this geofence? This cannot be undone."),
        "unsaved": _("The shape has changes that are not saved."),
        "failed": _("The server could not be reached; nothing was saved."),
        "drawPolygonStart": _("Click on the map to place the first corner."),
        "drawPolygonCont": _("Click to place the next corner."),
        "drawPolygonEnd": _("Click the first corner to close the polygon."),
        "drawCircleStart": _("Press and drag on the map to draw the circle."),
        "drawRelease": _("Release the mouse to finish."),
        "radius": _("Radius"),
        "crossing": _("The edges of a geofence cannot cross."),
        "editHint": _(
            "Drag a corner to change the shape, a middle mark to add a corner, the inside to "
            "move it."
        ),
        "editCircleHint": _("Drag the centre to move the circle, the edge mark to resize it."),
    }


class GeofencePageView(CapabilityRequiredMixin, TemplateView):
    """The list and the map. ``/telematics/geofences/<id>/`` opens it with that one selected."""

    capability = READ_CAPABILITY
    template_name = "telematics/geofences.html"
    selected: Geofence | None = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        municipality = user.municipality
        fences = list(selectors.geofence_list(user=user))
        can_edit = has_capability(user, EDIT_CAPABILITY) and municipality is not None
        labels = dict(GeofenceRole.choices)
        for fence in fences:
            fence.role_label = labels.get(fence.role, fence.role)
            fence.colour = ROLE_COLOURS.get(fence.role, ROLE_COLOURS[GeofenceRole.GENERAL])
        overrides = {}
        if municipality is not None and municipality.center_lat is not None:
            overrides = {
                "DEFAULT_CENTER": (municipality.center_lat, municipality.center_lon),
                "DEFAULT_ZOOM": 14,
            }
        context.update(
            fences=fences,
            can_edit=can_edit,
            roles=GeofenceRole.choices,
            role_colours=[
                (value, label, ROLE_COLOURS[value]) for value, label in GeofenceRole.choices
            ],
            leaflet_overrides=overrides,
            geofence_data=selectors.geofence_feature_collection(fences),
            geofence_config={
                "canEdit": can_edit,
                "selected": self.selected.pk if self.selected else None,
                "createUrl": reverse("telematics:geofence_create"),
                "pageUrl": reverse("telematics:geofences"),
                "tileUrl": settings.KINISI_TILE_URL,
                "streetsUrl": _streets_url(),
                "colours": {str(k): v for k, v in ROLE_COLOURS.items()},
                "roleLabels": {str(k): str(v) for k, v in labels.items()},
            },
            geofence_text=_page_text(),
            import_problems=kwargs.get("import_problems"),
        )
        return context


class _GeofenceObjectMixin:
    """Looks the geofence up in the user's municipality (404 otherwise) after the capability
    check, for every method, so another municipality's geofence is a 404 whatever is asked."""

    model = Geofence

    def get_object(self) -> Geofence:
        return get_object_or_404(
            selectors.geofence_list(user=self.request.user), pk=self.kwargs["pk"]
        )


class GeofenceDetailView(_GeofenceObjectMixin, GeofencePageView):
    """GET: the page with this geofence selected. POST (``geofences.edit``): save its
    attributes and, when ``geometry`` is sent, its new shape; answers JSON."""

    def dispatch(self, request, *args, **kwargs):
        if (
            request.method == "POST"
            and request.user.is_authenticated
            and not has_capability(request.user, EDIT_CAPABILITY)
        ):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        self.selected = self.get_object()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        fence = self.get_object()
        try:
            attrs = _attributes(request.POST)
            geometry = _geometry(request.POST.get("geometry"))
            radius = _number(request.POST.get("radius"), "radius")
            fence = services.geofence_update(
                fence=fence, geometry=geometry, radius_m=radius, **attrs
            )
        except ValidationError as exc:
            errors = _json_errors(exc)
            log.info(
                "telematics.geofence_update_rejected geofence=%s user=%s fields=%s",
                fence.pk,
                request.user.pk,
                ",".join(sorted(errors)),
            )
            return JsonResponse({"errors": errors}, status=400)
        except Geofence.DoesNotExist:
            return _geofence_gone(request, fence.pk)
        return JsonResponse({"feature": selectors.geofence_feature(fence)})


def _geofence_gone(request, pk: int) -> HttpResponse:
    """The geofence was deleted (by someone else) between the page's lookup and the save. The
    map's script asks for JSON and shows the message; a plain form post goes back to the list
    with it."""
    log.info("telematics.geofence_update_gone geofence=%s user=%s", pk, request.user.pk)
    message = _("This geofence was deleted by someone else meanwhile; your changes were not saved.")
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"errors": {"__all__": [message]}}, status=404)
    messages.warning(request, message)
    return redirect("telematics:geofences")


class GeofenceCreateView(CapabilityRequiredMixin, View):
    """POST a shape drawn on the map with its attributes; answers JSON (201 or 400)."""

    capability = EDIT_CAPABILITY
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        try:
            attrs = _attributes(request.POST)
            kind = request.POST.get("kind", "")
            if kind not in GeofenceKind.values:
                raise ValidationError({"kind": _("A geofence is a polygon or a circle.")})
            fence = services.geofence_create(
                municipality=request.user.municipality,
                kind=kind,
                geometry=_geometry(request.POST.get("geometry")),
                radius_m=_number(request.POST.get("radius"), "radius"),
                **attrs,
            )
        except ValidationError as exc:
            errors = _json_errors(exc)
            log.info(
                "telematics.geofence_create_rejected user=%s fields=%s",
                request.user.pk,
                ",".join(sorted(errors)),
            )
            return JsonResponse({"errors": errors}, status=400)
        return JsonResponse({"feature": selectors.geofence_feature(fence)}, status=201)


class GeofenceDeleteView(_GeofenceObjectMixin, CapabilityRequiredMixin, View):
    """POST deletes the geofence and answers JSON; any other method is 405 (after the lookup,
    so another municipality's geofence is still a 404)."""

    capability = EDIT_CAPABILITY

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not has_capability(request.user, self.capability):
            raise PermissionDenied
        fence = self.get_object()
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        pk = fence.pk
        services.geofence_delete(fence=fence)
        return JsonResponse({"deleted": pk})


class GeofenceImportView(CapabilityRequiredMixin, View):
    """POST a GeoJSON file (FeatureCollection, Feature or Polygon): all of it or none. Success
    goes back to the page with a count; a rejected file shows the page with every problem."""

    capability = EDIT_CAPABILITY
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        municipality = request.user.municipality
        upload = request.FILES.get("file")
        role = request.POST.get("role") or GeofenceRole.GENERAL
        problems: list[str] = []
        if municipality is None:
            problems = [_("Only a user of a municipality can import geofences.")]
        elif upload is None:
            problems = [_("Choose a GeoJSON file to import.")]
        elif upload.size > MAX_UPLOAD_BYTES:
            problems = [_("The file is too large (at most 5 MB).")]
        elif role not in GeofenceRole.values:
            problems = [_("Unknown geofence role.")]
        if not problems:
            try:
                created = motion_services.geofences_import(
                    municipality=municipality, data=upload.read(), role=role
                )
            except GeofenceError as exc:
                problems = exc.render(_)  # in the request's language
        if problems:
            log.info(
                "telematics.geofence_import_rejected user=%s problems=%d first=%r",
                request.user.pk,
                len(problems),
                problems[0],
            )
            shown = problems[:MAX_PROBLEMS_SHOWN]
            if len(problems) > len(shown):
                shown.append(_("…and %(count)d more.") % {"count": len(problems) - len(shown)})
            page = GeofencePageView()
            page.setup(request)
            context = page.get_context_data(import_problems=shown)
            return render(request, page.template_name, context, status=400)
        messages.success(
            request,
            ngettext("%(count)d geofence imported.", "%(count)d geofences imported.", len(created))
            % {"count": len(created)},
        )
        return redirect("telematics:geofences")


class GeofenceExportView(CapabilityRequiredMixin, View):
    """Every geofence of the municipality as one GeoJSON file, in the form the import takes."""

    capability = READ_CAPABILITY
    http_method_names = ["get"]

    def get(self, request, *args, **kwargs):
        fences = selectors.geofence_list(user=request.user)
        body = json.dumps(selectors.geofence_feature_collection(fences), ensure_ascii=False)
        municipality = request.user.municipality
        name = slugify(municipality.slug if municipality else "") or "kinisi"
        response = HttpResponse(body, content_type="application/geo+json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="geofences-{name}.geojson"'
        return response
