"""``manage.py simulate_fleet``: demo vehicles driving real streets, reporting to the gateway.

Wiring only: the vehicles and their trackers come from ``telematics.simulator.provision``, the
motion from ``telematics.simulator.motion`` (pure), the protocols from
``telematics.simulator.transport``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from datetime import UTC, datetime
from datetime import time as clock_time

from django.core.management.base import BaseCommand, CommandError

from dispatch.routing.registry import RoutingUnavailable, router_for
from fleet.models import Municipality
from telematics.gateway.config import DEFAULT_PORTS
from telematics.motion.workcalendar import WorkingCalendar
from telematics.simulator.motion import FleetSimulation, RoadMap
from telematics.simulator.provision import fleet_prepare
from telematics.simulator.transport import PROTOCOLS, DeviceLink, run_fleet

# Trackers of this kind buffer while they cannot send and empty the buffer in one packet.
_TELTONIKA_BATCH = 10
# How far back an accelerated run starts when not told: it replays this much of the past at
# the chosen speed, then carries on in real time (the gateway refuses fixes from the future).
_DEFAULT_REPLAY_S = 8 * 3600


def _start_time(value: str | None, speedup: float) -> datetime:
    now = datetime.now(UTC)
    if value in (None, ""):
        if speedup > 1:
            return datetime.fromtimestamp(now.timestamp() - _DEFAULT_REPLAY_S, UTC)
        return now
    if value == "now":
        return now
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--start wants an ISO 8601 time or 'now', got {value!r}") from None
    if start.tzinfo is None:
        raise CommandError("--start needs a time zone (e.g. 2025-03-04T06:30+02:00)")
    if start > now:
        raise CommandError("--start cannot be in the future: the gateway refuses future fixes")
    return start


def _calendar(value: str) -> WorkingCalendar:
    if value == "always":
        always = ((clock_time(0, 0), clock_time(23, 59, 59)),)
        return WorkingCalendar(week=(always,) * 7, public_holidays=False)
    try:
        start_text, end_text = value.split("-")
        start = clock_time.fromisoformat(start_text)
        end = clock_time.fromisoformat(end_text)
    except ValueError:
        raise CommandError(
            f"--working-hours wants HH:MM-HH:MM or 'always', got {value!r}"
        ) from None
    weekday = ((start, end),)
    try:
        return WorkingCalendar(week=(weekday,) * 5 + ((), ()))
    except ValueError as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "Drive demo vehicles along the municipality's real streets and report their positions "
        "to the gateway over the real tracker protocols (OsmAnd, Teltonika, GT06)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--vehicles", type=int, default=10, help="how many (default 10)")
        parser.add_argument(
            "--speedup", type=float, default=1.0, help="simulated seconds per second (default 1)"
        )
        parser.add_argument("--municipality", metavar="SLUG", help="default: the first one")
        parser.add_argument("--host", default="127.0.0.1", help="the gateway's address")
        for protocol in PROTOCOLS:
            parser.add_argument(
                f"--{protocol}-port",
                type=int,
                default=DEFAULT_PORTS[protocol],
                dest=f"{protocol}_port",
            )
        parser.add_argument(
            "--protocols",
            default=",".join(PROTOCOLS),
            help="protocols of new simulator trackers, in rotation (default: all three)",
        )
        parser.add_argument(
            "--working-hours",
            default="07:00-15:00",
            help="Monday-Friday shift, Europe/Athens (HH:MM-HH:MM), or 'always'",
        )
        parser.add_argument(
            "--start",
            help="simulated start (ISO 8601 with zone, or 'now'); default now, or 8 hours ago "
            "when accelerated",
        )
        parser.add_argument("--duration", type=float, help="stop after this many simulated seconds")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options) -> None:
        logging.getLogger("telematics.simulator").setLevel(logging.INFO)
        if options["vehicles"] < 1:
            raise CommandError("--vehicles must be at least 1")
        if options["speedup"] <= 0:
            raise CommandError("--speedup must be positive")
        protocols = [p.strip() for p in options["protocols"].split(",") if p.strip()]
        if not protocols or any(p not in PROTOCOLS for p in protocols):
            raise CommandError(f"--protocols: choose from {', '.join(PROTOCOLS)}")
        municipality = self._municipality(options["municipality"])
        start = _start_time(options["start"], options["speedup"])
        calendar = _calendar(options["working_hours"])
        try:
            router = router_for(municipality)
        except RoutingUnavailable as exc:
            raise CommandError(f"no road graph for {municipality.slug}: {exc}") from None

        vehicles = fleet_prepare(
            municipality=municipality,
            count=options["vehicles"],
            protocols=protocols,
            valid_from=start,
        )
        if not vehicles:
            raise CommandError(f"{municipality.slug} has no vehicles to drive")
        simulation = FleetSimulation(
            RoadMap(router),
            [v.spec for v in vehicles],
            calendar=calendar,
            start=int(start.timestamp()),
            fuel_station=(municipality.center_lat, municipality.center_lon)
            if municipality.center_lat is not None
            else None,
            seed=options["seed"],
        )
        links = {
            v.spec.unique_id: DeviceLink(
                unique_id=v.spec.unique_id,
                protocol=v.protocol,
                host=options["host"],
                port=options[f"{v.protocol}_port"],
                batch=_TELTONIKA_BATCH if v.protocol == "teltonika" else 1,
            )
            for v in vehicles
        }
        mix = {p: sum(1 for v in vehicles if v.protocol == p) for p in PROTOCOLS}
        self.stdout.write(
            f"Simulating {len(vehicles)} vehicles of {municipality.slug} from "
            f"{start:%Y-%m-%d %H:%M} UTC at {options['speedup']:g}x "
            f"({', '.join(f'{p} {n}' for p, n in mix.items() if n)}); Ctrl+C stops."
        )
        until = None
        if options["duration"] is not None:
            until = int(start.timestamp() + options["duration"])
        stats = asyncio.run(self._run(simulation, links, options["speedup"], until))
        generated = sum(s.generated for s in stats.values())
        acknowledged = sum(s.acknowledged for s in stats.values())
        self.stdout.write(
            f"Sent {acknowledged} of {generated} positions "
            f"({generated - acknowledged} unacknowledged)."
        )

    @staticmethod
    async def _run(simulation, links, speedup, until):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return await run_fleet(
            simulation, links, speedup=speedup, until=until, stop=stop, clock=time.time
        )

    @staticmethod
    def _municipality(slug: str | None) -> Municipality:
        queryset = Municipality.objects.exclude(osm_file="").order_by("pk")
        if slug:
            municipality = queryset.filter(slug=slug).first()
            if municipality is None:
                raise CommandError(f"no municipality {slug!r} with a street map")
            return municipality
        municipality = queryset.first()
        if municipality is None:
            raise CommandError("no municipality with a street map: run seed_demo first")
        return municipality
