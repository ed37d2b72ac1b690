"""Admin registration (imported by fleet.admin; no autodiscovery, see DESIGN.md)."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from telematics import services
from telematics.models import Device, DeviceAssignment, UnknownDevice, VehicleLiveState


class DeviceAssignmentInline(admin.TabularInline):
    model = DeviceAssignment
    extra = 0
    fields = ["vehicle", "valid_from", "valid_to"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # assignments go through the service (it closes the previous one)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["unique_id", "name", "protocol", "municipality", "active", "last_seen_at"]
    list_filter = ["protocol", "active", "municipality"]
    search_fields = ["unique_id", "name"]
    readonly_fields = ["auth_token_hash", "last_seen_at", "created_at", "updated_at"]
    inlines = [DeviceAssignmentInline]


@admin.action(description=_("Adopt into my municipality"))
def adopt(modeladmin, request, queryset):
    municipality = request.user.municipality
    if municipality is None:
        modeladmin.message_user(request, _("Your user has no municipality."), messages.ERROR)
        return
    for unknown in queryset:
        try:
            services.unknown_device_adopt(unknown=unknown, municipality=municipality)
        except ValidationError as exc:
            modeladmin.message_user(request, " ".join(exc.messages), messages.ERROR)


@admin.register(UnknownDevice)
class UnknownDeviceAdmin(admin.ModelAdmin):
    list_display = [
        "unique_id",
        "protocol",
        "first_seen",
        "last_seen",
        "attempts",
        "remote_address",
    ]
    search_fields = ["unique_id"]
    actions = [adopt]


# Position is deliberately not in the admin: its change list counts the whole table on every
# page, which on the positions table takes minutes. Positions are read through the API and maps.


@admin.register(VehicleLiveState)
class VehicleLiveStateAdmin(admin.ModelAdmin):
    list_display = ["vehicle", "moving", "ignition", "speed_kmh", "fix_time", "last_seen"]
    list_filter = ["municipality", "moving"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


from telematics import motion_admin  # noqa: E402,F401  (registers the motion models)
