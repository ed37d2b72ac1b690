"""Geofences page: who sees and who edits, shape checks, import and export, scoping."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fleet.choices import Role
from fleet.permissions import has_capability
from telematics.motion_models import Geofence
from tests.factories import GeofenceFactory

PAGE = "/telematics/geofences/"
SQUARE = [[24.01, 35.505], [24.02, 35.505], [24.02, 35.515], [24.01, 35.515], [24.01, 35.505]]
# A bow tie: the second and fourth edges cross.
BOW_TIE = [[24.01, 35.505], [24.02, 35.515], [24.02, 35.505], [24.01, 35.515], [24.01, 35.505]]


def _polygon(ring) -> str:
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def _create(client, **fields):
    data = {
        "name": "Αμαξοστάσιο Σούδας",
        "role": "depot",
        "kind": "polygon",
        "geometry": _polygon(SQUARE),
        "speed_limit_kmh": "",
        "active": "on",
    }
    data.update(fields)
    return client.post(PAGE + "new/", data)


def _page_data(response) -> dict:
    html = response.content.decode()
    marker = '<script id="geofence-data" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def test_everyone_in_the_office_sees_the_page_and_only_editors_get_the_tools(
    municipality_a, users_a, web_client_for
):
    GeofenceFactory(municipality=municipality_a, name="ΧΥΤΑ Χανίων", role="landfill")
    for role, user in users_a.items():
        response = web_client_for(user).get(PAGE)
        if role == Role.DRIVER:
            assert response.status_code == 403
            continue
        assert response.status_code == 200, role
        html = response.content.decode()
        assert "ΧΥΤΑ Χανίων" in html
        editor = has_capability(user, "geofences.edit")
        assert editor == (role in (Role.ADMIN, Role.MANAGER))
        assert ('id="geofence-draw-polygon"' in html) == editor, role
        assert ('id="geofence-import"' in html) == editor, role
        assert response.context["geofence_config"]["canEdit"] == editor


def test_the_navigation_links_to_the_page(users_a, web_client_for):
    html = web_client_for(users_a[Role.DISPATCHER]).get("/telematics/history/").content.decode()
    assert f'href="{PAGE}"' in html


def test_page_lists_only_own_municipalitys_geofences(
    municipality_a, municipality_b, users_a, web_client_for
):
    mine = GeofenceFactory(municipality=municipality_a, name="Σχολείο Χαλέπας", role="school")
    theirs = GeofenceFactory(municipality=municipality_b, name="Ξένο αμαξοστάσιο")
    response = web_client_for(users_a[Role.ADMIN]).get(PAGE)
    ids = [f["id"] for f in _page_data(response)["features"]]
    assert ids == [mine.pk]
    assert "Ξένο αμαξοστάσιο" not in response.content.decode()
    assert theirs.pk not in ids


def test_another_municipalitys_geofence_is_not_found_whatever_is_asked(
    municipality_b, users_a, web_client_for
):
    theirs = GeofenceFactory(municipality=municipality_b, name="Ξένο")
    client = web_client_for(users_a[Role.ADMIN])
    assert client.get(f"{PAGE}{theirs.pk}/").status_code == 404
    response = client.post(f"{PAGE}{theirs.pk}/", {"name": "Δικό μου", "role": "depot"})
    assert response.status_code == 404
    assert client.post(f"{PAGE}{theirs.pk}/delete/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Ξένο"


def test_detail_url_opens_the_page_with_the_geofence_selected(
    municipality_a, users_a, web_client_for
):
    fence = GeofenceFactory(municipality=municipality_a)
    response = web_client_for(users_a[Role.AUDITOR]).get(f"{PAGE}{fence.pk}/")
    assert response.status_code == 200
    assert response.context["geofence_config"]["selected"] == fence.pk


def test_editor_creates_a_polygon_and_a_circle(municipality_a, users_a, web_client_for):
    client = web_client_for(users_a[Role.MANAGER])
    response = _create(client, speed_limit_kmh="30")
    assert response.status_code == 201, response.content
    fence = Geofence.objects.get(pk=response.json()["feature"]["id"])
    assert fence.municipality == municipality_a
    assert (fence.name, fence.role, fence.kind) == ("Αμαξοστάσιο Σούδας", "depot", "polygon")
    assert fence.geometry == {"type": "Polygon", "coordinates": [SQUARE]}
    assert fence.speed_limit_kmh == 30.0
    assert fence.active is True

    response = _create(
        client,
        name="Σχολείο",
        role="school",
        kind="circle",
        geometry=json.dumps({"type": "Point", "coordinates": [24.0227, 35.511]}),
        radius="150,5",  # typed with a Greek decimal comma
        active="",
    )
    assert response.status_code == 201, response.content
    circle = Geofence.objects.get(pk=response.json()["feature"]["id"])
    assert circle.kind == "circle"
    assert circle.geometry == {"type": "Point", "coordinates": [24.0227, 35.511]}
    assert circle.radius_m == 150.5
    assert circle.active is False


def test_an_unclosed_ring_is_closed_and_coordinates_are_rounded(
    municipality_a, users_a, web_client_for
):
    client = web_client_for(users_a[Role.ADMIN])
    ring = [[24.0100000001, 35.505], [24.02, 35.505], [24.02, 35.515], [24.01, 35.515]]
    response = _create(client, geometry=_polygon(ring))
    assert response.status_code == 201, response.content
    stored = Geofence.objects.get().geometry["coordinates"][0]
    assert stored[0] == stored[-1] == [24.01, 35.505]
    assert len(stored) == 5


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"geometry": _polygon(BOW_TIE)}, "geometry", "cross each other"),
        ({"geometry": _polygon(SQUARE[:2] + SQUARE[:1])}, "geometry", "at least 3 corners"),
        (
            {"geometry": _polygon([[24.01, 35.5], [24.02, 35.5], [24.03, 35.5], [24.01, 35.5]])},
            "geometry",
            "no area",
        ),
        (
            {"geometry": _polygon([[35.505, 24.01], [35.505, 24.02], [35.515, 24.02]])},
            "geometry",
            "far outside the municipality",
        ),
        ({"geometry": _polygon([[24.01, 95.0], [24.02, 35.5], [24.03, 35.6]])}, "geometry", "±90"),
        ({"geometry": "{not json"}, "geometry", "could not be read"),
        ({"geometry": "[" * 100_000}, "geometry", "could not be read"),  # nested too deep
        ({"geometry": ""}, "geometry", "Draw the geofence"),
        (
            {"geometry": json.dumps({"type": "LineString", "coordinates": []})},
            "geometry",
            "polygon",
        ),
        (
            {
                "kind": "circle",
                "geometry": json.dumps({"type": "Point", "coordinates": [24.02, 35.51]}),
                "radius": "900000",
            },
            "radius",
            "between 5 m and 50000 m",
        ),
        (
            {
                "kind": "circle",
                "geometry": json.dumps({"type": "Point", "coordinates": [24.02, 35.51]}),
                "radius": "0",
            },
            "radius",
            "between 5 m and 50000 m",
        ),
        (
            {
                "kind": "circle",
                "geometry": json.dumps({"type": "Point", "coordinates": [24.02, 35.51]}),
                "radius": "nan",
            },
            "radius",
            "between 5 m",
        ),
        ({"kind": "triangle"}, "kind", "polygon or a circle"),
        ({"name": "   "}, "name", "Give the geofence a name"),
        ({"role": "castle"}, "role", "Unknown geofence role"),
        ({"speed_limit_kmh": "900"}, "speed_limit_kmh", "between 5 and 250"),
        ({"speed_limit_kmh": "fast"}, "speed_limit_kmh", "Enter a number"),
    ],
)
def test_bad_shapes_and_fields_are_refused_with_a_message_and_nothing_is_written(
    fields, field, words, municipality_a, users_a, web_client_for, caplog
):
    client = web_client_for(users_a[Role.ADMIN])
    with caplog.at_level("INFO", logger="telematics"):
        response = _create(client, **fields)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors, errors
    assert any(words in message for message in errors[field]), errors
    assert not Geofence.objects.exists()
    assert "telematics.geofence_create_rejected" in caplog.text


def test_errors_are_in_greek_for_a_greek_user(municipality_a, users_a, web_client_for, settings):
    settings.LANGUAGE_CODE = "el"
    client = web_client_for(users_a[Role.ADMIN])
    response = _create(client, speed_limit_kmh="400", HTTP_ACCEPT_LANGUAGE="el")
    assert response.status_code == 400
    assert response.json()["errors"]["speed_limit_kmh"] == [
        "Το όριο ταχύτητας πρέπει να είναι από 5 έως 250 km/h."
    ]


def test_editor_edits_attributes_and_shape_and_a_bad_edit_changes_nothing(
    municipality_a, users_a, web_client_for
):
    fence = GeofenceFactory(municipality=municipality_a, name="Παλιό όνομα", role="depot")
    original = fence.geometry
    client = web_client_for(users_a[Role.ADMIN])
    # Attributes only: the shape stays as it was.
    response = client.post(
        f"{PAGE}{fence.pk}/",
        {"name": "Νέο όνομα", "role": "restricted", "speed_limit_kmh": "20", "radius": "300"},
    )
    assert response.status_code == 200, response.content
    fence.refresh_from_db()
    assert (fence.name, fence.role, fence.speed_limit_kmh, fence.active) == (
        "Νέο όνομα",
        "restricted",
        20.0,
        False,
    )
    assert fence.geometry == original
    assert fence.radius_m is None
    # A bow tie and a new name together: neither is saved.
    response = client.post(
        f"{PAGE}{fence.pk}/",
        {"name": "Κάτι άλλο", "role": "depot", "active": "on", "geometry": _polygon(BOW_TIE)},
    )
    assert response.status_code == 400
    fence.refresh_from_db()
    assert fence.name == "Νέο όνομα"
    assert fence.geometry == original
    # A corner moved.
    moved = [list(p) for p in SQUARE]
    moved[2] = [24.025, 35.52]
    response = client.post(
        f"{PAGE}{fence.pk}/",
        {"name": "Νέο όνομα", "role": "depot", "active": "on", "geometry": _polygon(moved)},
    )
    assert response.status_code == 200
    fence.refresh_from_db()
    assert fence.geometry["coordinates"][0][2] == [24.025, 35.52]
    assert fence.active is True


def test_a_circle_is_moved_and_resized(municipality_a, users_a, web_client_for):
    fence = GeofenceFactory(
        municipality=municipality_a,
        kind="circle",
        geometry={"type": "Point", "coordinates": [24.02, 35.51]},
        radius_m=100.0,
    )
    client = web_client_for(users_a[Role.MANAGER])
    response = client.post(
        f"{PAGE}{fence.pk}/",
        {
            "name": fence.name,
            "role": "school",
            "active": "on",
            "geometry": json.dumps({"type": "Point", "coordinates": [24.03, 35.512]}),
            "radius": "250",
        },
    )
    assert response.status_code == 200, response.content
    fence.refresh_from_db()
    assert fence.geometry["coordinates"] == [24.03, 35.512]
    assert fence.radius_m == 250.0
    # A circle cannot become a polygon by an edit.
    response = client.post(
        f"{PAGE}{fence.pk}/",
        {"name": fence.name, "role": "school", "geometry": _polygon(SQUARE)},
    )
    assert response.status_code == 400
    fence.refresh_from_db()
    assert fence.kind == "circle"


def test_readers_cannot_write(municipality_a, users_a, web_client_for):
    fence = GeofenceFactory(municipality=municipality_a, name="Αμετάβλητο")
    for role in (Role.DISPATCHER, Role.MECHANIC, Role.AUDITOR, Role.DRIVER):
        client = web_client_for(users_a[role])
        assert _create(client).status_code == 403, role
        edit = client.post(f"{PAGE}{fence.pk}/", {"name": "Άλλο", "role": "depot"})
        assert edit.status_code == 403
        assert client.post(f"{PAGE}{fence.pk}/delete/").status_code == 403
        upload = SimpleUploadedFile("g.geojson", b"{}", content_type="application/geo+json")
        assert client.post(PAGE + "import/", {"file": upload}).status_code == 403
    fence.refresh_from_db()
    assert fence.name == "Αμετάβλητο"
    assert Geofence.objects.count() == 1


def test_editor_deletes_and_delete_wants_post(municipality_a, users_a, web_client_for, caplog):
    fence = GeofenceFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.ADMIN])
    assert client.get(f"{PAGE}{fence.pk}/delete/").status_code == 405
    with caplog.at_level("INFO", logger="telematics"):
        response = client.post(f"{PAGE}{fence.pk}/delete/")
    assert response.status_code == 200
    assert response.json() == {"deleted": fence.pk}
    assert not Geofence.objects.filter(pk=fence.pk).exists()
    assert f"telematics.geofence_deleted geofence={fence.pk}" in caplog.text


def _upload(content: bytes | str, name: str = "geofences.geojson") -> SimpleUploadedFile:
    if isinstance(content, str):
        content = content.encode()
    return SimpleUploadedFile(name, content, content_type="application/geo+json")


def test_import_creates_every_feature_and_says_how_many(municipality_a, users_a, web_client_for):
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "ΧΥΤΑ", "role": "landfill"},
                "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
            },
            {
                "type": "Feature",
                "properties": {"name": "Σχολείο", "radius": 120},
                "geometry": {"type": "Point", "coordinates": [24.02, 35.51]},
            },
        ],
    }
    client = web_client_for(users_a[Role.MANAGER])
    response = client.post(
        PAGE + "import/", {"file": _upload(json.dumps(collection)), "role": "school"}, follow=True
    )
    assert response.status_code == 200
    assert "2 geofences imported." in response.content.decode()
    rows = {f.name: f for f in Geofence.objects.filter(municipality=municipality_a)}
    assert set(rows) == {"ΧΥΤΑ", "Σχολείο"}
    assert rows["ΧΥΤΑ"].role == "landfill"
    assert (rows["Σχολείο"].role, rows["Σχολείο"].kind, rows["Σχολείο"].radius_m) == (
        "school",
        "circle",
        120.0,
    )


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (json.dumps({"type": "FeatureCollection", "features": []}), "no geofences"),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {"name": "Καλό"},
                            "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
                        },
                        {
                            "type": "Feature",
                            "properties": {"name": "Φιόγκος"},
                            "geometry": {"type": "Polygon", "coordinates": [BOW_TIE]},
                        },
                    ],
                }
            ),
            "Self-intersection",
        ),
    ],
)
def test_a_bad_import_shows_the_problem_and_changes_nothing(
    content, words, municipality_a, users_a, web_client_for, caplog
):
    GeofenceFactory(municipality=municipality_a, name="Υπάρχον")
    client = web_client_for(users_a[Role.ADMIN])
    with caplog.at_level("INFO", logger="telematics"):
        response = client.post(PAGE + "import/", {"file": _upload(content), "role": "general"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "The GeoJSON was not imported; nothing was changed." in html
    assert words in html
    assert list(Geofence.objects.values_list("name", flat=True)) == ["Υπάρχον"]
    assert "telematics.geofence_import_rejected" in caplog.text


def test_import_without_a_file_or_with_an_unknown_role(municipality_a, users_a, web_client_for):
    client = web_client_for(users_a[Role.ADMIN])
    response = client.post(PAGE + "import/", {"role": "general"})
    assert response.status_code == 400
    assert "Choose a GeoJSON file to import." in response.content.decode()
    upload = _upload(json.dumps({"type": "Polygon", "coordinates": [SQUARE]}))
    response = client.post(PAGE + "import/", {"file": upload, "role": "castle"})
    assert response.status_code == 400
    assert "Unknown geofence role." in response.content.decode()
    assert not Geofence.objects.exists()


def test_export_downloads_what_the_import_takes_back(
    municipality_a, municipality_b, users_a, users_b, web_client_for
):
    GeofenceFactory(municipality=municipality_a, name="Αμαξοστάσιο", role="depot")
    GeofenceFactory(
        municipality=municipality_a,
        name="Σχολείο",
        role="school",
        kind="circle",
        geometry={"type": "Point", "coordinates": [24.02, 35.51]},
        radius_m=80.0,
        speed_limit_kmh=30.0,
    )
    GeofenceFactory(municipality=municipality_b, name="Ξένο")
    response = web_client_for(users_a[Role.AUDITOR]).get(PAGE + "export/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/geo+json")
    assert response["Content-Disposition"] == 'attachment; filename="geofences-town-a.geojson"'
    exported = json.loads(response.content)
    assert [f["properties"]["name"] for f in exported["features"]] == ["Αμαξοστάσιο", "Σχολείο"]
    # The file goes into another municipality as it is: same shapes, roles and limits.
    client_b = web_client_for(users_b[Role.ADMIN])
    upload = _upload(response.content)
    assert client_b.post(PAGE + "import/", {"file": upload}).status_code == 302
    copied = {f.name: f for f in Geofence.objects.filter(municipality=municipality_b)}
    assert copied["Σχολείο"].radius_m == 80.0
    assert copied["Σχολείο"].speed_limit_kmh == 30.0
    assert copied["Σχολείο"].role == "school"
    original = Geofence.objects.get(municipality=municipality_a, name="Αμαξοστάσιο")
    assert copied["Αμαξοστάσιο"].geometry == original.geometry


@pytest.fixture
def deleted_after_lookup():
    """Deletes a geofence the moment the request has looked it up (its first load from the
    database), as another editor's delete landing between lookup and save would."""
    from django.db.models.signals import post_init

    target: dict[str, int | None] = {"pk": None}

    def delete_once(sender, instance, **kwargs):
        if instance.pk is not None and instance.pk == target["pk"]:
            target["pk"] = None
            Geofence.objects.filter(pk=instance.pk).delete()

    post_init.connect(delete_once, sender=Geofence)
    yield target
    post_init.disconnect(delete_once, sender=Geofence)


def test_saving_a_geofence_deleted_meanwhile_says_so_and_does_not_bring_it_back(
    municipality_a, users_a, web_client_for, deleted_after_lookup, caplog
):
    fence = GeofenceFactory(municipality=municipality_a, name="Παλιό όνομα", role="depot")
    client = web_client_for(users_a[Role.ADMIN])
    edit = {"name": "Νέο όνομα", "role": "depot", "active": "on", "geometry": _polygon(SQUARE)}

    # The map's script asks for JSON: a 404 with a message it shows.
    deleted_after_lookup["pk"] = fence.pk
    with caplog.at_level("INFO", logger="telematics"):
        response = client.post(f"{PAGE}{fence.pk}/", edit, HTTP_ACCEPT="application/json")
    assert response.status_code == 404
    assert "deleted by someone else" in response.json()["errors"]["__all__"][0]
    assert f"telematics.geofence_update_gone geofence={fence.pk}" in caplog.text
    assert not Geofence.objects.filter(pk=fence.pk).exists()

    # A plain form post: back to the list, with the message.
    again = GeofenceFactory(municipality=municipality_a, name="Άλλο", role="depot")
    deleted_after_lookup["pk"] = again.pk
    response = client.post(f"{PAGE}{again.pk}/", edit, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert [str(m) for m in response.context["messages"]] == [
        "This geofence was deleted by someone else meanwhile; your changes were not saved."
    ]
    assert not Geofence.objects.filter(pk=again.pk).exists()
