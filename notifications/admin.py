"""Admin for the notification rules (imported by fleet/admin.py with the other apps' admins)."""

from django.contrib import admin

from notifications.models import Notification, NotificationRule


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "municipality", "enabled", "in_app", "email", "suppress_minutes"]
    list_filter = ["municipality", "enabled"]
    filter_horizontal = ["departments"]
    search_fields = ["name"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "recipient",
        "event_type",
        "vehicle",
        "event_time",
        "suppressed_count",
        "read_at",
    ]
    list_filter = ["municipality", "event_type"]
    # The vehicle may be gone (null): the admin's own select_related() would leave it out.
    list_select_related = ["recipient", "vehicle"]
    raw_id_fields = ["recipient", "rule", "dispatch", "event", "vehicle"]

    def has_add_permission(self, request) -> bool:
        return False
