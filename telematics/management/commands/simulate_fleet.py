"""``manage.py simulate_fleet``: demo vehicles driving real streets, reporting to the gateway.

Two modes:

* the fleet's day (default): ``--vehicles`` vehicles drive their working day with random
  destinations;
* an errand: ``--vehicle <plate or id> --to <lat>,<lon>`` sends one vehicle from where it is (its
  live position, else its depot) along the router's road route to that place, where it stays
  ``--dwell`` seconds, then parks there or, with ``--then-leave``, drives back to its depot. The
  command ends when the errand is over. Accelerated (``--speedup``), the drive starts in the past
  by what the acceleration saves, so that the vehicle reaches the place about now (the gateway
  refuses fixes from the future): the drive is shown fast, the stay runs in real time. Send a
  vehicle the fleet's day is not driving at the same time: both would report for its tracker.

    manage.py simulate_fleet --vehicle ΚΗΙ-1001 --to 35.5149,24.0182 --speedup 10 --dwell 120

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
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

from django.core.management.base import BaseCommand, CommandError

from dispatch.routing.registry import RoutingUnavailable, router_for
from fleet.models import Municipality
from telematics.gateway.config import DEFAULT_PORTS
from telematics.motion.workcalendar import WorkingCalendar
from telematics.simulator.motion import Errand, FleetSimulation, ReportPolicy, RoadMap
from telematics.simulator.provision import fleet_prepare, vehicle_find
from telematics.simulator.transport import PROTOCOLS, DeviceLink, run_fleet

log = logging.getLogger("telematics.simulator")

# Trackers of this kind buffer while they cannot send and empty the buffer in one packet.
_TELTONIKA_BATCH = 10
# How far back an accelerated run starts when not told: it replays this much of the past at
# the chosen speed, then carries on in real time (the gateway refuses fixes from the future).
_DEFAULT_REPLAY_S = 8 * 3600
# An accelerated errand starts at most this far in the past (and its tracker, if new, is assigned
# to the vehicle from then on).
_ERRAND_MAX_REPLAY_S = 3600


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


def _place(value: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = value.split(",")
        return Errand((float(lat_text), float(lon_text))).destination
    except ValueError:
        raise CommandError(
            f"--to wants latitude,longitude in degrees (e.g. 35.5149,24.0182), got {value!r}"
        ) from None


def _reports(value: float | None) -> ReportPolicy | None:
    if value is None:
        return None
    if not 1 <= value <= 3600:
        raise CommandError("--report-every must be between 1 and 3600 seconds")
    every = int(value)
    return ReportPolicy(moving_s=every, idling_s=every, parked_s=every)


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
        "to the gateway over the real tracker protocols (OsmAnd, Teltonika, GT06); or, with "
        "--vehicle and --to, send one vehicle to a place (an errand)."
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
        parser.add_argument(
            "--report-every",
            type=float,
            metavar="S",
            help="trackers report every S simulated seconds, moving or not (default: 10 s "
            "moving, 60 s stopped with the engine on, 300 s parked)",
        )
        errand = parser.add_argument_group("an errand: send one vehicle to a place")
        errand.add_argument(
            "--vehicle", metavar="PLATE|ID", help="the vehicle to send: its id or plate"
        )
        errand.add_argument("--to", metavar="LAT,LON", help="where to (degrees)")
        errand.add_argument(
            "--dwell",
            type=int,
            default=600,
            metavar="S",
            help="seconds to stay there (default 600)",
        )
        errand.add_argument(
            "--then-leave", action="store_true", help="drive back to the depot after the stay"
        )

    def handle(self, *args, **options) -> None:
        logging.getLogger("telematics.simulator").setLevel(logging.INFO)
        if options["vehicles"] < 1:
            raise CommandError("--vehicles must be at least 1")
        if options["speedup"] <= 0:
            raise CommandError("--speedup must be positive")
        if bool(options["vehicle"]) != bool(options["to"]):
            raise CommandError("--vehicle and --to go together")
        if options["vehicle"]:
            try:
                self._errand(options)
            except CommandError as exc:
                log.warning("simulator.errand_refused error=%s", exc)
                raise
            return
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
            reports=_reports(options["report_every"]),
        )
        links = self._links(vehicles, options)
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
        self._summary(stats)

    def _errand(self, options) -> None:
        """One vehicle to one place (see the module's docstring)."""
        speedup = options["speedup"]
        if options["dwell"] < 0:
            raise CommandError("--dwell cannot be negative")
        destination = _place(options["to"])
        reports = _reports(options["report_every"])
        protocols = [p.strip() for p in options["protocols"].split(",") if p.strip()]
        if not protocols or any(p not in PROTOCOLS for p in protocols):
            raise CommandError(f"--protocols: choose from {', '.join(PROTOCOLS)}")
        municipality = None
        if options["municipality"]:
            municipality = self._municipality(options["municipality"])
        try:
            vehicle = vehicle_find(options["vehicle"], municipality)
        except LookupError as exc:
            raise CommandError(f"--vehicle: {exc}") from None
        municipality = vehicle.municipality
        try:
            router = router_for(municipality)
        except RoutingUnavailable as exc:
            raise CommandError(f"no road graph for {municipality.slug}: {exc}") from None
        now = datetime.now(UTC)
        prepared = fleet_prepare(
            municipality=municipality,
            count=1,
            protocols=protocols,
            valid_from=now - timedelta(seconds=_ERRAND_MAX_REPLAY_S),
            vehicle_ids=[vehicle.pk],
            from_live_position=True,
        )
        if not prepared:
            raise CommandError(
                f"{vehicle} cannot be simulated: it is off the road (status {vehicle.status}) or "
                "carries a tracker the simulator does not speak"
            )
        sim_vehicle = prepared[0]
        errand = Errand(destination, dwell_s=options["dwell"], leave=options["then_leave"])
        road = RoadMap(router)

        def simulation_from(start: datetime) -> FleetSimulation:
            return FleetSimulation(
                road,
                [sim_vehicle.spec],
                # An errand ignores working hours; the calendar only has to exist.
                calendar=_calendar("always"),
                start=int(start.timestamp()),
                seed=options["seed"],
                reports=reports,
                errands={sim_vehicle.spec.unique_id: errand},
            )

        eta = simulation_from(now).errand_eta(sim_vehicle.spec.unique_id)
        if eta is None:
            raise CommandError(f"no road route for {vehicle} to {destination[0]},{destination[1]}")
        if options["start"]:
            start = _start_time(options["start"], speedup)
        else:
            # Reach the place about now: start back by what the acceleration saves, but never
            # before the vehicle's last known fix (its live state would not move).
            replay = min(eta * (1 - 1 / speedup) if speedup > 1 else 0, _ERRAND_MAX_REPLAY_S)
            start = now - timedelta(seconds=replay)
            if sim_vehicle.last_fix_time is not None:
                start = max(start, sim_vehicle.last_fix_time + timedelta(seconds=1))
            start = min(start, now)
        simulation = simulation_from(start)
        links = self._links(prepared, options)
        self.stdout.write(
            f"Sending {sim_vehicle.label} ({sim_vehicle.protocol}) to "
            f"{destination[0]:.6f},{destination[1]:.6f}: about {eta} s of driving at "
            f"{speedup:g}x, then {errand.dwell_s} s there"
            + (", then back to its depot" if errand.leave else "")
            + "; Ctrl+C stops."
        )
        stats = asyncio.run(
            self._run(simulation, links, speedup, None, finished=lambda: simulation.errands_done)
        )
        self._summary(stats)

    def _links(self, vehicles, options) -> dict[str, DeviceLink]:
        return {
            v.spec.unique_id: DeviceLink(
                unique_id=v.spec.unique_id,
                protocol=v.protocol,
                host=options["host"],
                port=options[f"{v.protocol}_port"],
                batch=_TELTONIKA_BATCH if v.protocol == "teltonika" else 1,
            )
            for v in vehicles
        }

    def _summary(self, stats) -> None:
        generated = sum(s.generated for s in stats.values())
        acknowledged = sum(s.acknowledged for s in stats.values())
        self.stdout.write(
            f"Sent {acknowledged} of {generated} positions "
            f"({generated - acknowledged} unacknowledged)."
        )

    @staticmethod
    async def _run(simulation, links, speedup, until, finished=None):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return await run_fleet(
            simulation,
            links,
            speedup=speedup,
            until=until,
            stop=stop,
            clock=time.time,
            finished=finished,
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
