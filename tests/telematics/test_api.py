"""Telematics API and pages: scoping by municipality, roles, positions as JSON/GeoJSON/GPX."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from fleet.choices import Role
from telematics import services
from telematics.models import Device, Position, UnknownDevice, VehicleLiveState
from tests.factories import VehicleFactory

T0 = datetime(2026, 3, 10, 8, 0, 0, tzinfo=UTC)


@pytest.fixture
def device_a(municipality_a):
    device = services.device_create(
        municipality=municipality_a, unique_id="350000000000001", protocol="teltonika"
    )
    return device


@pytest.fixture
def track(device_a, municipality_a):
    """A vehicle with five positions one minute apart, going north along 24.02° E."""
    vehicle = VehicleFactory(municipality=municipality_a)
    for i in range(5):
        Position.objects.create(
            municipality=municipality_a,
            device=device_a,
            vehicle=vehicle,
            fix_time=T0 + timedelta(minutes=i),
            server_time=T0 + timedelta(minutes=i),
            latitude=35.50 + i * 0.001,
            longitude=24.02,
            altitude=10.0 + i,
            speed_kmh=20.0,
        )
    return vehicle


def test_device_list_shows_only_the_users_municipality(
    device_a, municipality_b, users_a, users_b, api_client_for
):
    services.device_create(municipality=municipality_b, unique_id="B-1", protocol="osmand")
    rows = api_client_for(users_a[Role.DISPATCHER]).get("/api/v1/devices/").json()["results"]
    assert [r["unique_id"] for r in rows] == ["350000000000001"]
    other = api_client_for(users_b[Role.ADMIN]).get(f"/api/v1/devices/{device_a.pk}/")
    assert other.status_code == 404


def test_only_administrators_register_devices(municipality_a, users_a, api_client_for):
    body = {"unique_id": "123456789012345", "protocol": "teltonika", "name": "Truck tracker"}
    refused = api_client_for(users_a[Role.DISPATCHER]).post("/api/v1/devices/", body)
    assert refused.status_code == 403
    created = api_client_for(users_a[Role.ADMIN]).post("/api/v1/devices/", body)
    assert created.status_code == 201
    device = Device.objects.get(unique_id="123456789012345")
    assert device.municipality == municipality_a and device.name == "Truck tracker"


def test_assign_and_unassign_through_the_api(device_a, municipality_a, users_a, api_client_for):
    vehicle = VehicleFactory(municipality=municipality_a)
    api = api_client_for(users_a[Role.ADMIN])
    response = api.post(f"/api/v1/devices/{device_a.pk}/assign/", {"vehicle": vehicle.pk})
    assert response.status_code == 200 and response.json()["vehicle"] == vehicle.pk
    response = api.post(f"/api/v1/devices/{device_a.pk}/unassign/", {})
    assert response.status_code == 200 and response.json()["vehicle"] is None


def test_a_vehicle_of_another_municipality_cannot_be_assigned(
    device_a, municipality_b, users_a, api_client_for
):
    foreign = VehicleFactory(municipality=municipality_b)
    response = api_client_for(users_a[Role.ADMIN]).post(
        f"/api/v1/devices/{device_a.pk}/assign/", {"vehicle": foreign.pk}
    )
    assert response.status_code == 400
    assert not device_a.assignments.exists()


def test_token_is_shown_once_and_the_device_reports_having_one(device_a, users_a, api_client_for):
    api = api_client_for(users_a[Role.ADMIN])
    token = api.post(f"/api/v1/devices/{device_a.pk}/token/").json()["token"]
    assert len(token) >= 40
    assert api.get(f"/api/v1/devices/{device_a.pk}/").json()["has_token"] is True
    assert token not in str(api.get(f"/api/v1/devices/{device_a.pk}/").json())


def test_unknown_device_is_adopted_in_one_request(municipality_a, users_a, api_client_for):
    UnknownDevice.objects.create(
        unique_id="868683020000001", protocol="gt06", first_seen=T0, last_seen=T0, attempts=3
    )
    api = api_client_for(users_a[Role.ADMIN])
    listed = api.get("/api/v1/unknown-devices/").json()["results"]
    assert [(u["unique_id"], u["attempts"]) for u in listed] == [("868683020000001", 3)]
    response = api.post("/api/v1/unknown-devices/adopt/", {"unique_id": "868683020000001"})
    assert response.status_code == 201
    assert Device.objects.get(unique_id="868683020000001").municipality == municipality_a
    assert not UnknownDevice.objects.exists()
    assert (
        api_client_for(users_a[Role.DISPATCHER]).get("/api/v1/unknown-devices/").status_code == 403
    )


def test_unknown_device_address_is_shown_to_superusers_only(
    users_a, api_client_for, web_client_for
):
    UnknownDevice.objects.create(
        unique_id="868683020000002",
        protocol="teltonika",
        first_seen=T0,
        last_seen=T0,
        remote_address="203.0.113.7:40112",
    )
    admin = users_a[Role.ADMIN]
    listed = api_client_for(admin).get("/api/v1/unknown-devices/").json()["results"]
    assert listed[0]["unique_id"] == "868683020000002" and "remote_address" not in listed[0]
    assert "203.0.113.7" not in web_client_for(admin).get("/telematics/devices/").content.decode()
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    listed = api_client_for(admin).get("/api/v1/unknown-devices/").json()["results"]
    assert listed[0]["remote_address"] == "203.0.113.7:40112"


def range_query(vehicle, start=T0, end=T0 + timedelta(hours=1)) -> str:
    return (
        f"vehicle={vehicle.pk}&from={start.isoformat().replace('+', '%2B')}"
        f"&to={end.isoformat().replace('+', '%2B')}"
    )


def test_positions_of_a_vehicle_are_paginated_in_time_order(track, users_a, api_client_for):
    api = api_client_for(users_a[Role.DISPATCHER])
    first = api.get(f"/api/v1/positions/?{range_query(track)}&page_size=2").json()
    assert [p["latitude"] for p in first["results"]] == [35.5, 35.501]
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    assert [p["latitude"] for p in second["results"] + third["results"]] == [35.502, 35.503, 35.504]
    assert third["next"] is None


def test_positions_range_end_is_exclusive_and_required(track, users_a, api_client_for):
    api = api_client_for(users_a[Role.DISPATCHER])
    end = T0 + timedelta(minutes=2)
    rows = api.get(f"/api/v1/positions/?{range_query(track, T0, end)}").json()["results"]
    assert len(rows) == 2
    assert api.get(f"/api/v1/positions/?vehicle={track.pk}").status_code == 400
    too_long = range_query(track, T0, T0 + timedelta(days=40))
    assert api.get(f"/api/v1/positions/?{too_long}").status_code == 400


def test_positions_of_another_municipalitys_vehicle_are_not_found(track, users_b, api_client_for):
    api = api_client_for(users_b[Role.ADMIN])
    assert api.get(f"/api/v1/positions/?{range_query(track)}").status_code == 404
    assert api.get(f"/api/v1/positions/gpx/?{range_query(track)}").status_code == 404


def test_positions_as_geojson_linestring_in_longitude_latitude_order(
    track, users_a, api_client_for
):
    response = api_client_for(users_a[Role.DISPATCHER]).get(
        f"/api/v1/positions/geojson/?{range_query(track)}"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/geo+json")
    [feature] = response.json()["features"]
    assert feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][0] == [24.02, 35.5, 10.0]
    assert feature["geometry"]["coordinates"][-1] == [24.02, 35.504, 14.0]
    assert feature["properties"]["coordTimes"][1] == "2026-03-10T08:01:00+00:00"


def test_positions_as_gpx_track(track, users_a, api_client_for):
    response = api_client_for(users_a[Role.DISPATCHER]).get(
        f"/api/v1/positions/gpx/?{range_query(track)}"
    )
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 - our own response, in a test
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    points = root.findall(".//g:trkpt", ns)
    assert len(points) == 5
    assert (points[0].get("lat"), points[0].get("lon")) == ("35.5000000", "24.0200000")
    assert points[2].find("g:time", ns).text == "2026-03-10T08:02:00Z"
    assert points[4].find("g:ele", ns).text == "14.0"


def test_live_state_lists_every_vehicle_with_its_status(municipality_a, users_a, api_client_for):
    now = timezone.now()
    moving, parked, silent, asleep, never = (
        VehicleFactory(municipality=municipality_a) for _ in range(5)
    )
    for vehicle, is_moving, ignition, seen in (
        (moving, True, True, now),
        (parked, False, False, now - timedelta(minutes=1)),
        (silent, False, True, now - timedelta(hours=3)),
        # Parked with the engine off, a tracker may sleep for a day (as for the offline event).
        (asleep, False, False, now - timedelta(hours=3)),
    ):
        VehicleLiveState.objects.create(
            vehicle=vehicle,
            municipality=municipality_a,
            fix_time=seen,
            latitude=35.5,
            longitude=24.0,
            speed_kmh=30.0 if is_moving else 0.0,
            moving=is_moving,
            ignition=ignition,
            last_seen=seen,
            updated_at=seen,
        )
    rows = api_client_for(users_a[Role.DISPATCHER]).get("/api/v1/live/").json()
    status = {row["vehicle_id"]: row["status"] for row in rows}
    assert status == {
        moving.pk: "moving",
        parked.pk: "stopped",
        silent.pk: "offline",
        asleep.pk: "stopped",
        never.pk: "no_data",
    }


def test_live_map_page_renders_the_map_and_its_polling_config(users_a, web_client_for):
    response = web_client_for(users_a[Role.DISPATCHER]).get("/telematics/live/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="livemap-map"' in html and "telematics/live_map.js" in html
    assert "/api/v1/live/" in html


def test_live_map_is_closed_to_drivers(users_a, web_client_for):
    assert web_client_for(users_a[Role.DRIVER]).get("/telematics/live/").status_code == 403


def test_device_page_adopts_an_unknown_device_in_one_click(municipality_a, users_a, web_client_for):
    UnknownDevice.objects.create(
        unique_id="phone-77", protocol="osmand", first_seen=T0, last_seen=T0
    )
    client = web_client_for(users_a[Role.ADMIN])
    page = client.get("/telematics/devices/")
    assert page.status_code == 200 and "phone-77" in page.content.decode()
    response = client.post("/telematics/unknown-devices/adopt/", {"unique_id": "phone-77"})
    assert response.status_code == 302
    assert Device.objects.get(unique_id="phone-77").municipality == municipality_a
