"""The writer thread: group commit of positions, acknowledgements only after the commit.

The event loop hands over one :class:`Job` per frame (its rows and the reply owed to the device).
The writer takes everything queued, writes it in one transaction and only then tells the loop,
which sends the replies. While the database is unreachable it keeps the batch, retries with
backoff and acknowledges nothing; the loop stops reading from trackers once too much is waiting.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from telematics.gateway.config import GatewayConfig
from telematics.gateway.stats import Stats
from telematics.gateway.store import (
    RowsRejected,
    Store,
    StoreUnavailable,
    UnknownAttempt,
    from_epoch_us,
)

log = logging.getLogger("telematics.gateway")

# Indexes into the position row tuple (see store.POSITION_COLUMNS).
_DEVICE, _VEHICLE, _MUNICIPALITY, _FIX_TIME = 0, 1, 2, 3
_LAT, _LON, _SPEED, _COURSE = 5, 6, 7, 8
_IGNITION = 14


class Job:
    """One frame's rows and what to do once they are committed."""

    __slots__ = ("owner", "reply", "rows")

    def __init__(self, owner, reply: bytes, rows: list[tuple]) -> None:
        self.owner = owner
        self.reply = reply
        self.rows = rows


class SideState:
    """What the event loop collected since the last flush, handed over in one piece."""

    __slots__ = ("device_seen", "unknown", "vehicle_seen")

    def __init__(self) -> None:
        self.device_seen: dict[int, datetime] = {}
        # vehicle id -> (municipality id, device id, last seen, ignition or None)
        self.vehicle_seen: dict[int, tuple[int, int, datetime, bool | None]] = {}
        self.unknown: dict[str, UnknownAttempt] = {}


class Handoff:
    """Hands stored positions to the workers: per device one time range per interval, sent in
    device order from one thread, so a device's ranges reach the broker in time order.

    Ranges are kept as epoch microseconds (as the rows carry them) and become datetimes only
    when sent. An interval's ranges go in a few messages of up to ``chunk`` devices each, not
    one per device: a broker message costs the gateway about a millisecond of CPU, which for a
    thousand trackers was a fifth of a core."""

    chunk = 250

    def __init__(
        self,
        send: Callable[[list[tuple[int, datetime, datetime]]], None] | None,
        interval: float,
        stats: Stats,
    ) -> None:
        self.send = send
        self.interval = interval
        self.stats = stats
        self._lock = threading.Lock()
        self._ranges: dict[int, list[int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-handoff", daemon=True)

    def start(self) -> None:
        if self.send is not None:
            self._thread.start()

    def add(self, ranges: dict[int, list[int]]) -> None:
        if self.send is None:
            return
        with self._lock:
            for device_id, (start, end) in ranges.items():
                current = self._ranges.get(device_id)
                if current is None:
                    self._ranges[device_id] = [start, end]
                else:
                    current[0] = min(current[0], start)
                    current[1] = max(current[1], end)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        backoff = self.interval
        while not self._stop.wait(backoff):
            backoff = self.interval
            self.flush()

    def flush(self) -> None:
        with self._lock:
            ranges, self._ranges = self._ranges, {}
        devices = sorted(ranges)
        for first in range(0, len(devices), self.chunk):
            chunk = devices[first : first + self.chunk]
            try:
                self.send(
                    [(d, from_epoch_us(ranges[d][0]), from_epoch_us(ranges[d][1])) for d in chunk]
                )
                self.stats.handed_off += len(chunk)
            except Exception as exc:  # noqa: BLE001 - a broker outage must not stop the gateway
                log.warning(
                    "gateway.handoff_failed devices=%d first=%s reason=%s",
                    len(devices) - first,
                    chunk[0],
                    exc,
                )
                # Keep these ranges and the ones not sent yet; they go with the next attempt.
                self.add({d: ranges[d] for d in devices[first:]})
                break


class Writer:
    def __init__(
        self,
        config: GatewayConfig,
        store: Store,
        notify: Callable[[list[Job]], None],
        stats: Stats,
        handoff: Handoff,
        live: LiveState,
        index: int = 0,
    ) -> None:
        self.config = config
        # Writer 0 also looks after the partitions (and, on SQLite, writes the live state).
        self.index = index
        self.store = store
        self.notify = notify  # called from this thread; must hand over to the loop itself
        self.stats = stats
        self.handoff = handoff
        self._queue: deque[Job] = deque()
        self._wake = threading.Event()
        self._kick_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        # Two counters, each written by one thread only: ``+=`` on a shared one loses updates.
        self.rows_submitted = 0  # by the loop
        self.rows_done = 0  # by the writer
        self.db_available = True
        self.live = live
        self._thread = threading.Thread(
            target=self._run, name=f"gateway-writer-{index}", daemon=True
        )

    # --- called from the event loop ---------------------------------------------------------

    @property
    def pending_rows(self) -> int:
        """Rows handed over and not yet written (or refused)."""
        return self.rows_submitted - self.rows_done

    def submit(self, job: Job) -> None:
        self._queue.append(job)
        self.rows_submitted += len(job.rows)
        # Waking the writer takes a lock and a futex call, and the woken thread then fights the
        # loop for the GIL: once per frame that was a tenth of the loop's time. The wake-up is
        # instead scheduled once, to run after the I/O callbacks of this loop iteration, so the
        # writer finds every frame read in the meantime waiting for it.
        if not self._kick_scheduled:
            self._kick_scheduled = True
            self._loop.call_soon(self._kick)

    def _kick(self) -> None:
        self._kick_scheduled = False
        self._wake.set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the thread; ``loop`` is the event loop that submits jobs."""
        self._loop = loop
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (if the database allows within ``timeout``), then stop."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=timeout)

    # --- the thread ---------------------------------------------------------------------------

    def _ensure_partitions(self) -> None:
        try:
            self.store.ensure_partitions(datetime.now(UTC))
        except StoreUnavailable as exc:
            log.error("gateway.partitions_unavailable reason=%s", str(exc)[:200])
            return
        self._next_partitions = time.monotonic() + 6 * 3600

    def _run(self) -> None:
        # On SQLite the one writer also writes the live state (a second connection would only
        # wait for the file lock); on PostgreSQL the live state has its own thread.
        live = self.live if self.index == 0 and not self.live.threaded else None
        interval = self.config.live_state_interval
        next_side = time.monotonic() + interval
        self._next_partitions = 0.0
        while True:
            if self.index == 0 and time.monotonic() >= self._next_partitions:
                self._ensure_partitions()
            timeout = max(0.0, next_side - time.monotonic()) if live else 1.0
            self._wake.wait(timeout)
            self._wake.clear()
            if self._queue:
                self._write_queued()
            if live and (time.monotonic() >= next_side or (self._stopping and not self._queue)):
                live.flush(self.store)
                next_side = time.monotonic() + interval
            if self._stopping and not self._queue:
                self.store.close()
                return

    def _take(self) -> list[Job]:
        jobs: list[Job] = []
        rows = 0
        queue = self._queue
        limit = self.config.batch_max_rows
        while queue and rows < limit:
            job = queue.popleft()
            jobs.append(job)
            rows += len(job.rows)
        return jobs

    def _write_queued(self) -> None:
        while self._queue:
            jobs = self._take()
            rows = [row for job in jobs for row in job.rows]
            if rows:
                inserted = self._write_with_retry(rows)
                if inserted is None:
                    # Stopping while the database is down: nothing acknowledged, trackers resend.
                    self._queue.clear()
                    return
                with self.stats.lock:
                    self.stats.stored += inserted
                    self.stats.duplicates += len(rows) - inserted
                    self.stats.batches += 1
                if len(rows) > inserted:
                    log.debug("gateway.duplicates_ignored count=%d", len(rows) - inserted)
                self._after_commit(rows)
            self.rows_done += len(rows)
            self.notify(jobs)

    def _write_with_retry(self, rows: list[tuple]) -> int | None:
        delay = self.config.retry_initial
        down_since = None
        while True:
            try:
                inserted = self._write_splitting(rows)
            except StoreUnavailable as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    self.db_available = False
                    with self.stats.lock:
                        self.stats.db_outages += 1
                    log.error(
                        "gateway.db_unavailable pending_rows=%d reason=%s",
                        self.pending_rows,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    )
                if self._stopping and time.monotonic() - down_since > 5:
                    return None
                time.sleep(delay)
                delay = min(delay * 2, self.config.retry_max)
                continue
            if down_since is not None:
                self.db_available = True
                log.warning(
                    "gateway.db_available outage_s=%.1f pending_rows=%d",
                    time.monotonic() - down_since,
                    self.pending_rows,
                )
            return inserted

    def _write_splitting(self, rows: list[tuple]) -> int:
        """Write; if the database refuses a value, find the offending rows by halving, store
        the rest and log each refused row (a bad value must not block every tracker)."""
        try:
            return self.store.write_positions(rows)
        except RowsRejected as exc:
            if len(rows) == 1:
                row = rows[0]
                with self.stats.lock:
                    self.stats.reject("database")
                fix_time = row[_FIX_TIME]
                log.warning(
                    "gateway.fix_rejected device=%s fix_time=%s reason=database detail=%s",
                    row[_DEVICE],
                    from_epoch_us(fix_time).isoformat() if type(fix_time) is int else fix_time,
                    str(exc).splitlines()[0] if str(exc) else "",
                )
                return 0
            middle = len(rows) // 2
            return self._write_splitting(rows[:middle]) + self._write_splitting(rows[middle:])

    def _after_commit(self, rows: list[tuple]) -> None:
        """Per device the stored time range (for the hand-off) and per vehicle its newest
        position (the live state); fix times are epoch microseconds here."""
        ranges: dict[int, list[int]] = {}
        live: dict[int, list] = {}
        # The newest ignition reading per vehicle in this batch; LiveState fills the rest in.
        last_ignition: dict[int, bool] = {}
        now = datetime.now(UTC)
        moving_speed = self.config.moving_speed_kmh
        for row in rows:
            fix_time = row[_FIX_TIME]
            device_range = ranges.get(row[_DEVICE])
            if device_range is None:
                ranges[row[_DEVICE]] = [fix_time, fix_time]
            elif fix_time < device_range[0]:
                device_range[0] = fix_time
            elif fix_time > device_range[1]:
                device_range[1] = fix_time
            vehicle_id = row[_VEHICLE]
            if vehicle_id is None:
                continue
            ignition = row[_IGNITION]
            if ignition is not None:
                last_ignition[vehicle_id] = ignition
            current = live.get(vehicle_id)
            if current is None or fix_time >= current[3]:
                speed = row[_SPEED]
                live[vehicle_id] = [
                    vehicle_id,
                    row[_MUNICIPALITY],
                    row[_DEVICE],
                    fix_time,
                    row[_LAT],
                    row[_LON],
                    speed,
                    row[_COURSE],
                    last_ignition.get(vehicle_id),
                    speed is not None and speed >= moving_speed,
                    now,
                    now,
                ]
            else:
                current[10] = now
        self.handoff.add(ranges)
        self.live.merge(live)


class LiveState:
    """Each vehicle's newest position and last-seen time, and the devices' bookkeeping, written
    every ``live_state_interval``.

    On PostgreSQL it has its own thread and connection: the upsert of a thousand vehicles takes
    tens of milliseconds, and a position writer doing it would hold its trackers' replies
    that long, twice a second. On SQLite writer 0 calls :meth:`flush` itself."""

    def __init__(self, config: GatewayConfig, store: Store | None, stats: Stats) -> None:
        self.config = config
        self.store = store
        self.stats = stats
        self.threaded = store is not None
        self._lock = threading.Lock()
        # vehicle id -> live row (store.LIVE_COLUMNS, fix time in epoch microseconds)
        self._live: dict[int, list] = {}
        self._side: deque[SideState] = deque()
        # vehicle id -> last ignition reading (from positions or heartbeats)
        self._ignition: dict[int, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-live", daemon=True)

    def merge(self, rows: dict[int, list]) -> None:
        """A writer's newest rows per vehicle from one committed batch (or rows to keep)."""
        if not rows:
            return
        with self._lock:
            live = self._live
            ignition = self._ignition
            for vehicle_id, row in rows.items():
                if row[8] is None:
                    row[8] = ignition.get(vehicle_id)
                else:
                    ignition[vehicle_id] = row[8]
                current = live.get(vehicle_id)
                if current is None or row[3] >= current[3]:
                    if current is not None and current[10] > row[10]:
                        row[10] = current[10]
                    live[vehicle_id] = row
                elif row[10] > current[10]:
                    current[10] = row[10]

    def submit_side(self, side: SideState) -> None:
        with self._lock:
            self._side.append(side)

    def start(self) -> None:
        if self.threaded:
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after a last flush (call once the writers have stopped)."""
        if not self.threaded:
            return
        self._stop.set()
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.config.live_state_interval):
            self.flush()
        self.flush()
        self.store.close()

    def flush(self, store: Store | None = None) -> None:
        """Write what came since the last flush (with ``store``, or the own one)."""
        store = store or self.store
        with self._lock:
            live, self._live = self._live, {}
            sides, self._side = self._side, deque()
        device_seen: dict[int, datetime] = {}
        unknown: dict[str, UnknownAttempt] = {}
        vehicle_seen: dict[int, tuple[int, int, datetime, bool | None]] = {}
        for side in sides:
            device_seen.update(side.device_seen)
            vehicle_seen.update(side.vehicle_seen)
            for unique_id, attempt in side.unknown.items():
                merged = unknown.get(unique_id)
                if merged is None:
                    unknown[unique_id] = attempt
                else:
                    merged.attempts += attempt.attempts
                    merged.last_seen = attempt.last_seen
                    merged.remote_address = attempt.remote_address
                    merged.protocol = attempt.protocol
        # A heartbeat without a position still tells that the vehicle is there (and its
        # ignition): it refreshes last_seen of a vehicle whose live state exists.
        touch: list[tuple[int, datetime, bool | None]] = []
        for vehicle_id, (_municipality, _device, seen, ignition) in vehicle_seen.items():
            if ignition is not None:
                with self._lock:
                    self._ignition[vehicle_id] = ignition
            current = live.get(vehicle_id)
            if current is None:
                touch.append((vehicle_id, seen, ignition))
                continue
            current[10] = max(current[10], seen)
            if ignition is not None:
                current[8] = ignition
        if not (live or device_seen or unknown or touch):
            return
        try:
            store.write_side_state(
                [(*row[:3], from_epoch_us(row[3]), *row[4:]) for row in live.values()],
                sorted(device_seen.items()),
                list(unknown.values()),
                touch,
            )
        except StoreUnavailable:
            # Keep the live rows (newer ones that came meanwhile win); device and unknown-device
            # bookkeeping comes back with the next messages.
            self.merge(live)
            return
        except RowsRejected as exc:
            log.warning("gateway.live_state_rejected reason=%s", str(exc).splitlines()[0])
        with self.stats.lock:
            self.stats.live_updates += len(live)
