"""Pages: the user's own notifications (list, mark read, mark all read) and, for the
municipality's administrators, its notification rules."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import CreateView, ListView, TemplateView, UpdateView

from config.redirects import safe_next
from fleet.choices import Role
from fleet.permissions import CapabilityRequiredMixin
from fleet.scoping import ScopedQuerysetMixin
from notifications import selectors, services
from notifications.forms import NotificationRuleForm
from notifications.models import Notification, NotificationRule

PER_PAGE = 50


def _back(request) -> HttpResponseRedirect:
    return HttpResponseRedirect(
        safe_next(request, request.POST.get("next"), reverse("notifications:list"))
    )


class NotificationListView(CapabilityRequiredMixin, TemplateView):
    """The user's notifications, newest first; ``?unread=1`` for the unread ones only."""

    capability = "notifications.view"
    template_name = "notifications/list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = selectors.notification_list(user=self.request.user)
        unread_only = self.request.GET.get("unread") == "1"
        if unread_only:
            rows = rows.filter(read_at__isnull=True)
        page = Paginator(rows, PER_PAGE).get_page(self.request.GET.get("page"))
        items = list(page.object_list)
        for item in items:
            item.summary = selectors.event_summary(item.event_type, item.facts)
        context.update(
            page=page,
            notifications=items,
            unread_only=unread_only,
            unread=selectors.unread_count(user=self.request.user),
        )
        return context


class NotificationReadView(CapabilityRequiredMixin, View):
    """POST: mark one of the user's notifications read. Another user's is a 404."""

    capability = "notifications.view"
    model = Notification

    def _own(self, pk: int) -> Notification:
        return get_object_or_404(selectors.notification_list(user=self.request.user), pk=pk)

    def get(self, request, pk: int):
        self._own(pk)
        return HttpResponseRedirect(reverse("notifications:list"))

    def post(self, request, pk: int):
        notification = self._own(pk)
        services.notifications_mark_read(user=request.user, ids=[notification.pk])
        return _back(request)


class NotificationReadAllView(CapabilityRequiredMixin, View):
    capability = "notifications.view"

    def get(self, request):
        return HttpResponseRedirect(reverse("notifications:list"))

    def post(self, request):
        count = services.notifications_mark_all_read(user=request.user)
        if count:
            messages.success(request, _("All notifications marked as read."))
        return _back(request)


# ------------------------------------------------------------------------------------------------
# rules (the municipality's administrators)


class RuleListView(CapabilityRequiredMixin, ListView):
    capability = "municipality.edit"
    template_name = "notifications/rule_list.html"
    context_object_name = "rules"

    def get_queryset(self):
        return selectors.rule_list(user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        from notifications.forms import event_type_choices

        labels = dict(event_type_choices())
        roles = dict(Role.choices)
        for rule in context["rules"]:
            rule.type_labels = [str(labels.get(t, t)) for t in rule.event_types]
            rule.role_labels = [str(roles.get(r, r)) for r in rule.roles]
        return context


class _RuleFormMixin:
    form_class = NotificationRuleForm
    template_name = "fleet/object_form.html"
    success_url = reverse_lazy("notifications:rule_list")

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["municipality"] = self.request.user.municipality
        return kwargs

    def form_valid(self, form):
        self.object = services.notification_rule_save(
            form=form, municipality=self.request.user.municipality
        )
        messages.success(self.request, _("Notification rule saved."))
        return HttpResponseRedirect(self.get_success_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = reverse("notifications:rule_list")
        return context


class RuleCreateView(CapabilityRequiredMixin, _RuleFormMixin, CreateView):
    capability = "municipality.edit"
    model = NotificationRule

    def dispatch(self, request, *args, **kwargs):
        # A superuser outside every municipality has no municipality to make rules for.
        if request.user.is_authenticated and request.user.municipality_id is None:
            return HttpResponseRedirect(reverse("notifications:rule_list"))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form_title"] = _("New notification rule")
        return context


class RuleUpdateView(CapabilityRequiredMixin, ScopedQuerysetMixin, _RuleFormMixin, UpdateView):
    capability = "municipality.edit"
    model = NotificationRule

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["municipality"] = self.object.municipality
        return kwargs

    def form_valid(self, form):
        self.object = services.notification_rule_save(
            form=form, municipality=self.object.municipality
        )
        messages.success(self.request, _("Notification rule saved."))
        return HttpResponseRedirect(self.get_success_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form_title"] = _("Notification rule: %(name)s") % {"name": self.object.name}
        return context
