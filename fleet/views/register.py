"""Register pages. Each view parses the request and calls one selector or service."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.generic import DetailView, ListView, TemplateView, View
from django.views.generic.edit import CreateView, UpdateView

from fleet.choices import DocumentKind, FuelType, VehicleCategory, VehicleStatus
from fleet.forms import DocumentForm, DriverForm, VehicleForm
from fleet.models import Document, Driver, Vehicle
from fleet.permissions import CapabilityRequiredMixin, has_capability
from fleet.scoping import ScopedQuerysetMixin, scope_queryset
from fleet.selectors import register as selectors
from fleet.services import register as services


class DashboardView(CapabilityRequiredMixin, TemplateView):
    capability = "register.view"
    template_name = "fleet/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        municipality = self.request.user.municipality
        if municipality is not None:
            context["dashboard"] = selectors.dashboard(municipality=municipality)
        return context

    def dispatch(self, request, *args, **kwargs):
        # A driver's home is the driver's page, not the office dashboard.
        if request.user.is_authenticated and has_capability(request.user, "driver.self"):
            return HttpResponseRedirect(reverse("fleet:driver_home"))
        return super().dispatch(request, *args, **kwargs)


class DriverHomeView(CapabilityRequiredMixin, View):
    """A driver's home is the one driver's page: today's jobs, with the refuel and defect forms
    a tap away."""

    capability = "driver.self"

    def get(self, request):
        return HttpResponseRedirect(reverse("dispatch:driver_jobs"))


class RegisterListView(CapabilityRequiredMixin, ListView):
    capability = "register.view"
    paginate_by = 50
    filter_fields: tuple[str, ...] = ()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query"] = query.urlencode()
        context["search"] = self.request.GET.get("q", "")
        context["can_edit"] = has_capability(self.request.user, "register.edit")
        return context


class VehicleListView(RegisterListView):
    template_name = "fleet/vehicle_list.html"

    def get_queryset(self):
        get = self.request.GET
        return selectors.vehicle_list(
            municipality_id=self.request.user.municipality_id,
            search=get.get("q", "").strip(),
            status=get.get("status", ""),
            category=get.get("category", ""),
            fuel_type=get.get("fuel_type", ""),
            department_id=get.get("department", "") if get.get("department", "").isdigit() else "",
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filters"] = {
            "status": VehicleStatus.choices,
            "category": VehicleCategory.choices,
            "fuel_type": FuelType.choices,
        }
        context["departments"] = (
            self.request.user.municipality.departments.all()
            if self.request.user.municipality
            else []
        )
        return context


class DriverListView(RegisterListView):
    template_name = "fleet/driver_list.html"

    def get_queryset(self):
        get = self.request.GET
        return selectors.driver_list(
            municipality_id=self.request.user.municipality_id,
            search=get.get("q", "").strip(),
            department_id=get.get("department", "") if get.get("department", "").isdigit() else "",
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["departments"] = (
            self.request.user.municipality.departments.all()
            if self.request.user.municipality
            else []
        )
        return context


class DocumentListView(RegisterListView):
    template_name = "fleet/document_list.html"

    def get_queryset(self):
        qs = scope_queryset(Document.objects.select_related("vehicle", "driver"), self.request.user)
        kind = self.request.GET.get("kind", "")
        if kind:
            qs = qs.filter(kind=kind)
        search = self.request.GET.get("q", "").strip()
        if search:
            qs = qs.filter(number__icontains=search)
        return qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["kinds"] = DocumentKind.choices
        return context


class RegisterDetailView(CapabilityRequiredMixin, ScopedQuerysetMixin, DetailView):
    capability = "register.view"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_edit"] = has_capability(self.request.user, "register.edit")
        return context


class VehicleDetailView(RegisterDetailView):
    model = Vehicle
    template_name = "fleet/vehicle_detail.html"

    def get_queryset(self):
        return super().get_queryset().select_related("department").prefetch_related("documents")


class DriverDetailView(RegisterDetailView):
    model = Driver
    template_name = "fleet/driver_detail.html"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("department")
            .prefetch_related("licences", "documents")
        )


class DocumentDetailView(RegisterDetailView):
    model = Document
    template_name = "fleet/document_detail.html"


class DocumentFileView(RegisterDetailView):
    """Uploaded files are never served from a public folder: only through this scoped view."""

    model = Document

    def render_to_response(self, context, **kwargs):
        document = self.object
        if not document.file:
            raise Http404
        return FileResponse(document.file.open("rb"), filename=document.file.name.rsplit("/")[-1])


class RegisterFormMixin(CapabilityRequiredMixin):
    """Create and edit pages: the form validates, one service writes."""

    capability = "register.edit"
    template_name = "fleet/object_form.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["municipality"] = self.request.user.municipality
        return kwargs

    def save(self, form) -> Model:
        raise NotImplementedError

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        meta = self.model._meta
        if getattr(self, "object", None) is not None and self.object.pk:
            context["form_title"] = _("Edit %(what)s %(name)s") % {
                "what": meta.verbose_name,
                "name": self.object,
            }
            context["cancel_url"] = self.get_success_url()
        else:
            context["form_title"] = _("New %(what)s") % {"what": meta.verbose_name}
            context["cancel_url"] = reverse(self.success_url_name.replace("detail", "list"))
        return context

    def form_valid(self, form):
        try:
            self.object = self.save(form)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self.form_invalid(form)
        messages.success(self.request, _("Saved."))
        return HttpResponseRedirect(self.get_success_url())

    def get_success_url(self):
        return reverse(self.success_url_name, args=[self.object.pk])


def _form_fields(form, exclude: tuple[str, ...] = ()) -> dict:
    return {k: v for k, v in form.cleaned_data.items() if k not in exclude}


class VehicleCreateView(RegisterFormMixin, CreateView):
    form_class = VehicleForm
    model = Vehicle
    success_url_name = "fleet:vehicle_detail"

    def save(self, form):
        return services.vehicle_create(
            municipality=self.request.user.municipality, **_form_fields(form)
        )


class VehicleUpdateView(RegisterFormMixin, ScopedQuerysetMixin, UpdateView):
    form_class = VehicleForm
    model = Vehicle
    success_url_name = "fleet:vehicle_detail"

    def save(self, form):
        return services.vehicle_update(vehicle=self.object, **_form_fields(form))


class DriverCreateView(RegisterFormMixin, CreateView):
    form_class = DriverForm
    model = Driver
    success_url_name = "fleet:driver_detail"

    def save(self, form):
        return services.driver_create(
            municipality=self.request.user.municipality,
            licences=form.cleaned_data["licence_categories"],
            **_form_fields(form, exclude=("licence_categories",)),
        )


class DriverUpdateView(RegisterFormMixin, ScopedQuerysetMixin, UpdateView):
    form_class = DriverForm
    model = Driver
    success_url_name = "fleet:driver_detail"

    def save(self, form):
        return services.driver_update(
            driver=self.object,
            licences=form.cleaned_data["licence_categories"],
            **_form_fields(form, exclude=("licence_categories",)),
        )


class DocumentCreateView(RegisterFormMixin, CreateView):
    form_class = DocumentForm
    model = Document
    success_url_name = "fleet:document_detail"

    def get_initial(self):
        initial = super().get_initial()
        for key in ("vehicle", "driver"):
            if self.request.GET.get(key, "").isdigit():
                initial[key] = self.request.GET[key]
        return initial

    def save(self, form):
        return services.document_create(
            municipality=self.request.user.municipality, **_form_fields(form)
        )


class DocumentUpdateView(RegisterFormMixin, ScopedQuerysetMixin, UpdateView):
    form_class = DocumentForm
    model = Document
    success_url_name = "fleet:document_detail"

    def save(self, form):
        return services.document_update(document=self.object, **_form_fields(form))
