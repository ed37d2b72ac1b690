"""Simulated trackers on the wire: each device talks to the gateway as the real tracker would.

No Django. A :class:`DeviceLink` keeps its device's unsent fixes in order, sends them over the
device's own protocol, and drops them only once the gateway has acknowledged them (which it does
after committing them). A refused login, a closed socket or a missing acknowledgement closes the
connection; the link reconnects with backoff and sends the same fixes again, so nothing is lost
and, positions being unique on (device, fix time), nothing is stored twice.

* OsmAnd: HTTP/1.1 ``POST /`` with a form body, one fix per request, over a kept-alive
  connection; any 2xx is the acknowledgement (as in Traccar Client).
* Teltonika: IMEI login answered ``01``; Codec 8 packets of up to ``batch`` records, each
  answered with the record count.
* GT06: login (0x01), then GPS+LBS locations (0x12), each answered with its serial number.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from telematics.protocols.base import Fix
from telematics.protocols.gt06 import encode_gt06_location, encode_gt06_login
from telematics.protocols.osmand import encode_osmand_query
from telematics.protocols.teltonika import encode_teltonika_login, encode_teltonika_packet
from telematics.simulator.motion import FleetSimulation

__all__ = ["DeviceLink", "LinkError", "LinkStats", "run_fleet"]

log = logging.getLogger("telematics.simulator")

PROTOCOLS = ("osmand", "teltonika", "gt06")


class LinkError(Exception):
    """The gateway refused or did not answer as the protocol requires."""


@dataclass
class LinkStats:
    generated: int = 0
    acknowledged: int = 0
    connections: int = 0
    failures: int = 0


@dataclass
class DeviceLink:
    """One simulated tracker's connection to the gateway, with its store-and-forward queue."""

    unique_id: str
    protocol: str
    host: str
    port: int
    batch: int = 1
    ack_timeout: float = 15.0
    max_backoff: float = 30.0
    queue: deque[Fix] = field(default_factory=deque)
    stats: LinkStats = field(default_factory=LinkStats)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"cannot simulate protocol {self.protocol!r}")
        self._wake = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._serial = itertools.count(1)

    def push(self, fixes: Iterable[Fix]) -> None:
        for fix in fixes:
            self.queue.append(fix)
            self.stats.generated += 1
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self.queue)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            if not self.queue:
                self._wake.clear()
                await _wait_any(self._wake, stop, timeout=5.0)
                continue
            try:
                if self._writer is None:
                    await self._connect()
                while self.queue and not stop.is_set():
                    count = min(self.batch, len(self.queue))
                    fixes = [self.queue[i] for i in range(count)]
                    await self._send(fixes)
                    for _ in range(count):
                        self.queue.popleft()
                    self.stats.acknowledged += count
                backoff = 1.0
            except (OSError, EOFError, TimeoutError, LinkError) as exc:
                self.stats.failures += 1
                log.warning(
                    "simulator.link_failed device=%s protocol=%s pending=%d error=%s",
                    self.unique_id,
                    self.protocol,
                    len(self.queue),
                    str(exc) or type(exc).__name__,
                )
                await self._close()
                await _wait_any(stop, timeout=backoff)
                backoff = min(backoff * 2, self.max_backoff)
        await self._close()

    # -- connection ------------------------------------------------------------------------------

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.ack_timeout
        )
        self.stats.connections += 1
        if self.protocol == "teltonika":
            reply = await self._exchange(encode_teltonika_login(self.unique_id), 1)
            if reply != b"\x01":
                raise LinkError("login refused")
        elif self.protocol == "gt06":
            serial = next(self._serial) & 0xFFFF
            reply = await self._exchange(encode_gt06_login(self.unique_id, serial), 10)
            _check_gt06_ack(reply, 0x01, serial)

    async def _close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _exchange(self, data: bytes, reply_size: int) -> bytes:
        assert self._writer is not None and self._reader is not None
        self._writer.write(data)
        await self._writer.drain()
        return await asyncio.wait_for(self._reader.readexactly(reply_size), self.ack_timeout)

    async def _send(self, fixes: list[Fix]) -> None:
        if self.protocol == "teltonika":
            reply = await self._exchange(encode_teltonika_packet(fixes), 4)
            if int.from_bytes(reply, "big") != len(fixes):
                raise LinkError(f"acknowledged {int.from_bytes(reply, 'big')} of {len(fixes)}")
        elif self.protocol == "gt06":
            for fix in fixes:
                serial = next(self._serial) & 0xFFFF
                frame = encode_gt06_location(fix, serial, odometer=fix.odometer is not None)
                _check_gt06_ack(await self._exchange(frame, 10), 0x12, serial)
        else:
            for fix in fixes:
                await self._post(encode_osmand_query(fix).encode("ascii"))

    async def _post(self, body: bytes) -> None:
        assert self._writer is not None and self._reader is not None
        head = (
            f"POST / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        )
        self._writer.write(head.encode("ascii") + body)
        await self._writer.drain()
        status_line = await asyncio.wait_for(self._reader.readline(), self.ack_timeout)
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise LinkError(f"bad HTTP status line {status_line[:40]!r}")
        status = int(parts[1])
        length = 0
        close = False
        while True:
            line = await asyncio.wait_for(self._reader.readline(), self.ack_timeout)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip() or 0)
            elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await asyncio.wait_for(self._reader.readexactly(length), self.ack_timeout)
        if close:
            await self._close()
        if not 200 <= status < 300:
            raise LinkError(f"HTTP {status}")
        if self._writer is None:
            await self._connect()


def _check_gt06_ack(reply: bytes, message_type: int, serial: int) -> None:
    if reply[:3] != b"\x78\x78\x05" or reply[3] != message_type:
        raise LinkError(f"unexpected GT06 reply {reply.hex()}")
    if int.from_bytes(reply[4:6], "big") != serial:
        raise LinkError(f"GT06 ack for serial {int.from_bytes(reply[4:6], 'big')}, sent {serial}")


async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_fleet(
    simulation: FleetSimulation,
    links: Mapping[str, DeviceLink],
    *,
    speedup: float = 1.0,
    until: int | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.time,
    tick_s: float = 1.0,
    status_every_s: float = 30.0,
    finished: Callable[[], bool] | None = None,
) -> dict[str, LinkStats]:
    """Drive ``simulation`` and feed its fixes to the links until ``until`` (simulated POSIX
    seconds) has been reached, or ``finished()`` says so (e.g. every errand done), and
    everything is acknowledged; or until ``stop`` is set.

    Simulated time runs ``speedup`` times faster than the wall clock from the simulation's start
    but never ahead of it: the gateway rightly refuses fixes from the future, so an accelerated
    run starts in the past and carries on in real time once it has caught up.
    """
    stop = stop or asyncio.Event()
    tasks = [asyncio.ensure_future(link.run(stop)) for link in links.values()]
    wall0 = clock()
    sim0 = simulation.t
    last_status = wall0
    try:
        while not stop.is_set():
            now = clock()
            target = min(sim0 + (now - wall0) * speedup, now)
            if until is not None:
                target = min(target, until)
            for fix in simulation.advance(int(target)):
                link = links.get(fix.unique_id)
                if link is not None:
                    link.push([fix])
            if now - last_status >= status_every_s:
                last_status = now
                _log_status(simulation, links)
            over = (until is not None and simulation.t >= until) or (
                finished is not None and finished()
            )
            if over and all(link.pending == 0 for link in links.values()):
                break
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # a bug in a link: do not hide it
            await _wait_any(stop, timeout=tick_s)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    _log_status(simulation, links)
    return {unique_id: link.stats for unique_id, link in links.items()}


def _log_status(simulation: FleetSimulation, links: Mapping[str, DeviceLink]) -> None:
    generated = sum(link.stats.generated for link in links.values())
    acknowledged = sum(link.stats.acknowledged for link in links.values())
    moving = sum(1 for vehicle in simulation.vehicles if vehicle.speed > 0)
    log.info(
        "simulator.status sim_time=%s vehicles=%d moving=%d generated=%d acknowledged=%d "
        "pending=%d failures=%d",
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(simulation.t)),
        len(simulation.vehicles),
        moving,
        generated,
        acknowledged,
        generated - acknowledged,
        sum(link.stats.failures for link in links.values()),
    )
