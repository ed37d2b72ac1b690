"""Motion API: scoping by municipality, filters, geofences as GeoJSON in and out."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from fleet.choices import Role
from telematics.motion_models import Geofence
from tests.factories import (
    DailySummaryFactory,
    DeviceFactory,
    GeofenceFactory,
    MotionEventFactory,
    StopFactory,
    TripFactory,
    VehicleFactory,
)

# A square depot in Chania and a 150 m circle around the landfill, written by hand.
DEPOT_RING = [[24.01, 35.50], [24.02, 35.50], [24.02, 35.51], [24.01, 35.51], [24.01, 35.50]]
UPLOAD = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [DEPOT_RING]},
            "properties": {"name": "Αμαξοστάσιο Σούδας", "role": "depot", "speed_limit_kmh": 20},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [24.05, 35.48]},
            "properties": {"name": "ΧΥΤΑ", "radius": 150, "role": "landfill"},
        },
    ],
}


def _at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def admin_a(users_a, api_client_for):
    return api_client_for(users_a[Role.ADMIN])


@pytest.mark.parametrize("kind", ["trips", "stops", "events", "daily-summaries", "geofences"])
def test_another_municipalitys_row_is_not_found(kind, municipality_b, admin_a):
    make = {
        "trips": TripFactory,
        "stops": StopFactory,
        "events": MotionEventFactory,
        "daily-summaries": DailySummaryFactory,
        "geofences": GeofenceFactory,
    }[kind]
    row = make(municipality=municipality_b)
    assert admin_a.get(f"/api/v1/{kind}/{row.pk}/").status_code == 404
    listed = admin_a.get(f"/api/v1/{kind}/").json()
    rows = listed["features"] if kind == "geofences" else listed["results"]
    assert rows == []


def test_driver_may_not_read_trips(municipality_a, users_a, api_client_for):
    TripFactory(municipality=municipality_a)
    assert api_client_for(users_a[Role.DRIVER]).get("/api/v1/trips/").status_code == 403


def test_trips_filter_by_vehicle_and_overlap_with_the_range(municipality_a, admin_a):
    device = DeviceFactory(municipality=municipality_a)
    truck, van = (
        VehicleFactory(municipality=municipality_a),
        VehicleFactory(municipality=municipality_a),
    )
    early = TripFactory(
        municipality=municipality_a,
        device=device,
        vehicle=truck,
        start_time=_at(6),
        end_time=_at(7),
    )
    # Runs 09:30-10:30, so it overlaps a 10:00-12:00 range though it started before it.
    spanning = TripFactory(
        municipality=municipality_a,
        device=device,
        vehicle=truck,
        start_time=_at(9, 30),
        end_time=_at(10, 30),
    )
    TripFactory(
        municipality=municipality_a,
        device=device,
        vehicle=van,
        start_time=_at(11),
        end_time=_at(12),
    )
    body = admin_a.get(
        "/api/v1/trips/",
        {"vehicle": truck.pk, "since": "2026-03-10T10:00:00Z", "until": "2026-03-10T12:00:00Z"},
    ).json()
    assert [row["id"] for row in body["results"]] == [spanning.pk]
    everything = admin_a.get("/api/v1/trips/", {"vehicle": truck.pk}).json()["results"]
    assert [row["id"] for row in everything] == [spanning.pk, early.pk]  # newest first
    assert "track" not in everything[0]
    assert admin_a.get(f"/api/v1/trips/{early.pk}/").json()["track"] == early.track


def test_bad_time_filter_is_a_400(admin_a):
    assert admin_a.get("/api/v1/trips/", {"since": "yesterday"}).status_code == 400


def test_events_filter_by_type_vehicle_and_time(municipality_a, admin_a):
    truck = VehicleFactory(municipality=municipality_a)
    other = VehicleFactory(municipality=municipality_a)
    overspeed = MotionEventFactory(
        municipality=municipality_a, vehicle=truck, type="overspeed", time=_at(8)
    )
    idling = MotionEventFactory(
        municipality=municipality_a, vehicle=truck, type="idling", time=_at(9)
    )
    MotionEventFactory(municipality=municipality_a, vehicle=truck, type="ignition_on", time=_at(7))
    MotionEventFactory(municipality=municipality_a, vehicle=other, type="overspeed", time=_at(8))
    MotionEventFactory(
        municipality=municipality_a, vehicle=truck, type="overspeed", time=_at(8, 0, 11)
    )

    def ids(**params):
        rows = admin_a.get("/api/v1/events/", params).json()["results"]
        return [row["id"] for row in rows]

    assert ids(vehicle=truck.pk, type="overspeed,idling", until="2026-03-11T00:00:00Z") == [
        idling.pk,
        overspeed.pk,
    ]
    assert ids(vehicle=truck.pk, since="2026-03-10T08:30:00Z", until="2026-03-10T23:00:00Z") == [
        idling.pk
    ]


def test_daily_summaries_filter_by_inclusive_date_range(municipality_a, admin_a):
    truck = VehicleFactory(municipality=municipality_a)
    days = {
        d: DailySummaryFactory(municipality=municipality_a, vehicle=truck, day=date(2026, 3, d))
        for d in (9, 10, 11, 12)
    }
    DailySummaryFactory(municipality=municipality_a, day=date(2026, 3, 10))  # another vehicle
    rows = admin_a.get(
        "/api/v1/daily-summaries/",
        {"vehicle": truck.pk, "date_from": "2026-03-10", "date_to": "2026-03-11"},
    ).json()["results"]
    assert [row["id"] for row in rows] == [days[11].pk, days[10].pk]


def test_computed_rows_cannot_be_written(municipality_a, admin_a):
    trip = TripFactory(municipality=municipality_a)
    assert admin_a.patch(f"/api/v1/trips/{trip.pk}/", {}, format="json").status_code == 405
    assert admin_a.delete(f"/api/v1/trips/{trip.pk}/").status_code == 405


def test_geofence_geojson_round_trip(municipality_a, admin_a):
    response = admin_a.post(
        "/api/v1/geofences/", json.dumps(UPLOAD), content_type="application/geo+json"
    )
    assert response.status_code == 201, response.content
    assert len(response.json()["features"]) == 2
    out = admin_a.get("/api/v1/geofences/").json()
    assert out["type"] == "FeatureCollection"
    by_name = {f["properties"]["name"]: f for f in out["features"]}
    depot = by_name["Αμαξοστάσιο Σούδας"]
    assert depot["geometry"]["type"] == "Polygon"
    assert depot["geometry"]["coordinates"][0] == DEPOT_RING
    assert depot["properties"]["role"] == "depot"
    assert depot["properties"]["speed_limit_kmh"] == 20
    landfill = by_name["ΧΥΤΑ"]
    assert landfill["geometry"] == {"type": "Point", "coordinates": [24.05, 35.48]}
    assert landfill["properties"]["radius"] == 150
    assert landfill["properties"]["role"] == "landfill"

    # What came out goes back in and comes out again the same.
    Geofence.objects.all().delete()
    again = admin_a.post("/api/v1/geofences/", out, format="json")
    assert again.status_code == 201, again.content
    back = admin_a.get("/api/v1/geofences/").json()
    after = [
        (f["geometry"], f["properties"])
        for f in sorted(back["features"], key=lambda f: f["properties"]["name"])
    ]
    before = [
        (f["geometry"], f["properties"])
        for f in sorted(out["features"], key=lambda f: f["properties"]["name"])
    ]
    assert after == before


def test_geofence_file_upload(municipality_a, admin_a, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("zones.geojson", json.dumps(UPLOAD).encode(), "application/json")
    response = admin_a.post("/api/v1/geofences/?role=depot", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    assert Geofence.objects.filter(municipality=municipality_a).count() == 2


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        json.dumps({"type": "FeatureCollection", "features": []}).encode(),
        # The first feature is fine, the second has an open ring: nothing at all is imported.
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    UPLOAD["features"][0],
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[24.01, 35.50], [24.02, 35.50], [24.02, 35.51]]],
                        },
                        "properties": {"name": "Σχολείο"},
                    },
                ],
            }
        ).encode(),
        # A circle without a radius.
        json.dumps(
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [24, 35.5]}}
        ).encode(),
    ],
)
def test_malformed_geofence_upload_is_rejected_and_changes_nothing(
    payload, municipality_a, admin_a
):
    existing = GeofenceFactory(municipality=municipality_a, name="Υπάρχον")
    response = admin_a.post("/api/v1/geofences/", payload, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert "nothing was changed" in body["detail"]
    assert body["problems"] and all(isinstance(p, str) and p for p in body["problems"])
    assert list(Geofence.objects.values_list("pk", flat=True)) == [existing.pk]


def test_only_geofence_editors_may_upload_geofences(users_a, api_client_for):
    # The same roles as the geofences page: administrators and managers, not dispatchers.
    dispatcher = api_client_for(users_a[Role.DISPATCHER])
    response = dispatcher.post("/api/v1/geofences/", UPLOAD, format="json")
    assert response.status_code == 403
    assert not Geofence.objects.exists()
    manager = api_client_for(users_a[Role.MANAGER])
    assert manager.post("/api/v1/geofences/", UPLOAD, format="json").status_code == 201
    assert Geofence.objects.exists()


def test_geofence_patch_checks_the_new_shape(municipality_a, admin_a):
    fence = GeofenceFactory(municipality=municipality_a)
    bad = admin_a.patch(
        f"/api/v1/geofences/{fence.pk}/",
        {"geometry": {"type": "Polygon", "coordinates": [[[24.0, 35.5], [24.1, 35.5]]]}},
        format="json",
    )
    assert bad.status_code == 400
    fence.refresh_from_db()
    assert fence.geometry["coordinates"][0][1] == [24.03, 35.50]  # the factory's ring, untouched

    ok = admin_a.patch(
        f"/api/v1/geofences/{fence.pk}/",
        {
            "name": "Νέο όνομα",
            "geometry": {"type": "Point", "coordinates": [24.02, 35.51]},
            "radius": 80,
        },
        format="json",
    )
    assert ok.status_code == 200, ok.content
    fence.refresh_from_db()
    assert (fence.name, fence.kind, fence.radius_m) == ("Νέο όνομα", "circle", 80)


def test_geofence_patch_of_a_geofence_deleted_meanwhile_is_a_404_and_does_not_bring_it_back(
    municipality_a, admin_a, caplog
):
    from django.db.models.signals import post_init

    fence = GeofenceFactory(municipality=municipality_a, name="Παλιό όνομα")
    pending = {"pk": fence.pk}

    def delete_once(sender, instance, **kwargs):
        # Another editor's delete lands right after this request looked the geofence up.
        if instance.pk is not None and instance.pk == pending["pk"]:
            pending["pk"] = None
            Geofence.objects.filter(pk=instance.pk).delete()

    post_init.connect(delete_once, sender=Geofence)
    try:
        with caplog.at_level("INFO", logger="kinisi.motion.api"):
            response = admin_a.patch(
                f"/api/v1/geofences/{fence.pk}/", {"name": "Νέο όνομα"}, format="json"
            )
    finally:
        post_init.disconnect(delete_once, sender=Geofence)
    assert response.status_code == 404, response.content
    assert "deleted by someone else" in response.json()["detail"]
    assert f"motion.geofence_update_gone geofence={fence.pk}" in caplog.text
    assert not Geofence.objects.filter(pk=fence.pk).exists()


def test_a_stop_reports_the_metres_moved_during_it(municipality_a, admin_a):
    # Parked over midnight: 120 m across the yard in the evening, 30 m to the bay next morning.
    stop = StopFactory(
        municipality=municipality_a, moved=[["2026-03-10", 120.0], ["2026-03-11", 30.0]]
    )
    assert admin_a.get(f"/api/v1/stops/{stop.pk}/").json()["moved_m"] == 150.0
    still = StopFactory(municipality=municipality_a)
    assert admin_a.get(f"/api/v1/stops/{still.pk}/").json()["moved_m"] == 0.0
