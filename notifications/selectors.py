"""Reads of the notifications app. A user only ever reads their own notifications."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from fleet.scoping import scope_queryset
from notifications.models import Notification, NotificationRule


def notification_list(*, user) -> QuerySet[Notification]:
    """The user's notifications, newest event first (scoped to the user's municipality too)."""
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return scope_queryset(Notification.objects.filter(recipient=user), user).select_related(
        "vehicle"
    )


def unread_count(*, user) -> int:
    """How many of the notifications ``notification_list`` shows are unread."""
    return notification_list(user=user).filter(read_at__isnull=True).count()


def rule_list(*, user) -> QuerySet[NotificationRule]:
    return scope_queryset(NotificationRule.objects.all(), user).prefetch_related("departments")


def event_summary(event_type: str, facts: dict[str, Any] | None) -> str:
    """The event's name and its one telling figure, for a line of text."""
    from telematics.selectors import event_label

    label = event_label(event_type)
    detail = event_detail(event_type, facts)
    return f"{label} ({detail})" if detail else label


def event_detail(event_type: str, facts: dict[str, Any] | None) -> str:
    """The event's one telling figure (a speed against its limit, a duration, a place), or
    "" when it has none; for a table whose other column already names the event."""
    facts = facts or {}
    detail = ""
    if event_type == "overspeed" and "max_speed_kmh" in facts:
        detail = _("%(speed)s km/h, limit %(limit)s km/h") % {
            "speed": round(facts["max_speed_kmh"]),
            "limit": round(facts["limit_kmh"]) if facts.get("limit_kmh") is not None else "?",
        }
    elif event_type == "idling" and "duration_s" in facts:
        detail = _("%(minutes)s min") % {"minutes": round(facts["duration_s"] / 60)}
    elif event_type == "tracker_online" and "silent_s" in facts:
        detail = _("silent for %(minutes)s min") % {"minutes": round(facts["silent_s"] / 60)}
    elif event_type == "fuel_drop" and "drop" in facts:
        detail = _("%(drop)s%% of the tank") % {"drop": round(facts["drop"])}
    elif facts.get("geofence_name"):
        detail = str(facts["geofence_name"])
    return detail
