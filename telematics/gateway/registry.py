"""Known devices, kept in memory: a lookup per frame must not cost a database round trip."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import datetime

from telematics.gateway.store import AssignmentRow, DeviceRow


def token_hash(token: str) -> str:
    """How device tokens are stored (``Device.auth_token_hash``): SHA-256 hex.

    Tokens are long random strings issued by Kinisi, so a fast hash is enough; a password hash
    (PBKDF2) would cost milliseconds on every request of every device."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class DeviceInfo:
    id: int
    unique_id: str
    protocol: str
    municipality_id: int
    active: bool
    token_hash: str
    # (valid_from, valid_to or None, vehicle_id), sorted by valid_from.
    assignments: list[tuple[datetime, datetime | None, int]] = field(default_factory=list)

    def vehicle_at(self, moment: datetime) -> int | None:
        """The vehicle the device was in at ``moment`` (the newest assignment wins)."""
        assignments = self.assignments
        if assignments:
            # The usual case, once per fix: the newest assignment is open and began before it.
            valid_from, valid_to, vehicle_id = assignments[-1]
            if valid_to is None and valid_from <= moment:
                return vehicle_id
        for valid_from, valid_to, vehicle_id in reversed(assignments):
            if valid_from <= moment and (valid_to is None or moment < valid_to):
                return vehicle_id
        return None

    def token_matches(self, token: str | None) -> bool:
        if not self.token_hash:
            return True  # no token configured: the device is identified by its id alone
        if not token:
            return False
        return hmac.compare_digest(self.token_hash, token_hash(token))


UNRESOLVED = object()


class Registry:
    """unique id -> :class:`DeviceInfo`. Used from the event loop thread only."""

    def __init__(self, unknown_recheck_interval: float) -> None:
        self._by_unique_id: dict[str, DeviceInfo] = {}
        self._unique_id_by_id: dict[int, str] = {}
        self._unknown_checked: dict[str, float] = {}
        self.unknown_recheck_interval = unknown_recheck_interval
        self.since: datetime | None = None

    def __len__(self) -> int:
        return len(self._by_unique_id)

    def get(self, unique_id: str) -> DeviceInfo | None | object:
        """The device, ``None`` if it is unknown (checked recently), or :data:`UNRESOLVED` when
        the database should be asked."""
        info = self._by_unique_id.get(unique_id)
        if info is not None:
            return info
        checked = self._unknown_checked.get(unique_id)
        if checked is not None and time.monotonic() - checked < self.unknown_recheck_interval:
            return None
        return UNRESOLVED

    def mark_unknown(self, unique_id: str) -> None:
        if len(self._unknown_checked) > 100_000:
            # A scan of random ids must not grow this without bound.
            self._unknown_checked.clear()
        self._unknown_checked[unique_id] = time.monotonic()

    def apply(self, devices: list[DeviceRow], assignments: list[AssignmentRow]) -> None:
        by_device: dict[int, list[tuple[datetime, datetime | None, int]]] = {}
        for a in assignments:
            by_device.setdefault(a.device_id, []).append((a.valid_from, a.valid_to, a.vehicle_id))
        for row in devices:
            old_unique_id = self._unique_id_by_id.get(row.id)
            if old_unique_id is not None and old_unique_id != row.unique_id:
                self._by_unique_id.pop(old_unique_id, None)
            info = DeviceInfo(
                id=row.id,
                unique_id=row.unique_id,
                protocol=row.protocol,
                municipality_id=row.municipality_id,
                active=bool(row.active),
                token_hash=row.token_hash or "",
                assignments=sorted(by_device.get(row.id, []), key=lambda a: a[0]),
            )
            self._by_unique_id[row.unique_id] = info
            self._unique_id_by_id[row.id] = row.unique_id
            self._unknown_checked.pop(row.unique_id, None)

    def replace_all(self, devices: list[DeviceRow], assignments: list[AssignmentRow]) -> None:
        """A full reload: also forgets devices deleted from the database."""
        self._by_unique_id.clear()
        self._unique_id_by_id.clear()
        self.apply(devices, assignments)
