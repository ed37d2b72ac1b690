"""A malformed geofence upload is explained in the user's language: the API by Accept-Language,
the geofences page and the admin by the language the user picked (Greek first).

The English tests pass on their own. The Greek ones (marked GREEK below) need the problem
templates of ``telematics/motion/geofence.py`` translated in ``config/locale/el``: they fail
until the catalogue is refreshed with those translations, and are not skipped.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from fleet.choices import Role
from telematics.motion.geofence import GeofenceError, parse_geojson
from telematics.motion_models import Geofence
from tests.factories import GeofenceFactory, UserFactory

API = "/api/v1/geofences/"
PAGE_IMPORT = "/telematics/geofences/import/"
ADMIN_ADD = "/admin/telematics/geofence/add/"

SQUARE = [[24.01, 35.505], [24.02, 35.505], [24.02, 35.515], [24.01, 35.515], [24.01, 35.505]]


def _feature(geometry, **properties):
    return {"type": "Feature", "properties": properties, "geometry": geometry}


# Five features, each wrong in its own way and found at its own depth (feature, polygon, ring,
# position), one of them named in Greek.
MALFORMED = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            _feature({"type": "Polygon", "coordinates": [SQUARE[:-1]]}, name="Αυλή"),
            _feature({"type": "Point", "coordinates": [24.05, 35.48]}),
            _feature(
                {
                    "type": "Polygon",
                    "coordinates": [[[24.0, 35.5], [24.0, 124.0], [24.01, 35.5], [24.0, 35.5]]],
                }
            ),
            _feature({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE[:3]]]}),
            _feature({"type": "LineString", "coordinates": [[24.0, 35.5], [24.1, 35.6]]}),
        ],
    },
    ensure_ascii=False,
)

ENGLISH = [
    "feature 1 (Αυλή) ring 1: the ring is not closed (first and last positions differ)",
    'feature 2: a point is a circle only with a "radius" in metres',
    "feature 3 ring 1 position 2: [24.0, 124.0] is outside longitude ±180 / latitude ±90 "
    "(GeoJSON order is longitude, latitude)",
    "feature 4 polygon 2 ring 1: a ring needs at least 4 positions (3 corners, closed)",
    "feature 5: a LineString cannot be a geofence; draw a polygon or a circle instead",
]

# GREEK: these pass once the lead has merged the translations (tr_geoerr.py) into
# config/locale/el and compiled them; before that the problems come back in English.
GREEK = [
    "στοιχείο 1 (Αυλή) δακτύλιος 1: ο δακτύλιος δεν είναι κλειστός "
    "(η πρώτη και η τελευταία θέση διαφέρουν)",
    'στοιχείο 2: ένα σημείο είναι κύκλος μόνο με "radius" σε μέτρα',
    "στοιχείο 3 δακτύλιος 1 θέση 2: το [24.0, 124.0] είναι εκτός ορίων γεωγραφικού μήκους ±180 "
    "/ πλάτους ±90 (στο GeoJSON η σειρά είναι μήκος, πλάτος)",
    "στοιχείο 4 πολύγωνο 2 δακτύλιος 1: ένας δακτύλιος χρειάζεται τουλάχιστον 4 θέσεις "
    "(3 κορυφές, κλειστός)",
    "στοιχείο 5: ένα LineString δεν μπορεί να είναι γεωφράχτης· σχεδιάστε πολύγωνο ή κύκλο",
]


def _api_post(client, body, language: str):
    return client.post(API, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)


def _page_problems(response) -> list[str]:
    """The problems listed under the import form, as the user reads them."""
    page = response.content.decode()
    box = page[page.index('id="geofence-import-errors"') :]
    items = box[box.index('<ul class="errorlist">') : box.index("</ul>")]
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", items)]


def _admin_problems(client, municipality, language: str) -> list[str]:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    open_ring = {"type": "Polygon", "coordinates": [[[24.0, 35.5], [24.1, 35.5], [24.1, 35.6]]]}
    response = client.post(
        ADMIN_ADD,
        {
            "municipality": municipality.pk,
            "name": "Σχολείο",
            "role": "school",
            "kind": "polygon",
            "geometry": json.dumps(open_ring),
            "active": "on",
        },
    )
    assert response.status_code == 200  # the form again, with its errors
    assert not Geofence.objects.exists()
    return list(response.context["adminform"].form.non_field_errors())


@pytest.fixture
def editor_api(users_a, api_client_for):
    return api_client_for(users_a[Role.ADMIN])


@pytest.fixture
def editor_page(users_a, web_client_for):
    return web_client_for(users_a[Role.ADMIN])


@pytest.fixture
def superuser_admin(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True, municipality=None))
    return client


def test_the_upload_is_rejected_by_the_parser_with_these_english_problems() -> None:
    with pytest.raises(GeofenceError) as info:
        parse_geojson(MALFORMED)
    assert [str(p) for p in info.value.problems] == ENGLISH


def test_api_in_english_gives_the_parsers_english_text(municipality_a, editor_api):
    existing = GeofenceFactory(municipality=municipality_a, name="Υπάρχον")
    with pytest.raises(GeofenceError) as info:
        parse_geojson(MALFORMED)
    response = _api_post(editor_api, MALFORMED, "en")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "The GeoJSON was not imported; nothing was changed."
    assert body["problems"] == [str(p) for p in info.value.problems] == ENGLISH
    assert list(Geofence.objects.values_list("pk", flat=True)) == [existing.pk]


def test_page_in_english_lists_the_parsers_english_text(municipality_a, editor_page):
    editor_page.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    upload = SimpleUploadedFile("zones.geojson", MALFORMED.encode(), "application/geo+json")
    response = editor_page.post(PAGE_IMPORT, {"file": upload, "role": "general"})
    assert response.status_code == 400
    assert _page_problems(response) == ENGLISH
    assert not Geofence.objects.exists()


def test_admin_in_english_gives_the_parsers_english_text(municipality_a, superuser_admin):
    assert _admin_problems(superuser_admin, municipality_a, "en") == [
        "feature 1 (Σχολείο) ring 1: a ring needs at least 4 positions (3 corners, closed)"
    ]


def test_api_refuses_json_nested_too_deeply_with_a_problem_not_a_crash(editor_api):
    response = _api_post(editor_api, "[" * 100_000, "en")
    assert response.status_code == 400
    assert response.json()["problems"] == ["the JSON is nested too deeply"]
    assert not Geofence.objects.exists()


# ---- GREEK: pass after the catalogue merge (see the module docstring) ----------------------


def test_api_with_accept_language_el_answers_in_greek(municipality_a, editor_api):
    response = _api_post(editor_api, MALFORMED, "el")
    assert response.status_code == 400
    assert response.json()["problems"] == GREEK
    response = _api_post(editor_api, '{"type": [}', "el")
    assert response.status_code == 400
    assert response.json()["problems"] == ["μη έγκυρο JSON (γραμμή 1, στήλη 11)"]
    assert not Geofence.objects.exists()


def test_page_for_a_greek_user_lists_the_problems_in_greek(municipality_a, editor_page):
    editor_page.cookies[settings.LANGUAGE_COOKIE_NAME] = "el"
    upload = SimpleUploadedFile("zones.geojson", MALFORMED.encode(), "application/geo+json")
    response = editor_page.post(PAGE_IMPORT, {"file": upload, "role": "general"})
    assert response.status_code == 400
    assert _page_problems(response) == GREEK
    assert not Geofence.objects.exists()


def test_admin_for_a_greek_user_gives_the_problems_in_greek(municipality_a, superuser_admin):
    assert _admin_problems(superuser_admin, municipality_a, "el") == [
        "στοιχείο 1 (Σχολείο) δακτύλιος 1: ένας δακτύλιος χρειάζεται τουλάχιστον 4 θέσεις "
        "(3 κορυφές, κλειστός)"
    ]
