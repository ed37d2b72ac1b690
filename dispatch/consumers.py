"""The board's WebSocket: a snapshot on connect, then every change within a fraction of a second.

Positions are written by the gateway (another process) into the live-state table, and jobs may be
changed by workers (arrival detection) or other web processes. An in-memory channel layer does
not cross processes, so each web process runs one :class:`BoardHub` that follows the tables a few
times a second (``updated_at`` columns, indexed) for the municipalities whose boards are open in
it, and pushes what changed to its own clients: positions as one batched message per tick,
dispatch changes (jobs, queues, vehicles, movement orders) as another.

With ``REDIS_URL`` set the channel layer crosses processes: services then also publish a nudge on
the municipality's group after each commit, and every hub in every web process wakes at once
instead of at its next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.db import close_old_connections, connections
from django.utils import timezone

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.2
# Rows committed a little after a later-stamped row must not be missed: every poll looks back
# this far and drops what it already sent.
LOOK_BACK = timedelta(seconds=3)


def group_name(municipality_id: int) -> str:
    return f"dispatch.board.{municipality_id}"


def _cross_process_layer():
    layer = get_channel_layer()
    if layer is None or layer.__class__.__name__ == "InMemoryChannelLayer":
        return None
    return layer


def board_changed(municipality_id: int) -> None:
    """Tell every board of the municipality that dispatch data changed (call after commit)."""
    hub = BoardHub.current
    if hub is not None:
        hub.nudge_threadsafe(municipality_id)
    layer = _cross_process_layer()
    if layer is not None:
        try:
            async_to_sync(layer.group_send)(group_name(municipality_id), {"type": "board.nudge"})
        except Exception:  # noqa: BLE001 - the boards still catch up at their next poll
            log.warning("dispatch.board_nudge_failed municipality=%s", municipality_id)


@dataclass
class _Follow:
    """What one municipality's clients have been sent."""

    clients: set = field(default_factory=set)
    live_mark: datetime | None = None
    live_sent: dict = field(default_factory=dict)  # vehicle id -> (fix_time, last_seen, moving)
    dispatch_mark: datetime | None = None
    jobs_sent: dict = field(default_factory=dict)  # job id -> updated_at
    vehicles_sent: dict = field(default_factory=dict)  # vehicle id -> board fingerprint


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _live_key(fix_time, last_seen, moving, lat, lon) -> tuple:
    return (_iso(fix_time), _iso(last_seen), bool(moving), lat, lon)


def _follow_from_snapshot(snapshot: dict) -> _Follow:
    """What a snapshot already told the clients, so the first look sends only what is new."""
    at = datetime.fromisoformat(snapshot["at"])
    follow = _Follow(live_mark=at, dispatch_mark=at)
    for v in snapshot["vehicles"]:
        live = v.get("live")
        if live:
            follow.live_sent[v["id"]] = _live_key(
                live["fix_time"], live["last_seen"], live["moving"], live["lat"], live["lon"]
            )
        follow.vehicles_sent[v["id"]] = _fingerprint(v)
    for job in snapshot["jobs"]:
        if job.get("updated_at"):
            follow.jobs_sent[job["id"]] = datetime.fromisoformat(job["updated_at"])
    return follow


def _fingerprint(item: dict) -> tuple:
    return (
        item["state"],
        item["status"],
        tuple(item["queue"]),
        item["queue_version"],
        (item["order"] or {}).get("id"),
        item["label"],
    )


def _newest(values, current):
    values = [v for v in values if v is not None]
    if not values:
        return current
    top = max(values)
    return top if current is None or top > current else current


def _poll(municipality_id: int, follow: _Follow) -> list[dict]:
    """One look at the tables: the messages to send (runs in a worker thread)."""
    from dispatch import selectors  # noqa: PLC0415
    from dispatch.models import Job, MovementOrder, VehicleQueue  # noqa: PLC0415
    from fleet.models import Municipality, Vehicle  # noqa: PLC0415
    from telematics.models import VehicleLiveState  # noqa: PLC0415

    messages: list[dict] = []
    now = timezone.now()
    live = VehicleLiveState.objects.filter(municipality_id=municipality_id)
    if follow.live_mark is not None:
        live = live.filter(updated_at__gt=follow.live_mark - LOOK_BACK)
    rows = list(
        live.values_list(
            "vehicle_id",
            "latitude",
            "longitude",
            "speed_kmh",
            "course",
            "moving",
            "fix_time",
            "last_seen",
            "updated_at",
        )
    )
    moved = []
    for vid, lat, lon, speed, course, moving, fix_time, last_seen, _updated in rows:
        if lat is None:
            continue
        key = _live_key(fix_time, last_seen, moving, lat, lon)
        if follow.live_sent.get(vid) == key:
            continue
        follow.live_sent[vid] = key
        moved.append(
            {
                "id": vid,
                "lat": lat,
                "lon": lon,
                "speed": speed,
                "course": course,
                "moving": moving,
                "fix_time": fix_time.isoformat() if fix_time else None,
                "last_seen": last_seen.isoformat() if last_seen else None,
            }
        )
    follow.live_mark = _newest([r[8] for r in rows], follow.live_mark)
    if moved:
        messages.append({"type": "positions", "at": now.isoformat(), "vehicles": moved})

    since = follow.dispatch_mark - LOOK_BACK if follow.dispatch_mark else None

    def changed(qs, column="updated_at"):
        return qs.filter(**{f"{column}__gt": since}) if since else qs.none()

    if follow.dispatch_mark is None:
        # First poll: the snapshot already carried everything; only set the marks.
        marks = [
            Job.objects.filter(municipality_id=municipality_id)
            .order_by("-updated_at")
            .values_list("updated_at", flat=True)
            .first(),
            VehicleQueue.objects.filter(municipality_id=municipality_id)
            .order_by("-updated_at")
            .values_list("updated_at", flat=True)
            .first(),
        ]
        follow.dispatch_mark = _newest(marks, now)
        return messages
    jobs = list(changed(Job.objects.filter(municipality_id=municipality_id)))
    queues = list(
        changed(VehicleQueue.objects.filter(municipality_id=municipality_id)).values_list(
            "vehicle_id", "updated_at"
        )
    )
    vehicles = list(
        changed(Vehicle.objects.filter(municipality_id=municipality_id)).values_list(
            "pk", "updated_at"
        )
    )
    orders = list(
        changed(MovementOrder.objects.filter(municipality_id=municipality_id)).values_list(
            "vehicle_id", "updated_at"
        )
    )
    fresh_jobs = [j for j in jobs if follow.jobs_sent.get(j.pk) != j.updated_at]
    vehicle_ids = {v for v, _ in queues} | {v for v, _ in vehicles} | {v for v, _ in orders}
    vehicle_ids |= {j.vehicle_id for j in fresh_jobs if j.vehicle_id}
    follow.dispatch_mark = _newest(
        [j.updated_at for j in jobs] + [u for _, u in queues + vehicles + orders],
        follow.dispatch_mark,
    )
    payload_vehicles = []
    if vehicle_ids:
        municipality = Municipality.objects.get(pk=municipality_id)
        for item in selectors.board_vehicles(
            municipality=municipality, now=now, vehicle_ids=vehicle_ids
        ):
            fingerprint = _fingerprint(item)
            if follow.vehicles_sent.get(item["id"]) == fingerprint:
                continue
            follow.vehicles_sent[item["id"]] = fingerprint
            item.pop("live", None)  # positions travel in their own messages
            payload_vehicles.append(item)
    for job in fresh_jobs:
        follow.jobs_sent[job.pk] = job.updated_at
    if fresh_jobs or payload_vehicles:
        messages.append(
            {
                "type": "dispatch",
                "at": now.isoformat(),
                "jobs": [selectors.job_brief(j) for j in fresh_jobs],
                "vehicles": payload_vehicles,
            }
        )
    return messages


def _poll_in_thread(municipality_id: int, follow: _Follow) -> list[dict]:
    close_old_connections()
    try:
        return _poll(municipality_id, follow)
    finally:
        close_old_connections()


class BoardHub:
    """One per process and event loop: follows the tables and feeds the connected boards."""

    current: BoardHub | None = None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.follows: dict[int, _Follow] = {}
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.interval = POLL_INTERVAL_S
        # One thread of its own, so the polls never queue behind page views in Django's sync
        # thread, and its database connection is known and closed when the hub stops.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board-hub")

    @classmethod
    def get(cls) -> BoardHub:
        loop = asyncio.get_running_loop()
        hub = cls.current
        if hub is None or hub.loop is not loop or hub.loop.is_closed():
            hub = cls(loop)
            cls.current = hub
        return hub

    def nudge_threadsafe(self, municipality_id: int) -> None:
        if municipality_id in self.follows and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                self.loop.call_soon_threadsafe(self.wake.set)

    def add(self, municipality_id: int, consumer, snapshot: dict) -> None:
        follow = self.follows.get(municipality_id)
        if follow is None:
            follow = self.follows[municipality_id] = _follow_from_snapshot(snapshot)
        follow.clients.add(consumer)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self.run())

    def remove(self, municipality_id: int, consumer) -> None:
        follow = self.follows.get(municipality_id)
        if follow is None:
            return
        follow.clients.discard(consumer)
        if not follow.clients:
            del self.follows[municipality_id]
        if not self.follows:
            self.wake.set()  # lets run() notice it has nobody left and stop

    async def run(self) -> None:
        log.info("dispatch.board_hub_started")
        while self.follows:
            started = time.monotonic()
            # Cleared before looking, so a change committed during the poll wakes the next one.
            self.wake.clear()
            for municipality_id, follow in list(self.follows.items()):
                try:
                    messages = await self.loop.run_in_executor(
                        self.executor, _poll_in_thread, municipality_id, follow
                    )
                except Exception:  # noqa: BLE001 - a failed poll is retried at the next tick
                    log.exception("dispatch.board_poll_failed municipality=%s", municipality_id)
                    continue
                for message in messages:
                    await asyncio.gather(
                        *(c.send_json(message) for c in list(follow.clients)),
                        return_exceptions=True,
                    )
            spent = time.monotonic() - started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), max(0.01, self.interval - spent))
        # The hub's thread holds a database connection of its own; give it back.
        await self.loop.run_in_executor(self.executor, connections.close_all)
        log.info("dispatch.board_hub_stopped")


class BoardConsumer(AsyncJsonWebsocketConsumer):
    """``ws/dispatch/board/``: for users who may see the dispatch board."""

    municipality_id: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed, municipality_id = await database_sync_to_async(self._authorise)(user)
        if not allowed:
            await self.close(code=4403)
            return
        self.municipality_id = municipality_id
        await self.accept()
        snapshot = await database_sync_to_async(self._snapshot)()
        await self.send_json(snapshot)
        hub = BoardHub.get()
        hub.add(municipality_id, self, snapshot)
        layer = _cross_process_layer()
        if layer is not None:
            await layer.group_add(group_name(municipality_id), self.channel_name)
        log.info(
            "dispatch.board_connected user=%s municipality=%s",
            getattr(user, "pk", None),
            municipality_id,
        )

    def _authorise(self, user) -> tuple[bool, int | None]:
        from fleet.permissions import has_capability  # noqa: PLC0415

        if not has_capability(user, "dispatch.view") or user.municipality_id is None:
            return False, None
        return True, user.municipality_id

    def _snapshot(self) -> dict:
        from dispatch import selectors  # noqa: PLC0415
        from fleet.models import Municipality  # noqa: PLC0415

        municipality = Municipality.objects.get(pk=self.municipality_id)
        return selectors.board_snapshot(municipality=municipality)

    async def disconnect(self, code) -> None:
        if self.municipality_id is None:
            return
        hub = BoardHub.get()
        hub.remove(self.municipality_id, self)
        if not hub.follows and hub.task is not None:
            # The last board closed: let the hub finish and hand back its connection.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(hub.task), 5)
        layer = _cross_process_layer()
        if layer is not None:
            await layer.group_discard(group_name(self.municipality_id), self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "t": content.get("t"), "at": time.time()})
        elif kind == "resync":
            await self.send_json(await database_sync_to_async(self._snapshot)())

    async def board_nudge(self, event) -> None:
        BoardHub.get().wake.set()
