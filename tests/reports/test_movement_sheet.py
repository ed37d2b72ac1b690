"""The movement sheet from stored positions to the PDF: trips detected from a drive along
Chania's streets, named by the street they start and end on, with the driver, the job and the
movement order they served, a numbered sheet per vehicle and year, and the route map."""

import io
import math
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import osmium
import pytest
from pypdf import PdfReader

from dispatch.routing.graph import way_is_drivable
from reports.models import ReportRun, ReportStatus
from reports.services import report_run_request
from telematics.models import Device, Position
from tests.factories import (
    DriverFactory,
    JobFactory,
    MovementOrderFactory,
    ShiftFactory,
    VehicleFactory,
)
from tests.reports.conftest import CHANIA

ATHENS = ZoneInfo("Europe/Athens")
# Points on Chania's streets: near Χάληδων (as the dispatch tests use it) and to the west.
START = (35.5149, 24.0182)
END = (35.5135, 24.0110)
pytestmark = pytest.mark.django_db


def _haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


class _NamedWays(osmium.SimpleHandler):
    def __init__(self):
        super().__init__()
        self.ways = []

    def way(self, w):
        tags = {t.k: t.v for t in w.tags}
        if "highway" in tags and tags.get("name") and way_is_drivable(tags):
            self.ways.append(
                (tags["name"], [(n.lat, n.lon) for n in w.nodes if n.location.valid()])
            )


def _nearest_named_street(lat, lon):
    """An independent answer from the raw OSM extract: the named drivable way with the
    nearest segment (brute force, flat-earth metres around the point)."""
    handler = _NamedWays()
    handler.apply_file(str(CHANIA), locations=True)
    k = math.cos(math.radians(lat)) * 111_320.0

    def seg_distance(a, b):
        ax, ay = (a[1] - lon) * k, (a[0] - lat) * 110_574.0
        bx, by = (b[1] - lon) * k, (b[0] - lat) * 110_574.0
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy)))
        return math.hypot(ax + t * dx, ay + t * dy)

    best = min(
        (seg_distance(a, b), name)
        for name, nodes in handler.ways
        for a, b in zip(nodes, nodes[1:], strict=False)
    )
    return best[1]


def _drive(router, device, vehicle, start_at, a, b, speed_kmh=30.0, every_s=10):
    """Fixes every 10 s: parked 5 minutes at ``a``, driving the road route to ``b`` at a steady
    speed, parked 10 minutes at ``b``. Returns the route's length in metres."""
    route = router.route([a, b])
    assert route.ok
    lonlat = route.coordinates
    steps = [0.0] + [
        _haversine_m(lonlat[i][1], lonlat[i][0], lonlat[i + 1][1], lonlat[i + 1][0])
        for i in range(len(lonlat) - 1)
    ]
    cumulative = np.cumsum(steps)
    rows, t = [], start_at
    first, last = lonlat[0], lonlat[-1]
    for _ in range(30):
        rows.append((t, first[1], first[0], 0.0))
        t += timedelta(seconds=every_s)
    step_m = speed_kmh / 3.6 * every_s
    for d in np.arange(step_m, cumulative[-1], step_m):
        lon = float(np.interp(d, cumulative, lonlat[:, 0]))
        lat = float(np.interp(d, cumulative, lonlat[:, 1]))
        rows.append((t, lat, lon, speed_kmh))
        t += timedelta(seconds=every_s)
    for _ in range(60):
        rows.append((t, last[1], last[0], 0.0))
        t += timedelta(seconds=every_s)
    Position.objects.bulk_create(
        Position(
            municipality=vehicle.municipality,
            device=device,
            vehicle=vehicle,
            fix_time=when,
            server_time=when,
            latitude=lat,
            longitude=lon,
            speed_kmh=speed,
            valid=True,
        )
        for when, lat, lon, speed in rows
    )
    return float(cumulative[-1]), rows[29][0], rows[-61][0]


@pytest.fixture
def tracked(municipality_a, chania_router):
    vehicle = VehicleFactory(municipality=municipality_a, plate="ΧΝΑ-4321")
    device = Device.objects.create(
        municipality=municipality_a, unique_id="867000000000001", protocol="osmand"
    )
    return vehicle, device


def _run(municipality, capture, vehicle, period, language="en"):
    with capture(execute=True):
        run, _queued = report_run_request(
            municipality=municipality,
            kind="movement",
            period=period,
            vehicle=vehicle,
            language=language,
        )
    run.refresh_from_db()
    assert run.status == ReportStatus.DONE, run.error
    with run.file.open("rb") as fh:
        return run, fh.read()


def test_day_sheet_lists_the_trip_with_streets_driver_job_and_order(
    tracked, municipality_a, chania_router, django_capture_on_commit_callbacks, pdf_text
):
    vehicle, device = tracked
    leave = datetime(2025, 2, 3, 7, 0, tzinfo=ATHENS)
    length_m, departed, arrived = _drive(chania_router, device, vehicle, leave, START, END)
    driver = DriverFactory(municipality=municipality_a, first_name="Μανώλης", last_name="Κοκκίνης")
    ShiftFactory(
        municipality=municipality_a,
        driver=driver,
        vehicle=vehicle,
        starts_at=leave - timedelta(hours=1),
        ends_at=leave + timedelta(hours=7),
    )
    job = JobFactory(
        municipality=municipality_a,
        vehicle=vehicle,
        status="done",
        started_at=leave + timedelta(minutes=4),
        completed_at=leave + timedelta(minutes=30),
    )
    MovementOrderFactory(
        municipality=municipality_a,
        vehicle=vehicle,
        number=12,
        year=2025,
        status="approved",
        starts_at=leave - timedelta(minutes=30),
        ends_at=leave + timedelta(hours=3),
    )
    MovementOrderFactory(  # not approved: no reference
        municipality=municipality_a,
        vehicle=vehicle,
        number=13,
        year=2025,
        status="requested",
        starts_at=leave - timedelta(minutes=30),
        ends_at=leave + timedelta(hours=3),
    )
    run, pdf = _run(municipality_a, django_capture_on_commit_callbacks, vehicle, "2025-02-03")
    trips = run.data["tables"][0]["rows"]
    assert len(trips) == 1
    trip = trips[0]
    # The detector measures along the fixes, which cut the route's corners by a little.
    assert trip["km"] == pytest.approx(length_m / 1000, rel=0.03)
    assert trip["start_place"] == "Χάληδων" == _nearest_named_street(*START)
    assert trip["end_place"] == _nearest_named_street(*END)
    assert trip["driver"] == "Μανώλης Κοκκίνης"
    assert trip["references"] == f"Job #{job.pk}, Movement order 12/2025"
    start = datetime.fromisoformat(trip["start_time"])
    end = datetime.fromisoformat(trip["end_time"])
    assert abs((start - departed).total_seconds()) <= 20
    assert abs((end - arrived).total_seconds()) <= 20
    assert run.sequence == 1 and run.sequence_year == 2025
    text = pdf_text(pdf)
    assert "No. 1/2025" in text
    local = start.astimezone(ATHENS)
    assert re.search(rf"1\s+{local:%H:%M}\s+Χάληδων\s+", text)
    assert "Μανώλης" in text and "Κοκκίνης" in text and "12/2025" in text
    assert "© OpenStreetMap contributors" in text
    assert "The driver" in text and "The head of department" in text
    assert sum(len(p.images) for p in PdfReader(io.BytesIO(pdf)).pages) == 1  # the map


def test_sheets_are_numbered_per_vehicle_and_year(
    tracked, municipality_a, chania_router, django_capture_on_commit_callbacks
):
    vehicle, _device = tracked
    other = VehicleFactory(municipality=municipality_a)
    capture = django_capture_on_commit_callbacks
    first, _ = _run(municipality_a, capture, vehicle, "2025-02-03")
    second, _ = _run(municipality_a, capture, vehicle, "2025-02")
    elsewhere, _ = _run(municipality_a, capture, other, "2025-02-03")
    greek, _ = _run(municipality_a, capture, vehicle, "2025-02-03", language="el")
    next_year, _ = _run(municipality_a, capture, vehicle, "2026-01-05")
    assert (first.reference, second.reference) == ("1/2025", "2/2025")
    assert elsewhere.reference == "1/2025"
    assert greek.reference == "1/2025"  # the same sheet in the other language
    assert next_year.reference == "1/2026"
    with capture(execute=True):
        report_run_request(
            municipality=municipality_a,
            kind="movement",
            period="2025-02-03",
            vehicle=vehicle,
            language="en",
            regenerate=True,
        )
    first.refresh_from_db()
    assert first.reference == "1/2025" and first.generations == 2


def test_month_sheet_and_a_day_without_trips(
    tracked, municipality_a, chania_router, django_capture_on_commit_callbacks, pdf_text
):
    vehicle, device = tracked
    _drive(chania_router, device, vehicle, datetime(2025, 2, 3, 7, tzinfo=ATHENS), START, END)
    _drive(chania_router, device, vehicle, datetime(2025, 2, 5, 9, tzinfo=ATHENS), END, START)
    capture = django_capture_on_commit_callbacks
    run, pdf = _run(municipality_a, capture, vehicle, "2025-02")
    days = {r["day"]: r for r in run.data["tables"][0]["rows"]}
    assert set(days) == {"Monday 03/02/2025", "Wednesday 05/02/2025"}
    assert run.data["summary"]["trips"] == 2
    text = pdf_text(pdf)
    assert "Routes of the month" in text and "Monday 03/02/2025" in text
    empty, pdf = _run(municipality_a, capture, vehicle, "2025-02-04")
    assert empty.data["summary"]["trips"] == 0
    text = pdf_text(pdf)
    assert "No trips were recorded for ΧΝΑ-4321 in 04/02/2025." in text
    assert re.search(r"Page 1 of 1", text)
    assert ReportRun.objects.filter(vehicle=vehicle).count() == 2


def test_sheet_uses_the_trips_the_motion_pipeline_stored(
    municipality_a, chania_router, django_capture_on_commit_callbacks, pdf_text
):
    from telematics.models import Trip

    vehicle = VehicleFactory(municipality=municipality_a, plate="ΧΝΑ-5555")
    device = Device.objects.create(
        municipality=municipality_a, unique_id="867000000000002", protocol="osmand"
    )
    driver = DriverFactory(municipality=municipality_a, first_name="Ελένη", last_name="Μαρκάκη")
    start = datetime(2025, 2, 6, 9, 0, tzinfo=ATHENS)
    common = {
        "municipality": municipality_a,
        "device": device,
        "vehicle": vehicle,
        "emitted_at": start + timedelta(hours=1),
        "gps_distance_m": 0,
        "distance_source": "gps",
        "duration_s": 1200,
        "moving_s": 1100,
        "idle_s": 100,
        "max_speed_kmh": 50,
        "avg_speed_kmh": 25,
    }
    Trip.objects.create(
        **common,
        driver=driver,
        start_time=start,
        end_time=start + timedelta(minutes=20),
        start_lat=START[0],
        start_lon=START[1],
        end_lat=END[0],
        end_lon=END[1],
        start_place="Πλατεία 1866",
        end_place="",  # the pipeline found no name: the sheet looks for the nearest named one
        distance_m=3456.0,
        track=[
            [start.timestamp(), START[0], START[1]],
            [start.timestamp() + 1200, END[0], END[1]],
        ],
    )
    run, pdf = _run(municipality_a, django_capture_on_commit_callbacks, vehicle, "2025-02-06")
    trip = run.data["tables"][0]["rows"][0]
    assert trip["start_place"] == "Πλατεία 1866"
    assert trip["end_place"] == _nearest_named_street(*END)
    assert trip["driver"] == "Ελένη Μαρκάκη"
    assert trip["km"] == pytest.approx(3.456)
    text = pdf_text(pdf)
    assert re.search(r"1\s+09:00\s+Πλατεία 1866\s+09:20\s+", text)
    assert "3.5" in text
