"""Pure rules of the notifier: an event's stable identity, which rule wants which event, and
whether an event belongs to the storm of one already delivered. No Django here."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any


def event_key(device_id: int, event_type: str, time: datetime, facts: dict[str, Any]) -> str:
    """Who, what and when: the same on every rebuild of the same positions.

    The pipeline is deterministic, so a rebuilt event has the same device, type and time (to
    the microsecond). Two geofences crossed at the same fix are two events: the fence's id is
    part of the key when the facts name one.
    """
    micros = round(time.astimezone(UTC).timestamp() * 1_000_000)
    key = f"{device_id}:{event_type}:{micros}"
    fence = facts.get("geofence") if isinstance(facts, dict) else None
    if fence is not None:
        key += f":g{fence}"
    return key


def rule_wants(
    *,
    event_types: Collection[str],
    department_ids: Collection[int],
    event_type: str,
    vehicle_department_id: int | None,
) -> bool:
    """A rule takes an event of one of its types, of a vehicle of one of its departments (no
    departments: any vehicle, even one in no department or with no vehicle at all)."""
    if event_type not in event_types:
        return False
    if not department_ids:
        return True
    return vehicle_department_id is not None and vehicle_department_id in department_ids


# The longest storm window a rule may set: a week. A longer one would mean "notify once, ever".
MAX_SUPPRESS_MINUTES = 7 * 24 * 60


def storm_window(suppress_minutes: int) -> timedelta:
    """A rule's storm window, never beyond ``MAX_SUPPRESS_MINUTES`` (a rule stored with more,
    outside the form, must not break the date arithmetic of the notifier)."""
    return timedelta(minutes=min(max(suppress_minutes, 0), MAX_SUPPRESS_MINUTES))


def storm_of(
    delivered: Iterable[tuple[datetime, Any]], time: datetime, window: timedelta
) -> Any | None:
    """The delivered notification (``(event time, item)`` pairs) an event at ``time`` repeats
    within ``window`` on either side, nearest first; ``None``: the event is news."""
    if window <= timedelta(0):
        return None
    best: tuple[timedelta, Any] | None = None
    for when, item in delivered:
        distance = abs(when - time)
        if distance < window and (best is None or distance < best[0]):
            best = (distance, item)
    return best[1] if best is not None else None
