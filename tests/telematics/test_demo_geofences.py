"""The demo municipalities' geofences and notification rules (``manage.py motion_demo``), and
what the simulated demo fleet makes of them on the real motion pipeline."""

from __future__ import annotations

import bz2
import logging
import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from shapely.geometry import Point, Polygon, shape

from dispatch.routing.network import Clip, load_network
from dispatch.routing.router import Router
from fleet.models import Department, Municipality, Vehicle
from notifications.models import NotificationRule
from telematics.models import Device, Geofence, MotionEvent
from telematics.motion.workcalendar import WorkingCalendar
from telematics.motion_services import motion_process_device
from telematics.simulator.motion import FleetSimulation, RoadMap
from telematics.simulator.provision import fleet_prepare
from tests.telematics.tracked import store_fixes

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
CHANIA_OSM = REPO / "data" / "osm" / "chania.osm.bz2"
# OpenStreetMap way 823246428: the grounds of the 17th primary school of Chania.
SCHOOL_WAY = "823246428"
SCHOOL_NAME = "17ο Δημοτικό Σχολείο Χανίων"


@pytest.fixture
def demo(settings):
    settings.KINISI_DEMO_PASSWORD = "demo-pass-42"
    call_command("seed_demo", "--quiet-logins")
    call_command("dispatch_demo", verbosity=0)
    call_command("motion_demo", verbosity=0)
    return Municipality.objects.get(slug="chania")


def _way_ring(way_id: str) -> list[tuple[float, float]]:
    """The (lon, lat) ring of one way of the Chania extract, read here on its own."""
    with bz2.open(CHANIA_OSM) as stream:
        root = ET.parse(stream).getroot()  # noqa: S314 - the repository's own extract
    nodes = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    way = next(w for w in root.iter("way") if w.get("id") == way_id)
    return [nodes[nd.get("ref")] for nd in way.iter("nd")]


def _metres(lat0: float):
    """A local plane in metres about latitude ``lat0`` (for distances in the checks)."""
    ky = 6_371_008.8 * math.pi / 180
    kx = ky * math.cos(math.radians(lat0))
    return lambda lon, lat: (lon * kx, lat * ky)


def test_motion_demo_adds_depots_school_zones_transfer_station_and_rules_once(demo):
    chania = demo
    fences = Geofence.objects.filter(municipality=chania)
    snapshot = sorted(fences.values_list("pk", "name", "updated_at"))
    rules = sorted(NotificationRule.objects.values_list("pk", "name"))
    call_command("motion_demo", verbosity=0)
    assert sorted(fences.values_list("pk", "name", "updated_at")) == snapshot
    assert sorted(NotificationRule.objects.values_list("pk", "name")) == rules

    # One depot circle per department, centred on its depot.
    departments = Department.objects.filter(municipality=chania, depot_lat__isnull=False)
    depots = fences.filter(role="depot", kind="circle")
    assert depots.count() == departments.count() >= 4
    centres = sorted(tuple(reversed(f.geometry["coordinates"])) for f in depots)
    assert centres == sorted((d.depot_lat, d.depot_lon) for d in departments)
    assert fences.filter(role="transfer_station").count() == 1

    # The school's zone holds its grounds and the streets along them, and no more.
    zone = fences.get(name__endswith=SCHOOL_NAME)
    assert zone.role == "school" and zone.speed_limit_kmh == 30
    ring = _way_ring(SCHOOL_WAY)
    lat0 = ring[0][1]
    to_m = _metres(lat0)
    grounds = Polygon([to_m(*p) for p in ring])
    area = Polygon([to_m(*p) for p in shape(zone.geometry).exterior.coords])
    assert area.contains(grounds)
    # Every point of the zone's edge is 30-40 m from the grounds.
    edge = [Point(p) for p in area.exterior.coords]
    assert all(30 <= grounds.exterior.distance(p) <= 40 for p in edge)
    assert fences.filter(role="school").count() >= 5

    manager_rule = NotificationRule.objects.get(municipality=chania, roles=["manager"])
    assert "overspeed" in manager_rule.event_types


def test_a_municipality_with_geofences_of_its_own_keeps_exactly_them(demo):
    rethymno = Municipality.objects.get(slug="rethymno")
    Geofence.objects.filter(municipality=rethymno).delete()
    own = Geofence.objects.create(
        municipality=rethymno,
        name="Δικό μας αμαξοστάσιο",
        kind="circle",
        geometry={"type": "Point", "coordinates": [24.47, 35.365]},
        radius_m=50,
    )
    call_command("motion_demo", "--municipality", "rethymno", verbosity=0)
    assert list(Geofence.objects.filter(municipality=rethymno)) == [own]


def test_an_unreadable_map_extract_leaves_the_depots_and_says_why(demo, caplog):
    rethymno = Municipality.objects.get(slug="rethymno")
    Geofence.objects.filter(municipality=rethymno).delete()
    rethymno.osm_file = "missing.osm.bz2"
    rethymno.save(update_fields=["osm_file"])
    with caplog.at_level(logging.WARNING, logger="telematics.demo"):
        call_command("motion_demo", "--municipality", "rethymno", verbosity=0)
    roles = set(Geofence.objects.filter(municipality=rethymno).values_list("role", flat=True))
    assert roles == {"depot", "transfer_station"}
    assert "demo.schools_unreadable" in caplog.text and "missing.osm.bz2" in caplog.text


def test_the_simulated_demo_fleet_leaves_and_returns_to_its_depots(demo, tmp_path):
    """A working day of three demo vehicles on the real motion pipeline: each leaves its
    department's depot in the morning and comes back to it."""
    chania = demo
    # Tuesday 4 March 2025, 06:00 in Athens: before the shift.
    start = datetime(2025, 3, 4, 4, 0, tzinfo=UTC)
    vehicles = fleet_prepare(municipality=chania, count=3, valid_from=start)
    road = RoadMap(Router(load_network(CHANIA_OSM, Clip(bbox=chania.bbox), cache_dir=tmp_path)))
    sim = FleetSimulation(
        road,
        [v.spec for v in vehicles],
        calendar=WorkingCalendar(),
        start=int(start.timestamp()),
        seed=3,
    )
    fixes = sim.advance(int(start.timestamp()) + 12 * 3600)
    assert len(vehicles) == 3
    for simulated in vehicles:
        device = Device.objects.get(unique_id=simulated.spec.unique_id)
        vehicle = Vehicle.objects.select_related("department").get(pk=simulated.vehicle_id)
        store_fixes(device, vehicle, [f for f in fixes if f.unique_id == device.unique_id])
        motion_process_device(device_id=device.pk, earliest=None, use_streets=False)
        depot = Geofence.objects.get(
            municipality=chania, role="depot", name__contains=vehicle.department.name
        )
        crossings = list(
            MotionEvent.objects.filter(
                vehicle=vehicle, type__in=["geofence_exit", "geofence_enter"]
            )
            .order_by("time")
            .values_list("type", "facts")
        )
        at_depot = [kind for kind, facts in crossings if facts["geofence"] == depot.pk]
        assert at_depot[:1] == ["geofence_exit"], crossings
        assert at_depot[-1:] == ["geofence_enter"], crossings
