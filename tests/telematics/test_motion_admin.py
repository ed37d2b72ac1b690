"""Admin pages of the motion tables: they open, and a geofence with a bad shape is refused."""

from __future__ import annotations

import json

from telematics.motion_models import Geofence
from tests.factories import (
    DailySummaryFactory,
    GeofenceFactory,
    MotionEventFactory,
    StopFactory,
    TripFactory,
    UserFactory,
)


def test_motion_change_lists_and_pages_open(municipality_a, client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True, municipality=None))
    rows = {
        "trip": TripFactory(municipality=municipality_a),
        "stop": StopFactory(municipality=municipality_a),
        "motionevent": MotionEventFactory(municipality=municipality_a),
        "dailysummary": DailySummaryFactory(municipality=municipality_a),
        "geofence": GeofenceFactory(municipality=municipality_a),
    }
    for name, row in rows.items():
        assert client.get(f"/admin/telematics/{name}/").status_code == 200, name
        assert client.get(f"/admin/telematics/{name}/{row.pk}/change/").status_code == 200, name
    # Computed rows are rebuilt by the pipeline, so the admin offers no way to add one.
    assert client.get("/admin/telematics/trip/add/").status_code == 403


def test_geofence_with_an_open_ring_is_refused(municipality_a, client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True, municipality=None))
    open_ring = {"type": "Polygon", "coordinates": [[[24.0, 35.5], [24.1, 35.5], [24.1, 35.6]]]}
    response = client.post(
        "/admin/telematics/geofence/add/",
        {
            "municipality": municipality_a.pk,
            "name": "Σχολείο",
            "role": "school",
            "kind": "polygon",
            "geometry": json.dumps(open_ring),
            "active": "on",
        },
    )
    assert response.status_code == 200  # the form again, with its errors
    assert response.context["adminform"].form.errors
    assert not Geofence.objects.exists()
