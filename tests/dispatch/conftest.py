"""Fixtures for the dispatch tests: the Chania road graph (built once per session), places on
its streets, and a vehicle with a qualified driver on shift."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from dispatch.routing.network import Clip
from dispatch.routing.registry import GraphSource, router_for_source
from tests.factories import (
    DepartmentFactory,
    DriverFactory,
    DriverLicenceFactory,
    ShiftFactory,
    VehicleFactory,
)

REPO = Path(__file__).resolve().parents[2]
CHANIA = REPO / "data" / "osm" / "chania.osm.bz2"
# The bbox MunicipalityFactory gives every test municipality.
CHANIA_BBOX = (35.5033, 24.0059, 35.5187, 24.0395)
# Points on Chania's streets (checked to snap within a few metres).
DEPOT = (35.512, 24.02)
JOB_PLACE = (35.5149, 24.0182)
EAST = (35.5105, 24.0330)
WEST = (35.5135, 24.0110)


@pytest.fixture(scope="session")
def chania_graph_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("graphs")


@pytest.fixture(scope="session")
def chania_router_session(chania_graph_dir):
    """The router the registry hands out for a test municipality (cached in-process, so later
    ``router_for`` calls in any test reuse it whatever their graph directory)."""
    from django.conf import settings

    old = settings.KINISI_GRAPH_DIR
    settings.KINISI_GRAPH_DIR = chania_graph_dir
    try:
        return router_for_source(GraphSource(path=CHANIA, clip=Clip(bbox=CHANIA_BBOX)))
    finally:
        settings.KINISI_GRAPH_DIR = old


@pytest.fixture
def routed(chania_router_session, settings, chania_graph_dir):
    """Road routing available to the services (the registry's cached Chania router)."""
    settings.KINISI_GRAPH_DIR = chania_graph_dir
    return chania_router_session


@pytest.fixture
def crewed_vehicle(municipality_a):
    """A 26-tonne refuse truck at the depot with a qualified driver on shift now."""
    department = DepartmentFactory(
        municipality=municipality_a, depot_lat=DEPOT[0], depot_lon=DEPOT[1]
    )
    vehicle = VehicleFactory(
        municipality=municipality_a, department=department, payload_kg=8000, gross_weight_kg=26000
    )
    driver = DriverFactory(
        municipality=municipality_a,
        department=department,
        pei_expiry=date.today() + timedelta(days=400),
    )
    DriverLicenceFactory(driver=driver, category="C")
    now = timezone.now()
    ShiftFactory(
        municipality=municipality_a,
        driver=driver,
        vehicle=vehicle,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=7),
    )
    vehicle.crew_driver = driver
    return vehicle


def make_crewed_vehicle(municipality, *, depot=DEPOT, category="refuse_truck", **kw):
    department = DepartmentFactory(
        municipality=municipality, depot_lat=depot[0], depot_lon=depot[1]
    )
    vehicle = VehicleFactory(
        municipality=municipality,
        department=department,
        category=category,
        payload_kg=kw.pop("payload_kg", 8000),
        gross_weight_kg=kw.pop("gross_weight_kg", 26000),
        **kw,
    )
    driver = DriverFactory(
        municipality=municipality,
        department=department,
        pei_expiry=date.today() + timedelta(days=400),
    )
    DriverLicenceFactory(driver=driver, category="C")
    now = timezone.now()
    ShiftFactory(
        municipality=municipality,
        driver=driver,
        vehicle=vehicle,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=7),
    )
    vehicle.crew_driver = driver
    return vehicle


@pytest.fixture
def crewed():
    return make_crewed_vehicle
