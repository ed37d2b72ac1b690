"""Notification rules of a municipality, what each rule decided about each motion event, and
the notifications users see in the app.

An event is known by a stable key (see ``notifications/matching.py``), not by its row id: the
motion pipeline deletes and recreates event rows whenever it rebuilds, and a rebuilt event must
not notify anyone a second time. ``NotificationDispatch`` records, per rule and event key, that
the rule has dealt with the event (delivered it, or suppressed it as part of a storm).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

EVENT_KEY_LENGTH = 120


class NotificationRule(models.Model):
    """Which event types, of vehicles of which departments (none: all), go to which roles."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="notification_rules",
        verbose_name=_("municipality"),
    )
    name = models.CharField(_("name"), max_length=200)
    # EventType values (telematics/motion/events.py).
    event_types = models.JSONField(_("event types"), default=list)
    departments = models.ManyToManyField(
        "fleet.Department",
        blank=True,
        related_name="+",
        verbose_name=_("departments"),
        help_text=_("Vehicles of these departments only; none selected: every vehicle."),
    )
    # fleet.choices.Role values.
    roles = models.JSONField(_("roles"), default=list)
    in_app = models.BooleanField(_("in the app"), default=True)
    email = models.BooleanField(_("by e-mail"), default=False)
    suppress_minutes = models.PositiveIntegerField(
        _("repeat at most every (minutes)"),
        default=15,
        help_text=_(
            "The same event of the same vehicle notifies at most once in this many minutes; "
            "the rest are counted."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("notification rule")
        verbose_name_plural = _("notification rules")
        ordering = ["name"]
        indexes = [models.Index(fields=["municipality", "enabled"], name="notifyrule_municipality")]

    def __str__(self) -> str:
        return self.name


class NotificationDispatch(models.Model):
    """One rule's decision about one event: delivered, or suppressed within a storm."""

    municipality = models.ForeignKey(
        "fleet.Municipality", on_delete=models.CASCADE, related_name="+"
    )
    rule = models.ForeignKey(NotificationRule, on_delete=models.CASCADE, related_name="dispatches")
    event_key = models.CharField(max_length=EVENT_KEY_LENGTH)
    device = models.ForeignKey("telematics.Device", on_delete=models.CASCADE, related_name="+")
    vehicle = models.ForeignKey(
        "fleet.Vehicle", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    event_type = models.CharField(max_length=30)
    event_time = models.DateTimeField()
    suppressed = models.BooleanField(default=False)
    # For a suppressed one: the delivered dispatch whose storm it belongs to.
    delivered = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # For a delivered one: how many events its storm suppressed.
    suppressed_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("notification dispatch")
        verbose_name_plural = _("notification dispatches")
        constraints = [
            models.UniqueConstraint(fields=["rule", "event_key"], name="notifydispatch_unique")
        ]
        indexes = [
            models.Index(
                fields=["rule", "device", "event_type", "event_time"],
                name="notifydispatch_storm",
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.event_key}"


class Notification(models.Model):
    """What one user sees in the app. A copy of the event's facts is kept: the event row itself
    is replaced whenever the pipeline rebuilds that stretch of data."""

    municipality = models.ForeignKey(
        "fleet.Municipality",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("municipality"),
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    rule = models.ForeignKey(
        NotificationRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("rule"),
    )
    dispatch = models.ForeignKey(
        NotificationDispatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
    )
    event = models.ForeignKey(
        "telematics.MotionEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("event"),
    )
    event_key = models.CharField(max_length=EVENT_KEY_LENGTH)
    event_type = models.CharField(_("event type"), max_length=30)
    event_time = models.DateTimeField(_("time"))
    vehicle = models.ForeignKey(
        "fleet.Vehicle",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("vehicle"),
    )
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    # Same event of the same vehicle again within the rule's window: counted here, not sent.
    suppressed_count = models.PositiveIntegerField(_("more like it"), default=0)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-event_time", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "event_key"], name="notification_unique_event"
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["recipient", "event_time"], name="notification_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id} {self.event_type} {self.event_time:%Y-%m-%d %H:%M}"
