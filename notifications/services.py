"""Writes of the notifications app: turn new motion events into notifications, mark them read.

``notify_device_events`` runs after every motion update that stored events (task
``notifications.notify_device``, enqueued by ``telematics.motion_services``) and after the
live tracker-offline check. It looks at the device's recent events, not at the ids of one
run's rows: events are rebuilt with new ids, and what was already dealt with is known by the
event's stable key (``matching.event_key``) in ``NotificationDispatch``. So a rebuild, a
re-run or two tasks racing for the same device notify nobody twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.matching import event_key, rule_wants, storm_of, storm_window
from notifications.models import Notification, NotificationDispatch, NotificationRule

log = logging.getLogger("notifications")


@dataclass
class NotifyResult:
    events: int = 0
    delivered: int = 0
    suppressed: int = 0
    notifications: int = 0  # in-app notifications offered (a duplicate for a user is skipped)
    emails: int = 0


def max_event_age() -> timedelta:
    return timedelta(minutes=settings.KINISI_NOTIFY_MAX_AGE_MINUTES)


def notify_device_events(*, device_id: int, now: datetime | None = None) -> NotifyResult:
    """Notify the users whom the municipality's rules name about the device's events of the
    last ``KINISI_NOTIFY_MAX_AGE_MINUTES`` not dealt with yet; older events (late uploads,
    rebuilds of old data) notify nobody. E-mail goes out as one message per user."""
    from telematics.models import Device
    from telematics.motion_models import MotionEvent

    now = now or timezone.now()
    result = NotifyResult()
    device = Device.objects.filter(pk=device_id).select_related("municipality").first()
    if device is None:
        log.warning("notifications.unknown_device device=%s", device_id)
        return result
    rules = list(
        NotificationRule.objects.filter(
            municipality_id=device.municipality_id, enabled=True
        ).prefetch_related("departments")
    )
    if not rules:
        return result
    since = now - max_event_age()
    outbox: dict[Any, dict[str, Any]] = defaultdict(dict)
    with transaction.atomic():
        # One notifier per device at a time (and not while its motion is being rebuilt).
        Device.objects.select_for_update().filter(pk=device.pk).first()
        # Only the events of the device's current municipality: a tracker handed on to another
        # one keeps its old rows, which are not news for the new municipality's users.
        events = list(
            MotionEvent.objects.filter(
                device=device,
                municipality_id=device.municipality_id,
                emitted_at__gte=since,
                time__gte=since,
            )
            .select_related("vehicle")
            .order_by("time", "pk")
        )
        result.events = len(events)
        if events:
            _notify(device, rules, events, result, outbox)
    for user, items in outbox.items():
        if _send_email(user, list(items.values()), device.municipality):
            result.emails += 1
    if result.delivered or result.suppressed:
        log.info(
            "notifications.notified device=%s events=%d delivered=%d suppressed=%d "
            "notifications=%d emails=%d",
            device.unique_id,
            result.events,
            result.delivered,
            result.suppressed,
            result.notifications,
            result.emails,
        )
    return result


def _notify(device, rules, events, result: NotifyResult, outbox) -> None:
    """Each event for each rule that wants it, once: a dispatch row, then either counted into
    the storm it belongs to or delivered to the rule's recipients."""
    keys = {e.pk: event_key(device.pk, e.type, e.time, e.facts) for e in events}
    done = _dispatched(rules, set(keys.values()))
    _relink(events, keys)
    delivered = _delivered_around(device, rules, events)
    departments = {r.pk: {d.pk for d in r.departments.all()} for r in rules}
    recipients: dict[int, list[Any]] = {}
    for event in events:
        key = keys[event.pk]
        for rule in rules:
            if (rule.pk, key) in done or not _rule_wants_event(rule, departments[rule.pk], event):
                continue
            done.add((rule.pk, key))
            storm_key = (rule.pk, event.vehicle_id, event.type)
            storm = storm_of(delivered[storm_key], event.time, storm_window(rule.suppress_minutes))
            dispatch = _dispatch_record(device, rule, event, key, storm)
            if storm is not None:
                _storm_count(storm)
                result.suppressed += 1
                continue
            delivered[storm_key].append((event.time, dispatch))
            result.delivered += 1
            if rule.pk not in recipients:
                recipients[rule.pk] = rule_recipients(rule)
            _deliver(rule, dispatch, event, key, recipients[rule.pk], result, outbox)


def _dispatched(rules, keys: set[str]) -> set[tuple[int, str]]:
    """(rule, event key) pairs dealt with already, by an earlier run or a rebuild's old rows."""
    return set(
        NotificationDispatch.objects.filter(rule__in=rules, event_key__in=keys).values_list(
            "rule_id", "event_key"
        )
    )


def _delivered_around(
    device, rules, events
) -> dict[tuple, list[tuple[datetime, NotificationDispatch]]]:
    """The device's delivered (not suppressed) dispatches within the widest storm window of
    the events, by (rule, vehicle, event type): the storms new events may belong to."""
    window = max(storm_window(r.suppress_minutes) for r in rules)
    delivered: dict[tuple, list[tuple[datetime, NotificationDispatch]]] = defaultdict(list)
    for d in NotificationDispatch.objects.filter(
        rule__in=rules,
        device=device,
        suppressed=False,
        event_time__gte=events[0].time - window,
        event_time__lte=events[-1].time + window,
    ):
        delivered[(d.rule_id, d.vehicle_id, d.event_type)].append((d.event_time, d))
    return delivered


def _rule_wants_event(rule, department_ids: set[int], event) -> bool:
    return rule_wants(
        event_types=rule.event_types,
        department_ids=department_ids,
        event_type=event.type,
        vehicle_department_id=event.vehicle.department_id if event.vehicle else None,
    )


def _dispatch_record(device, rule, event, key: str, storm) -> NotificationDispatch:
    """The row that says ``rule`` dealt with ``event``: suppressed when it falls into the
    storm of an earlier delivered ``storm``."""
    return NotificationDispatch.objects.create(
        municipality_id=device.municipality_id,
        rule=rule,
        event_key=key,
        device=device,
        vehicle_id=event.vehicle_id,
        event_type=event.type,
        event_time=event.time,
        suppressed=storm is not None,
        delivered=storm,
    )


def _storm_count(storm: NotificationDispatch) -> None:
    """One more event suppressed into ``storm``: on its dispatch and on its notifications."""
    NotificationDispatch.objects.filter(pk=storm.pk).update(
        suppressed_count=F("suppressed_count") + 1
    )
    Notification.objects.filter(dispatch=storm).update(suppressed_count=F("suppressed_count") + 1)


def _deliver(rule, dispatch, event, key, users, result: NotifyResult, outbox) -> None:
    if rule.in_app and users:
        created = Notification.objects.bulk_create(
            [
                Notification(
                    municipality_id=dispatch.municipality_id,
                    recipient=user,
                    rule=rule,
                    dispatch=dispatch,
                    event=event,
                    event_key=key,
                    event_type=event.type,
                    event_time=event.time,
                    vehicle_id=event.vehicle_id,
                    latitude=event.latitude,
                    longitude=event.longitude,
                    facts=event.facts,
                )
                for user in users
            ],
            # Two rules naming the same user for the same event: one notification.
            ignore_conflicts=True,
        )
        result.notifications += len(created)
    if rule.email:
        for user in users:
            if user.email:
                outbox[user].setdefault(key, event)


def _relink(events, keys: dict[int, str]) -> None:
    """Notifications of events that a rebuild replaced point at the new event rows."""
    by_key = {keys[e.pk]: e.pk for e in events}
    stale = (
        Notification.objects.filter(event_key__in=list(by_key))
        .exclude(event_id__in=list(by_key.values()))
        .values_list("event_key", flat=True)
        .distinct()
    )
    for key in list(stale):
        Notification.objects.filter(event_key=key).update(event_id=by_key[key])


def rule_recipients(rule: NotificationRule) -> list[Any]:
    """Active users of the rule's municipality having one of its roles."""
    if not rule.roles:
        return []
    return list(
        get_user_model()
        .objects.filter(municipality_id=rule.municipality_id, is_active=True, role__in=rule.roles)
        .order_by("pk")
    )


def _send_email(user, events: list[Any], municipality) -> bool:
    from notifications.selectors import event_summary

    tz = municipality.timezone or settings.TIME_ZONE
    with translation.override(settings.LANGUAGE_CODE), timezone.override(tz):
        lines = [
            f"{timezone.localtime(e.time):%d/%m/%Y %H:%M}  "
            f"{e.vehicle or _('no vehicle')}  {event_summary(e.type, e.facts)}"
            for e in sorted(events, key=lambda e: e.time)
        ]
        subject = ngettext("Kinisi: %(n)s new alert", "Kinisi: %(n)s new alerts", len(events)) % {
            "n": len(events)
        }
        body = "\n".join([_("New alerts of your fleet:"), "", *lines, ""])
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except Exception as exc:  # noqa: BLE001 - a mail outage must not lose the in-app notifications
        log.warning("notifications.email_failed user=%s reason=%s", user.pk, exc)
        return False
    return True


# ------------------------------------------------------------------------------------------------
# the user's own notifications


def notifications_mark_read(*, user, ids: list[int]) -> int:
    """Mark the user's own notifications among ``ids`` read; returns how many changed."""
    return Notification.objects.filter(recipient=user, pk__in=ids, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# ------------------------------------------------------------------------------------------------
# rules


def notification_rule_save(*, form, municipality) -> NotificationRule:
    """Save a validated ``NotificationRuleForm`` as a rule of ``municipality``."""
    with transaction.atomic():
        rule = form.save(commit=False)
        rule.municipality = municipality
        rule.save()
        form.save_m2m()
    log.info("notifications.rule_saved rule=%s municipality=%s", rule.pk, municipality.pk)
    return rule
