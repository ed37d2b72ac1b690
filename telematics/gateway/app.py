"""The gateway process: servers, device registry, filtering, and the hand-over to the writer.

Flow of one frame: connection decodes it -> :meth:`Gateway.ingest` filters the fixes and builds
rows -> the writer thread commits them -> :meth:`Gateway._on_committed` (back on the loop) sends
the frame's reply. Nothing is acknowledged before it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import logging
import math
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import orjson

from telematics.gateway.config import GatewayConfig
from telematics.gateway.connections import Connection, HttpConnection, StreamConnection
from telematics.gateway.filtering import FixFilter, filter_config
from telematics.gateway.registry import UNRESOLVED, DeviceInfo, Registry
from telematics.gateway.stats import Stats
from telematics.gateway.store import EPOCH, StoreUnavailable, UnknownAttempt, open_store
from telematics.gateway.writer import Handoff, Job, LiveState, SideState, Writer
from telematics.protocols.base import Fix, Message, StreamSession

log = logging.getLogger("telematics.gateway")

STREAM_PROTOCOLS = ("teltonika", "gt06", "h02")
_MICROSECOND = timedelta(microseconds=1)


def stream_session_class(protocol: str) -> type[StreamSession] | None:
    """The StreamSession subclass that ``telematics.protocols.<protocol>`` defines."""
    try:
        module = importlib.import_module(f"telematics.protocols.{protocol}")
    except ImportError:
        return None
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, StreamSession)
            and value is not StreamSession
            and value.__module__ == module.__name__
            and not getattr(value, "__abstractmethods__", None)
        ):
            return value
    return None


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


def attributes_json(attributes: dict) -> str:
    """The attributes as JSON text for the ``jsonb`` column; encoded for every stored position.

    orjson (several times faster than ``json`` on these small dicts) for the usual case; what
    it refuses (bytes, integer keys, integers beyond 64 bits) goes through the safe path, which
    also turns NaN and infinities into null as orjson does."""
    if not attributes:
        return "{}"
    try:
        text = orjson.dumps(attributes).decode()
    except TypeError:
        return _dumps(_json_safe(attributes))
    # PostgreSQL's jsonb refuses \u0000; drop NULs rather than lose the position.
    return text if "\\u0000" not in text else _dumps(_json_safe(attributes))


def fix_row(
    fix: Fix, device_id: int, vehicle_id: int | None, municipality_id: int, server_us: int
) -> tuple:
    """The row for store.POSITION_COLUMNS, in that order; times as epoch microseconds."""
    satellites = fix.satellites
    if satellites is not None and not 0 <= satellites <= 32767:
        satellites = None
    driver_tag = fix.driver_tag
    if driver_tag:
        driver_tag = driver_tag.replace("\x00", "")[:64]
    return (
        device_id,
        vehicle_id,
        municipality_id,
        (fix.fix_time - EPOCH) // _MICROSECOND,
        server_us,
        fix.latitude,
        fix.longitude,
        fix.speed_kmh,
        fix.course,
        fix.altitude,
        fix.accuracy,
        fix.hdop,
        satellites,
        fix.valid,
        fix.ignition,
        fix.odometer,
        fix.engine_hours,
        fix.fuel_level,
        fix.battery,
        driver_tag or "",
        attributes_json(fix.attributes),
    )


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        handoff_send: Callable[[list[tuple[int, datetime, datetime]]], None] | None = None,
        on_ready: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self.config = config
        self.on_ready = on_ready
        self.stats = Stats()
        self.registry = Registry(config.unknown_recheck_interval)
        self.filter_config = filter_config(config.filters)
        self.device_states: dict[int, FixFilter] = {}
        self.handoff = Handoff(handoff_send, config.handoff_interval, self.stats)
        # Several writers (each its own connection) let the database work on one batch while
        # another commits; each device always goes to the same writer, so a device's frames are
        # committed, and acknowledged, in the order they came.
        postgres = config.database.vendor == "postgresql"
        writers = max(1, config.writers if postgres else 1)
        self.live = LiveState(config, open_store(config.database) if postgres else None, self.stats)
        self.writers = [
            Writer(
                config,
                open_store(config.database),
                self._notify,
                self.stats,
                self.handoff,
                self.live,
                i,
            )
            for i in range(writers)
        ]
        self.writer = self.writers[0]
        self._pending_limit_per_writer = config.max_pending_rows // len(self.writers)
        self.reader_store = open_store(config.database)
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-reader")
        self.side = SideState()
        self.device_seen: dict[int, datetime] = {}
        self._next_device_seen = 0.0
        self.connections: set[Connection] = set()
        self.paused_connections: set[Connection] = set()
        self.overloaded = False
        self.clock = time.monotonic()
        self.ports: dict[str, int] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._stop = asyncio.Event()
        self._lookups: dict[str, asyncio.Future] = {}
        self._reject_log: dict[tuple[int, str], list] = {}

    @property
    def pending_rows(self) -> int:
        pending = 0
        for writer in self.writers:
            pending += writer.rows_submitted - writer.rows_done
        return pending

    # --- writer -> loop ---------------------------------------------------------------------

    def _notify(self, jobs: list[Job]) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
            self.loop.call_soon_threadsafe(self._on_committed, jobs)

    def _on_committed(self, jobs: list[Job]) -> None:
        for job in jobs:
            job.owner.ack(job.reply)
        if self.overloaded and self.pending_rows < self.config.max_pending_rows // 2:
            self.overloaded = False
            paused, self.paused_connections = self.paused_connections, set()
            for connection in paused:
                connection.update_reading()

    # --- connections ------------------------------------------------------------------------

    def connection_opened(self, connection: Connection) -> None:
        self.stats.connections += 1
        if len(self.connections) >= self.config.max_connections:
            log.warning("gateway.connection_refused remote=%s reason=too_many", connection.remote)
            connection.close()
            return
        connection.last_activity = self.clock
        self.connections.add(connection)
        self.stats.connections_open = len(self.connections)

    def connection_closed(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self.paused_connections.discard(connection)
        self.stats.connections_open = len(self.connections)

    async def resolve(self, unique_id: str) -> DeviceInfo | None | object:
        """Ask the database about an id the registry does not know (one query per id at once)."""
        pending = self._lookups.get(unique_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future = self.loop.create_future()
        self._lookups[unique_id] = future
        try:
            row, assignments = await self.loop.run_in_executor(
                self.reader, self.reader_store.lookup_device, unique_id
            )
        except StoreUnavailable:
            result = UNRESOLVED
        except Exception:  # noqa: BLE001 - a failing lookup refuses one device, not the gateway
            log.exception("gateway.device_lookup_error device=%s", unique_id)
            result = UNRESOLVED
        else:
            if row is None:
                self.registry.mark_unknown(unique_id)
                result = None
            else:
                self.registry.apply([row], assignments)
                result = self.registry.get(unique_id)
        finally:
            del self._lookups[unique_id]
        future.set_result(result)
        return result

    def device_refused(self, connection: Connection, unique_id: str, reason: str) -> None:
        log.warning(
            "gateway.device_refused protocol=%s device=%s remote=%s reason=%s",
            connection.protocol_name,
            unique_id[:64],
            connection.remote,
            reason,
        )
        if reason != "unknown":
            return
        self.stats.unknown_devices += 1
        now = datetime.now(UTC)
        unique_id = unique_id[:64]
        attempt = self.side.unknown.get(unique_id)
        if attempt is None:
            self.side.unknown[unique_id] = UnknownAttempt(
                unique_id, connection.protocol_name, now, now, 1, connection.remote[:100]
            )
        else:
            attempt.attempts += 1
            attempt.last_seen = now
            attempt.remote_address = connection.remote[:100]

    # --- the hot path -------------------------------------------------------------------------

    def ingest(self, connection: Connection, info: DeviceInfo, message: Message) -> None:
        now = datetime.now(UTC)
        self.stats.frames += 1
        side = self.side
        self.device_seen[info.id] = now
        fixes = message.fixes
        if not fixes:
            vehicle_id = info.vehicle_at(now)
            if vehicle_id is not None:
                ignition = message.attributes.get("ignition")
                side.vehicle_seen[vehicle_id] = (
                    info.municipality_id,
                    info.id,
                    now,
                    ignition if isinstance(ignition, bool) else None,
                )
            if connection.inflight:
                # Keep replies in order behind the frames still waiting for their commit.
                connection.inflight += 1
                self.writers[info.id % len(self.writers)].submit(Job(connection, message.reply, []))
            else:
                connection.reply_now(message.reply)
            return
        self.stats.fixes_received += len(fixes)
        state = self.device_states.get(info.id)
        if state is None:
            state = self.device_states[info.id] = FixFilter(self.filter_config)
        check = state.check
        vehicle_at = info.vehicle_at
        device_id = info.id
        municipality_id = info.municipality_id
        server_us = (now - EPOCH) // _MICROSECOND
        rows = []
        for fix in fixes:
            reason = check(fix, now)
            if reason is not None:
                self._rejected(info, fix, str(reason))
                continue
            rows.append(
                fix_row(fix, device_id, vehicle_at(fix.fix_time), municipality_id, server_us)
            )
        # Even a frame whose fixes were all refused waits for the writer: a refused duplicate may
        # be the resend of a fix that is queued but not yet committed, and must not be
        # acknowledged before it.
        connection.inflight += 1
        writer = self.writers[info.id % len(self.writers)]
        writer.submit(Job(connection, message.reply, rows))
        # Per frame only this writer's backlog is looked at (against its share of the limit).
        if (
            not self.overloaded
            and writer.rows_submitted - writer.rows_done > self._pending_limit_per_writer
        ):
            self.overloaded = True
            log.warning("gateway.backpressure pending_rows=%d", self.pending_rows)
        connection.update_reading()

    def _rejected(self, info: DeviceInfo, fix: Fix, reason: str) -> None:
        """Count every refused fix and log it, at most one line per device and reason every
        10 s (a tracker without GPS reception sends invalid fixes all day)."""
        self.stats.reject(reason)
        key = (info.id, reason)
        entry = self._reject_log.get(key)
        if entry is None or self.clock - entry[0] >= 10.0:
            suppressed = entry[1] if entry else 0
            self._reject_log[key] = [self.clock, 0]
            log.info(
                "gateway.fix_rejected device=%s fix_time=%s reason=%s suppressed=%d",
                info.unique_id,
                fix.fix_time.isoformat(),
                reason,
                suppressed,
            )
        else:
            entry[1] += 1

    # --- background loops ---------------------------------------------------------------------

    async def _every(self, interval: float, work: Callable) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                result = work()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # noqa: BLE001 - housekeeping must never stop the gateway
                log.exception("gateway.housekeeping_failed task=%s", work.__name__)

    def _flush_side(self, *, final: bool = False) -> None:
        side, self.side = self.side, SideState()
        # Devices' last-seen times only feed offline detection: writing them every second would
        # rewrite every device row every second for nothing.
        if final or self.clock >= self._next_device_seen:
            side.device_seen, self.device_seen = self.device_seen, {}
            self._next_device_seen = self.clock + self.config.device_seen_interval
        if side.device_seen or side.unknown or side.vehicle_seen:
            self.live.submit_side(side)

    def _tick(self) -> None:
        self.clock = time.monotonic()
        if len(self._reject_log) > 50_000:
            self._reject_log.clear()

    def _sweep_idle(self) -> None:
        limit = self.clock - self.config.idle_timeout
        for connection in [c for c in self.connections if c.last_activity < limit]:
            if connection.inflight == 0:
                log.info(
                    "gateway.connection_idle protocol=%s device=%s remote=%s",
                    connection.protocol_name,
                    connection.unique_id or "-",
                    connection.remote,
                )
                connection.close()

    async def _refresh_registry(self) -> None:
        full = self._full_reload_due <= self.clock
        since = None if full else self.registry.since
        try:
            devices, assignments, newest = await self.loop.run_in_executor(
                self.reader, self.reader_store.load_devices, since
            )
        except StoreUnavailable:
            return
        if full:
            self.registry.replace_all(devices, assignments)
            self._full_reload_due = self.clock + 300
        else:
            self.registry.apply(devices, assignments)
        if newest is not None:
            self.registry.since = newest

    def _log_stats(self) -> None:
        log.info(
            "%s pending_rows=%d registry=%d",
            self.stats.log_line(),
            self.pending_rows,
            len(self.registry),
        )

    # --- lifecycle ------------------------------------------------------------------------------

    async def _load_registry(self) -> None:
        delay = self.config.retry_initial
        while True:
            try:
                devices, assignments, newest = await self.loop.run_in_executor(
                    self.reader, self.reader_store.load_devices, None
                )
            except StoreUnavailable as exc:
                log.error("gateway.db_unavailable phase=startup reason=%s", str(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.retry_max)
                continue
            self.registry.replace_all(devices, assignments)
            self.registry.since = newest
            self._full_reload_due = self.clock + 300
            return

    async def serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self._load_registry()
        for writer in self.writers:
            writer.start(self.loop)
        self.live.start()
        self.handoff.start()
        config = self.config
        for protocol, port in config.ports.items():
            if protocol == "osmand":
                factory = lambda: HttpConnection(self)  # noqa: E731
            else:
                session_class = stream_session_class(protocol)
                if session_class is None:
                    log.error("gateway.protocol_unavailable protocol=%s", protocol)
                    continue
                options = dict(config.session_options.get(protocol, {}))
                factory = (  # noqa: E731
                    lambda p=protocol, c=session_class, o=options: StreamConnection(self, p, c, o)
                )
            server = await self.loop.create_server(
                factory, config.host, port, reuse_address=True, backlog=4096
            )
            self._servers.append(server)
            self.ports[protocol] = server.sockets[0].getsockname()[1]
            log.info("gateway.listening protocol=%s port=%d", protocol, self.ports[protocol])
        log.info("gateway.ready devices=%d ports=%s", len(self.registry), json.dumps(self.ports))
        if self.on_ready is not None:
            self.on_ready(dict(self.ports))
        tasks = [
            asyncio.ensure_future(self._every(1.0, self._tick)),
            asyncio.ensure_future(self._every(config.live_state_interval, self._flush_side)),
            asyncio.ensure_future(
                self._every(config.registry_refresh_interval, self._refresh_registry)
            ),
            asyncio.ensure_future(self._every(config.stats_interval, self._log_stats)),
            asyncio.ensure_future(self._every(30.0, self._sweep_idle)),
        ]
        for name in ("SIGTERM", "SIGINT"):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(getattr(signal, name), self._stop.set)
        try:
            await self._stop.wait()
        finally:
            log.info("gateway.stopping")
            for task in tasks:
                task.cancel()
            for server in self._servers:
                server.close()
            for connection in list(self.connections):
                connection.close()
            self._flush_side(final=True)
            for writer in self.writers:
                await self.loop.run_in_executor(None, writer.stop)
            await self.loop.run_in_executor(None, self.live.stop)
            await self.loop.run_in_executor(None, self.handoff.stop)
            self.handoff.flush()
            with contextlib.suppress(Exception):
                await self.loop.run_in_executor(self.reader, self.reader_store.close)
            self.reader.shutdown(wait=False)
            self._log_stats()
            log.info("gateway.stopped")

    def stop(self) -> None:
        """Thread-safe request to stop."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)


def run(config: GatewayConfig, **kwargs) -> None:
    """Run a gateway until SIGTERM/SIGINT, on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        uvloop = None
    # The writers and the loop hand the GIL back and forth at every database round trip. A
    # shorter switch interval shortens each wait but adds switches; measured on 2 cores, the
    # interpreter's 5 ms default gave at least the same throughput, so it is the default here.
    sys.setswitchinterval(config.gil_switch_interval)
    # Everything loaded so far (Django, settings, modules) lives as long as the process: keep it
    # out of the cyclic collector's full passes, which would otherwise rescan it again and again
    # while the hot path allocates. Only for the process that runs the gateway (tests that start
    # gateways in threads keep their collector as it is).
    gc.collect()
    gc.freeze()
    gateway = Gateway(config, **kwargs)
    if uvloop is not None:
        uvloop.run(gateway.serve())
    else:
        asyncio.run(gateway.serve())
