"""Roles and what each may do.

A capability is a short name for one kind of access (``register.edit``). Views and API endpoints
declare the capability they need; the role table below is the one place that says who has it.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from fleet.choices import Role

ADMIN, MANAGER, DISPATCHER, MECHANIC, DRIVER, AUDITOR = (
    Role.ADMIN,
    Role.MANAGER,
    Role.DISPATCHER,
    Role.MECHANIC,
    Role.DRIVER,
    Role.AUDITOR,
)
OFFICE = frozenset({ADMIN, MANAGER, DISPATCHER, MECHANIC, AUDITOR})

CAPABILITIES: dict[str, frozenset[str]] = {
    "municipality.view": frozenset({ADMIN, AUDITOR}),
    "municipality.edit": frozenset({ADMIN}),
    "register.view": OFFICE,
    "register.edit": frozenset({ADMIN, MANAGER}),
    "telematics.view": OFFICE,
    "devices.manage": frozenset({ADMIN}),
    # Drawing, editing, importing and deleting geofences (the municipality's own places).
    "geofences.edit": frozenset({ADMIN, MANAGER}),
    "routing.use": frozenset({ADMIN, MANAGER, DISPATCHER}),
    "dispatch.view": frozenset({ADMIN, MANAGER, DISPATCHER, AUDITOR}),
    "dispatch.edit": frozenset({ADMIN, DISPATCHER}),
    "fuel.view": frozenset({ADMIN, MANAGER, AUDITOR, MECHANIC}),
    "fuel.edit": frozenset({ADMIN, MANAGER}),
    "maintenance.view": frozenset({ADMIN, MANAGER, MECHANIC, AUDITOR, DISPATCHER}),
    "maintenance.edit": frozenset({ADMIN, MANAGER, MECHANIC}),
    "reports.view": frozenset({ADMIN, MANAGER, AUDITOR}),
    "reports.generate": frozenset({ADMIN, MANAGER}),
    "driver.self": frozenset({DRIVER}),
    # Everyone reads their own notifications; rules are the administrator's.
    "notifications.view": OFFICE | {DRIVER},
}


def has_capability(user, capability: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if user.municipality_id is None:
        return False
    try:
        return user.role in CAPABILITIES[capability]
    except KeyError:
        raise ValueError(f"unknown capability {capability!r}") from None


class CapabilityRequiredMixin(LoginRequiredMixin):
    """For page views: ``capability = "register.edit"``. Missing capability gives 403."""

    capability: str = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not self.capability or not has_capability(request.user, self.capability):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class RolePermission(BasePermission):
    """For API views: ``read_capability`` for safe methods, ``write_capability`` otherwise.

    A view that declares neither is closed to everyone but superusers, so a new endpoint is never
    open by accident.
    """

    def has_permission(self, request, view) -> bool:
        attr = "read_capability" if request.method in SAFE_METHODS else "write_capability"
        capability = getattr(view, attr, "")
        if not capability:
            return bool(request.user and request.user.is_superuser)
        return has_capability(request.user, capability)
