"""The vehicle movement sheet (δελτίο κίνησης) for a day or a month. Pure module.

Each trip with its start and end time and place, kilometres, driver and the job or movement
order it served; the totals of each day; a map of the route drawn from the street graph; the
sheet's number in the vehicle's yearly series; signature lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from reports.generators import fmt
from reports.generators.document import (
    NUMBER,
    TIME,
    Block,
    Column,
    DocMeta,
    Facts,
    Heading,
    MapMarker,
    ReportDocument,
    RouteMap,
    Signatures,
    TableData,
    Text,
    Translate,
    gettext_noop,
    identity,
)

WEEKDAYS = (
    gettext_noop("Monday"),
    gettext_noop("Tuesday"),
    gettext_noop("Wednesday"),
    gettext_noop("Thursday"),
    gettext_noop("Friday"),
    gettext_noop("Saturday"),
    gettext_noop("Sunday"),
)


@dataclass(frozen=True)
class TripInput:
    start_time: datetime
    end_time: datetime
    start_place: str
    end_place: str
    distance_m: float
    driver: str = ""
    references: tuple[str, ...] = ()  # "Εργασία #12", "Εντολή κίνησης 3/2025"
    track: tuple[tuple[float, float], ...] = ()  # (lon, lat)
    start_lonlat: tuple[float, float] | None = None
    end_lonlat: tuple[float, float] | None = None

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.end_time - self.start_time).total_seconds())


@dataclass(frozen=True)
class MovementSheetInput:
    municipality: str
    period: fmt.Period
    plate: str
    vehicle: str  # "Mercedes-Benz Econic 2630 · Απορριμματοφόρο"
    department: str
    trips: Sequence[TripInput]
    reference: str = ""  # "12/2025": the sheet's number in the vehicle's series for the year
    streets: tuple[Sequence[tuple[float, float]], ...] = ()
    map_note: str = ""  # why there is no street map (no graph configured), if so
    generated_at: datetime | None = None
    timezone: str = "Europe/Athens"
    language: str = "el"
    logo: bytes | None = None
    place: str = ""  # the town, for "Χανιά, ..../..../...." above the signatures


def _day_of(trip: TripInput, tz: str) -> date:
    # A trip that crosses midnight belongs to the day it started on, as on a paper sheet.
    return fmt.local(trip.start_time, tz).date()


def _route_map(
    trips: Sequence[TripInput], data: MovementSheetInput, title: str, _: Translate
) -> RouteMap:
    markers: list[MapMarker] = []
    tracks = []
    for n, trip in enumerate(trips, start=1):
        track = trip.track or tuple(p for p in (trip.start_lonlat, trip.end_lonlat) if p)
        if len(track) >= 2:
            tracks.append(track)
        if trip.start_lonlat:
            markers.append(MapMarker(*trip.start_lonlat, str(n), "start"))
        if trip.end_lonlat and n == len(trips):
            markers.append(MapMarker(*trip.end_lonlat, "", "end"))
    return RouteMap(
        title=title,
        streets=data.streets,
        tracks=tuple(tracks),
        markers=tuple(markers),
        empty_text=_("No route was recorded."),
    )


def build(data: MovementSheetInput, tr: Translate = identity) -> ReportDocument:
    _ = tr
    tz, language = data.timezone, data.language
    period_label = data.period.label(tr)
    trips = sorted(data.trips, key=lambda t: t.start_time)
    by_day: dict[date, list[TripInput]] = defaultdict(list)
    for trip in trips:
        by_day[_day_of(trip, tz)].append(trip)
    total_km = sum(t.distance_m for t in trips) / 1000
    total_s = sum(t.duration_s for t in trips)
    columns = (
        Column("n", _("#"), NUMBER, width=0.35),
        Column("start_time", _("Departure"), TIME, width=0.7),
        Column("start_place", _("From"), width=2.2),
        Column("end_time", _("Arrival"), TIME, width=0.7),
        Column("end_place", _("To"), width=2.2),
        Column("km", _("km"), NUMBER, 1, width=0.6),
        Column("driver", _("Driver"), width=1.5),
        Column("references", _("Job or movement order"), width=1.7),
    )

    def trip_rows(day_trips: list[TripInput]) -> tuple[tuple, ...]:
        return tuple(
            (
                n,
                t.start_time,
                t.start_place or fmt.DASH,
                t.end_time,
                t.end_place or fmt.DASH,
                t.distance_m / 1000,
                t.driver or fmt.DASH,
                ", ".join(t.references) or fmt.DASH,
            )
            for n, t in enumerate(day_trips, start=1)
        )

    def day_totals(day_trips: list[TripInput]) -> tuple:
        seconds = sum(t.duration_s for t in day_trips)
        return (
            "",
            "",
            _("Day total: %(n)s trips") % {"n": len(day_trips)},
            "",
            _("Driving time %(time)s") % {"time": fmt.duration(seconds)},
            sum(t.distance_m for t in day_trips) / 1000,
            "",
            "",
        )

    facts = Facts(
        (
            (_("Vehicle"), f"{data.plate} · {data.vehicle}".strip(" ·")),
            (_("Department"), data.department or fmt.DASH),
            (_("Sheet number"), data.reference or fmt.DASH),
            (_("Period"), period_label),
            (_("Trips"), fmt.number(len(trips), 0, language)),
            (_("Kilometres"), fmt.number(total_km, 1, language)),
            (_("Driving time"), fmt.duration(total_s)),
        ),
    )
    blocks: list[Block] = [facts]
    tables: list[TableData] = []
    if not trips:
        blocks.append(
            Text(
                _("No trips were recorded for %(plate)s in %(period)s.")
                % {"plate": data.plate, "period": period_label},
                style="empty",
            )
        )

    if data.period.is_day:
        day_trips = by_day.get(data.period.start, [])
        table = TableData(
            "trips",
            _("Trips"),
            columns,
            trip_rows(day_trips),
            totals=day_totals(day_trips) if day_trips else None,
            empty_text=_("No trips."),
        )
        tables.append(table)
        blocks += [Heading(table.title), table]
        if day_trips:
            blocks.append(_route_map(day_trips, data, _("Route of the day"), tr))
    else:
        summary = TableData(
            "days",
            _("Days"),
            (
                Column("day", _("Day"), width=1.6),
                Column("trips", _("Trips"), NUMBER),
                Column("first", _("First departure"), TIME),
                Column("last", _("Last arrival"), TIME),
                Column("km", _("km"), NUMBER, 1),
                Column("time", _("Driving time"), width=1.0),
            ),
            tuple(
                (
                    f"{_(WEEKDAYS[d.weekday()])} {fmt.day(d)}",
                    len(ts),
                    ts[0].start_time,
                    ts[-1].end_time,
                    sum(t.distance_m for t in ts) / 1000,
                    fmt.duration(sum(t.duration_s for t in ts)),
                )
                for d, ts in sorted(by_day.items())
            ),
            totals=(_("Total"), len(trips), "", "", total_km, fmt.duration(total_s))
            if trips
            else None,
            empty_text=_("No trips."),
        )
        blocks += [Heading(summary.title), summary]
        if trips:
            blocks.append(_route_map(trips, data, _("Routes of the month"), tr))
        for d, ts in sorted(by_day.items()):
            table = TableData(
                f"trips_{d.isoformat()}",
                f"{_(WEEKDAYS[d.weekday()])} {fmt.day(d)}",
                columns,
                trip_rows(ts),
                totals=day_totals(ts),
            )
            tables.append(table)
            blocks += [Heading(table.title, level=2), table]
    if data.map_note and trips:
        blocks.append(Text(data.map_note, style="note"))
    blocks.append(
        Signatures(
            (_("The driver"), _("The author"), _("The head of department")),
            place_date=f"{data.place}, {fmt.day((data.generated_at or datetime.now()).date())}"
            if data.place
            else "",
        )
    )
    meta = DocMeta(
        municipality=data.municipality,
        title=_("Vehicle movement sheet"),
        period_label=period_label,
        generated_at=data.generated_at or datetime.now().astimezone(),
        language=language,
        timezone=tz,
        subtitle=f"{data.plate} · {data.department}" if data.department else data.plate,
        reference=(_("No. %(ref)s") % {"ref": data.reference}) if data.reference else "",
        logo=data.logo,
        landscape=False,
    )
    summary_figures = {
        "trips": len(trips),
        "km": round(total_km, 1),
        "driving_s": round(total_s),
        "days": len(by_day),
        "reference": data.reference,
    }
    return ReportDocument(meta, tuple(blocks), summary_figures)
