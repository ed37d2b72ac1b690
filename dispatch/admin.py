"""Admin pages for dispatch (registered explicitly: config/urls.py imports this module).

The audit trail is read-only here: an auditor must be able to trust it was never edited.
"""

from django.contrib import admin

from dispatch.models import (
    DispatchSettings,
    Job,
    JobEvent,
    MovementOrder,
    Plan,
    RecurrenceRule,
    Shift,
    UnloadSite,
)


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    fields = [
        "at",
        "actor",
        "actor_kind",
        "action",
        "from_status",
        "to_status",
        "vehicle",
        "reason",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "kind", "status", "vehicle", "municipality", "created_at"]
    list_filter = ["status", "kind", "municipality"]
    search_fields = ["title", "address"]
    raw_id_fields = ["vehicle", "driver", "department", "recurrence", "plan"]
    readonly_fields = ["status", "vehicle", "driver", "assigned_at", "assigned_by", "created_by"]
    inlines = [JobEventInline]


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    list_display = ["at", "job", "action", "from_status", "to_status", "actor", "actor_kind"]
    list_filter = ["action", "municipality"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MovementOrder)
class MovementOrderAdmin(admin.ModelAdmin):
    list_display = ["reference", "department", "vehicle", "starts_at", "ends_at", "status"]
    list_filter = ["status", "municipality"]
    raw_id_fields = ["vehicle", "driver", "requested_by", "decided_by"]


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ["driver", "vehicle", "starts_at", "ends_at"]
    raw_id_fields = ["driver", "vehicle"]


admin.site.register(RecurrenceRule)
admin.site.register(UnloadSite)
admin.site.register(DispatchSettings)
admin.site.register(Plan)
