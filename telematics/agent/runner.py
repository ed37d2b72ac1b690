"""The running agent: one thread reads gpsd into the queue, one sends the queue to the server.

Two threads, not one loop, so that a slow or absent server never delays reading gpsd (a network
cut must not lose positions) and a hung gpsd never delays sending what is already queued. Each
thread opens its own connection to the queue file; SQLite's WAL mode lets them work at once.
Both wait on :class:`threading.Event` objects, so :meth:`Agent.request_stop` interrupts any
sleep or backoff at once; only an HTTP request in flight (bounded by its timeout) or a gpsd poll
(bounded by the gpsd timeout) can delay the stop.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from telematics.agent.fix import format_time
from telematics.agent.fix_queue import DEFAULT_MAX_ROWS, FixQueue
from telematics.agent.gpsd_adapter import GpsdAdapter, GpsdUnavailable
from telematics.agent.sender import (
    DEFAULT_BATCH_PATH,
    Backoff,
    HttpTransport,
    Request,
    ServerUnreachable,
    encode_batch,
    encode_osmand,
)

__all__ = [
    "MAX_BATCH_SIZE",
    "MODES",
    "Agent",
    "AgentConfig",
    "FixSender",
    "GpsReader",
    "read_battery",
]

logger = logging.getLogger(__name__)

MODES = ("osmand", "batch")
# The gateway refuses larger batches (telematics/gateway/agent_batch.py, MAX_POSITIONS); a batch
# it refuses would be retried for ever.
MAX_BATCH_SIZE = 1000
# What an operator should look at, by the gateway's answers (Traccar answers 400 as well when it
# does not know the device).
_REJECTION_HINTS = {
    400: "unknown_device_or_bad_request",
    401: "check_device_token",
    403: "check_device_token",
    404: "check_server_url",
    413: "batch_too_large",
}
# gpsd runs next to the agent; waiting minutes for it to come back makes no sense.
_GPSD_BACKOFF_MAX = 30.0


@dataclass(frozen=True, slots=True)
class AgentConfig:
    server_url: str
    device_id: str
    queue_path: Path
    token: str | None = None
    mode: str = "osmand"
    batch_path: str = DEFAULT_BATCH_PATH
    batch_size: int = 100
    interval: float = 10.0
    queue_max: int = DEFAULT_MAX_ROWS
    gpsd_host: str = "127.0.0.1"
    gpsd_port: int = 2947
    gpsd_timeout: float = 5.0
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    http_timeout: float = 15.0
    battery_path: Path | None = None
    #: while draining a backlog, at most one ``agent.sent`` line per this many seconds
    sent_log_every: float = 10.0

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == "batch" and not self.token:
            problems.append("batch mode needs the device token")
        if not self.device_id:
            problems.append("device id is empty")
        if self.interval <= 0:
            problems.append("interval must be positive")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            problems.append(f"batch size must be 1 to {MAX_BATCH_SIZE}")
        if self.queue_max < 1:
            problems.append("queue size must be at least 1")
        if not (0 < self.backoff_base <= self.backoff_max):
            problems.append("backoff needs 0 < base <= max")
        if self.http_timeout <= 0 or self.gpsd_timeout <= 0:
            problems.append("timeouts must be positive")
        if problems:
            raise ValueError("; ".join(problems))


def read_battery(path: Path) -> float | None:
    """Battery percent from a one-number file such as ``/sys/class/power_supply/BAT0/capacity``;
    ``None`` if unreadable or outside 0..100 (a missing value, never a guessed one)."""
    try:
        value = float(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return value if 0.0 <= value <= 100.0 else None


class GpsReader:
    """Polls gpsd every ``interval`` seconds and appends new fixes to the queue."""

    def __init__(
        self,
        *,
        adapter: GpsdAdapter,
        queue_path: Path,
        queue_max: int,
        interval: float,
        stop: threading.Event,
        wake: threading.Event,
        backoff: Backoff,
        battery_path: Path | None = None,
    ) -> None:
        self.adapter = adapter
        self.queue_path = queue_path
        self.queue_max = queue_max
        self.interval = interval
        self.stop = stop
        self.wake = wake
        self.backoff = backoff
        self.battery_path = battery_path

    def run(self) -> None:
        queue = FixQueue(self.queue_path, max_rows=self.queue_max)
        failures = 0
        had_fix: bool | None = None
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    if not self.adapter.connected:
                        self.adapter.connect()
                    fix = self.adapter.read_fix()
                except GpsdUnavailable as exc:
                    failures += 1
                    delay = self.backoff.delay(failures)
                    logger.warning(
                        "agent.gpsd_unreachable host=%s port=%s retry_in=%.2f error=%s",
                        self.adapter.host,
                        self.adapter.port,
                        delay,
                        exc,
                    )
                    self.stop.wait(delay)
                    continue
                failures = 0
                if fix is None:
                    if had_fix is not False:
                        logger.info(
                            "agent.no_fix mode=%s reason=%s",
                            self.adapter.last_mode,
                            self.adapter.last_reason,
                        )
                    had_fix = False
                else:
                    if had_fix is not True:
                        logger.info("agent.fix_acquired mode=%s", fix.mode)
                    had_fix = True
                    if self.battery_path is not None:
                        fix = dataclasses.replace(fix, battery=read_battery(self.battery_path))
                    try:
                        queued = queue.put(fix)
                    except sqlite3.Error as exc:
                        logger.error(
                            "agent.queue_write_failed time=%s error=%s", format_time(fix.time), exc
                        )
                    else:
                        if queued:
                            self.wake.set()
                            logger.debug(
                                "agent.fix_queued time=%s mode=%s", format_time(fix.time), fix.mode
                            )
                self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            self.adapter.close()
            queue.close()


class FixSender:
    """Sends the queue's oldest fixes, in order, deleting them only after an HTTP 200."""

    def __init__(
        self,
        *,
        transport: HttpTransport,
        queue_path: Path,
        queue_max: int,
        device_id: str,
        stop: threading.Event,
        wake: threading.Event,
        backoff: Backoff,
        mode: str = "osmand",
        batch_path: str = DEFAULT_BATCH_PATH,
        batch_size: int = 100,
        idle_wait: float = 1.0,
        sent_log_every: float = 10.0,
    ) -> None:
        self.transport = transport
        self.queue_path = queue_path
        self.queue_max = queue_max
        self.device_id = device_id
        self.stop = stop
        self.wake = wake
        self.backoff = backoff
        self.mode = mode
        self.batch_path = batch_path
        self.batch_size = batch_size if mode == "batch" else 1
        self.idle_wait = idle_wait
        self.sent_log_every = sent_log_every

    def _encode(self, items: list) -> Request:
        if self.mode == "batch":
            return encode_batch(self.device_id, items, self.batch_path)
        return encode_osmand(self.device_id, items[0].fix)

    def run(self) -> None:
        queue = FixQueue(self.queue_path, max_rows=self.queue_max, durable_acks=False)
        failures = 0
        unlogged = 0
        last_log = time.monotonic()
        try:
            while not self.stop.is_set():
                # Clear before looking, so a fix queued after the look still wakes the wait.
                self.wake.clear()
                items = queue.peek(self.batch_size)
                if not items:
                    if unlogged:
                        logger.info("agent.sent n=%s queued=0", unlogged)
                        unlogged, last_log = 0, time.monotonic()
                    self.wake.wait(self.idle_wait)
                    continue
                try:
                    status = self.transport.post(self._encode(items))
                except ServerUnreachable as exc:
                    failures += 1
                    delay = self.backoff.delay(failures)
                    logger.warning(
                        "agent.server_unreachable retry_in=%.2f attempt=%s queued=%s error=%s",
                        delay,
                        failures,
                        queue.count(),
                        exc,
                    )
                    self.stop.wait(delay)
                    continue
                if status != 200:
                    failures += 1
                    delay = self.backoff.delay(failures)
                    logger.warning(
                        "agent.server_rejected status=%s hint=%s retry_in=%.2f attempt=%s "
                        "queued=%s",
                        status,
                        _REJECTION_HINTS.get(status, "server_error" if status >= 500 else "-"),
                        delay,
                        failures,
                        queue.count(),
                    )
                    self.stop.wait(delay)
                    continue
                queue.ack([item.id for item in items])
                if failures:
                    logger.info("agent.server_back after_attempts=%s", failures)
                failures = 0
                unlogged += len(items)
                if time.monotonic() - last_log >= self.sent_log_every:
                    # Counting is a table scan: done only when a line is due, not per request.
                    logger.info("agent.sent n=%s queued=%s", unlogged, queue.count())
                    unlogged, last_log = 0, time.monotonic()
        finally:
            if unlogged:
                logger.info("agent.sent n=%s queued=%s", unlogged, queue.count())
            self.transport.close()
            queue.close()


def _lock_queue(queue_path: Path) -> IO[str] | None:
    """Hold an exclusive lock beside the queue for the life of the process.

    Two agents on one queue (a unit started twice, a restart while the old process still shuts
    down) would both send the same fixes. The kernel drops the lock when the process dies, even
    by SIGKILL, so a crash never leaves a stale lock behind.
    """
    lock_path = queue_path.with_name(queue_path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a")  # noqa: SIM115 - held open for the whole run
    except OSError as exc:
        logger.error("agent.queue_unusable path=%s error=%s", queue_path, exc)
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        logger.error("agent.already_running queue=%s lock=%s", queue_path, lock_path)
        return None
    return handle


class Agent:
    """The whole agent: :meth:`run` blocks until :meth:`request_stop` (from a signal handler)."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self._wake = threading.Event()

    def request_stop(self, reason: str = "") -> None:
        if not self._stop.is_set():
            logger.info("agent.stopping reason=%s", reason or "requested")
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> int:
        """Run until asked to stop; the exit status for the process (0 clean, 1 unusable queue)."""
        config = self.config
        lock = _lock_queue(config.queue_path)
        if lock is None:
            return 1
        try:
            return self._run()
        finally:
            lock.close()  # releases the lock

    def _run(self) -> int:
        config = self.config
        try:
            with FixQueue(config.queue_path, max_rows=config.queue_max) as queue:
                queued, dropped = queue.count(), queue.dropped_total
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            logger.error("agent.queue_unusable path=%s error=%s", config.queue_path, exc)
            return 1
        logger.info(
            "agent.started device=%s server=%s mode=%s queue=%s queued=%s dropped_total=%s "
            "interval=%s gpsd=%s:%s",
            config.device_id,
            config.server_url,
            config.mode,
            config.queue_path,
            queued,
            dropped,
            config.interval,
            config.gpsd_host,
            config.gpsd_port,
        )
        reader = GpsReader(
            adapter=GpsdAdapter(config.gpsd_host, config.gpsd_port, timeout=config.gpsd_timeout),
            queue_path=config.queue_path,
            queue_max=config.queue_max,
            interval=config.interval,
            stop=self._stop,
            wake=self._wake,
            backoff=Backoff(
                config.backoff_base,
                max(config.backoff_base, min(config.backoff_max, _GPSD_BACKOFF_MAX)),
            ),
            battery_path=config.battery_path,
        )
        sender = FixSender(
            transport=HttpTransport(
                config.server_url, token=config.token, timeout=config.http_timeout
            ),
            queue_path=config.queue_path,
            queue_max=config.queue_max,
            device_id=config.device_id,
            stop=self._stop,
            wake=self._wake,
            backoff=Backoff(config.backoff_base, config.backoff_max),
            mode=config.mode,
            batch_path=config.batch_path,
            batch_size=config.batch_size,
            idle_wait=min(1.0, config.interval),
            sent_log_every=config.sent_log_every,
        )
        threads = [
            threading.Thread(target=self._keep_running, args=("gps", reader.run), name="gps"),
            threading.Thread(target=self._keep_running, args=("send", sender.run), name="send"),
        ]
        for thread in threads:
            # Daemon threads: if one is stuck in a blocking call past the join timeout below,
            # the process still exits; the queue is transactional, so nothing half-written stays.
            thread.daemon = True
            thread.start()
        # A timed wait keeps the main thread responsive to signals.
        while not self._stop.wait(0.5):
            pass
        deadline = time.monotonic() + max(config.http_timeout, config.gpsd_timeout) + 2.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("agent.thread_stuck name=%s", thread.name)
        try:
            with FixQueue(config.queue_path, max_rows=config.queue_max) as queue:
                queued = queue.count()
        except sqlite3.Error:
            queued = -1
        logger.info("agent.stopped queued=%s", queued)
        return 0

    def _keep_running(self, name: str, target: Callable[[], None]) -> None:
        # A bug must not silently leave the vehicle untracked: log it and start the loop again.
        while not self._stop.is_set():
            try:
                target()
            except Exception:
                logger.exception("agent.thread_failed name=%s restart_in=5", name)
                self._stop.wait(5.0)
