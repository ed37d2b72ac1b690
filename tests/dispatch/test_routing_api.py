"""Routing over HTTP: routes, matrices, the street layer, the planner page and build_graph.

Expected durations come from networkx on the same OSMnx graph, or from hand geometry on a
hand-made town; the API is checked to be wired to the right municipality's graph.
"""

from __future__ import annotations

import math
import shutil
from contextlib import contextmanager

import networkx as nx
import pytest
from django.core.management import CommandError, call_command

from dispatch.routing import graph, registry
from fleet.choices import Role
from tests.dispatch.routing.conftest import CHANIA, write_osm
from tests.factories import MunicipalityFactory, UserFactory, VehicleFactory

ROUTES, MATRIX, STREETS = "/api/v1/routes/", "/api/v1/routes/matrix/", "/api/v1/streets/"
PLANNER = "/dispatch/route-planner/"

LAT, LON = 35.0, 24.0
W, A, B, E = (LAT, LON - 0.002), (LAT, LON), (LAT, LON + 0.004), (LAT, LON + 0.006)
C, D = (LAT + 0.002, LON), (LAT + 0.002, LON + 0.004)
P, Q = (LAT, LON - 0.001), (LAT, LON + 0.005)


def hav(a, b):
    r = 6_371_009.0
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def polyline_m(points):
    return sum(hav(a, b) for a, b in zip(points[:-1], points[1:], strict=True))


@pytest.fixture(autouse=True)
def _fresh_registry():
    registry.clear()
    yield
    registry.clear()


@pytest.fixture(scope="module")
def chania_reference():
    """networkx reference: the OSMnx graph of Chania clipped like the test municipality."""
    clip = graph.Clip(bbox=(35.5033, 24.0059, 35.5187, 24.0395))
    return graph.build_nx_graph(CHANIA, clip)


@pytest.fixture
def town_file(tmp_path):
    """A hand-made town: a 3.5 t street A-B and a detour A-C-D-B, with stubs W-A and B-E."""
    nodes = {1: W, 2: A, 3: B, 4: E, 5: C, 6: D}
    ways = [
        (10, [1, 2], {"highway": "residential", "name": "West"}),
        (11, [2, 3], {"highway": "residential", "name": "Short", "maxweight": "3.5"}),
        (12, [2, 5, 6, 3], {"highway": "residential", "name": "Detour"}),
        (13, [3, 4], {"highway": "residential", "name": "East"}),
    ]
    return write_osm(tmp_path / "town.osm", nodes, ways)


@pytest.fixture
def town(db, town_file):
    return MunicipalityFactory(
        slug="town",
        osm_file=str(town_file),
        bbox_south=None,
        bbox_west=None,
        bbox_north=None,
        bbox_east=None,
    )


@pytest.fixture
def town_dispatcher(town):
    return UserFactory(username="town-dispatcher", municipality=town, role=Role.DISPATCHER)


def _junctions(G, count=4):
    nodes = sorted(G.nodes)[:: max(1, len(G) // count)][:count]
    return nodes, [(G.nodes[n]["y"], G.nodes[n]["x"]) for n in nodes]


# --- POST /api/v1/routes/ ---------------------------------------------------------------------


def test_route_is_geojson_with_length_and_duration_equal_to_networkx(
    users_a, api_client_for, chania_reference
):
    nodes, pts = _junctions(chania_reference, 2)
    expected_ms = nx.shortest_path_length(
        chania_reference, nodes[0], nodes[1], weight="travel_time_ms"
    )
    expected_mm = nx.shortest_path_length(
        chania_reference, nodes[0], nodes[1], weight="travel_time_ms"
    )
    path = nx.shortest_path(chania_reference, nodes[0], nodes[1], weight="travel_time_ms")
    expected_mm = nx.path_weight(chania_reference, path, weight="length_mm")

    response = api_client_for(users_a[Role.DISPATCHER]).post(
        ROUTES, {"points": [list(pts[0]), {"lat": pts[1][0], "lon": pts[1][1]}]}, format="json"
    )
    assert response.status_code == 200, response.content
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "LineString"
    assert len(feature["geometry"]["coordinates"]) >= len(path)
    props = feature["properties"]
    assert props["ok"] is True
    assert props["duration_s"] == pytest.approx(expected_ms / 1000, abs=0.05)
    assert props["length_m"] == pytest.approx(expected_mm / 1000, abs=0.05)
    assert [p["ok"] for p in props["points"]] == [True, True]


def test_route_needs_authentication(client):
    assert client.post(ROUTES, {}, content_type="application/json").status_code in (401, 403)


@pytest.mark.parametrize("role", [Role.DRIVER, Role.MECHANIC, Role.AUDITOR])
def test_route_is_refused_to_roles_without_routing(role, users_a, api_client_for):
    response = api_client_for(users_a[role]).post(
        ROUTES, {"points": [[35.51, 24.02], [35.512, 24.03]]}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"points": [[35.51, 24.02]]},
        {"points": [[35.51, 24.02], [135.0, 24.0]]},
        {"points": [[35.51, 24.02], "x"]},
        {"points": [[35.51, 24.02], {"lat": 35.5}]},
        {"points": [[35.51, 24.02], [35.512, 24.03]], "metric": "beauty"},
        {"points": [[35.51, 24.02], [35.512, 24.03]], "weight_t": -1},
        {},
    ],
)
def test_bad_route_requests_are_400(body, users_a, api_client_for):
    response = api_client_for(users_a[Role.DISPATCHER]).post(ROUTES, body, format="json")
    assert response.status_code == 400


def test_point_off_the_network_is_422_with_the_reason(users_a, api_client_for):
    response = api_client_for(users_a[Role.DISPATCHER]).post(
        ROUTES, {"points": [[35.60, 24.00], [35.512, 24.03]]}, format="json"
    )
    assert response.status_code == 422
    feature = response.json()
    assert feature["geometry"] is None
    assert feature["properties"]["reason"] == "outside_network"
    assert feature["properties"]["points"][0]["ok"] is False


def test_vehicle_weight_closes_restricted_streets(town, town_dispatcher, api_client_for):
    api = api_client_for(town_dispatcher)
    car = api.post(ROUTES, {"points": [P, Q]}, format="json").json()["properties"]
    assert car["length_m"] == pytest.approx(polyline_m([P, A, B, Q]), abs=0.5)

    truck = VehicleFactory(municipality=town, gross_weight_kg=12000)
    by_vehicle = api.post(ROUTES, {"points": [P, Q], "vehicle": truck.pk}, format="json")
    assert by_vehicle.status_code == 200
    detour = polyline_m([P, A, C, D, B, Q])
    assert by_vehicle.json()["properties"]["length_m"] == pytest.approx(detour, abs=0.5)

    by_weight = api.post(ROUTES, {"points": [P, Q], "weight_t": 12}, format="json").json()
    assert by_weight["properties"]["length_m"] == pytest.approx(detour, abs=0.5)
    light = api.post(ROUTES, {"points": [P, Q], "weight_t": 3.5}, format="json").json()
    assert light["properties"]["length_m"] == pytest.approx(polyline_m([P, A, B, Q]), abs=0.5)


def test_another_municipalitys_vehicle_cannot_be_used(town, town_dispatcher, api_client_for):
    elsewhere = VehicleFactory(gross_weight_kg=12000)  # in some other municipality
    response = api_client_for(town_dispatcher).post(
        ROUTES, {"points": [P, Q], "vehicle": elsewhere.pk}, format="json"
    )
    assert response.status_code == 400
    assert "vehicle" in response.json()


def test_each_user_routes_on_their_own_municipalitys_graph(
    town, town_dispatcher, users_a, api_client_for
):
    # A point in the hand-made town is off Chania's network, and the other way round.
    in_town = api_client_for(town_dispatcher).post(
        ROUTES, {"points": [[35.512, 24.02], [35.513, 24.03]]}, format="json"
    )
    assert in_town.status_code == 422
    assert in_town.json()["properties"]["reason"] == "outside_network"
    in_chania = api_client_for(users_a[Role.DISPATCHER]).post(
        ROUTES, {"points": [P, Q]}, format="json"
    )
    assert in_chania.status_code == 422


def test_municipality_without_a_graph_is_503(db, api_client_for):
    bare = MunicipalityFactory(osm_file="")
    user = UserFactory(municipality=bare, role=Role.DISPATCHER)
    response = api_client_for(user).post(ROUTES, {"points": [P, Q]}, format="json")
    assert response.status_code == 503
    assert api_client_for(user).get(STREETS).status_code == 503


# --- POST /api/v1/routes/matrix/ --------------------------------------------------------------


def test_matrix_equals_networkx_and_marks_unusable_points_null(
    users_a, api_client_for, chania_reference
):
    nodes, pts = _junctions(chania_reference, 4)
    response = api_client_for(users_a[Role.DISPATCHER]).post(
        MATRIX,
        {"origins": [list(p) for p in pts] + [[35.60, 24.0]], "destinations": pts},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["metric"] == "time"
    for i, n in enumerate(nodes):
        lengths = nx.single_source_dijkstra_path_length(
            chania_reference, n, weight="travel_time_ms"
        )
        for j, m in enumerate(nodes):
            assert body["durations_s"][i][j] == pytest.approx(lengths[m] / 1000, abs=0.05)
    assert body["durations_s"][4] == [None] * 4
    assert body["origins"][4] == {
        "lat": 35.6,
        "lon": 24.0,
        "ok": False,
        "reason": "outside_network",
    }


def test_matrix_destinations_default_to_origins(town, town_dispatcher, api_client_for):
    response = api_client_for(town_dispatcher).post(MATRIX, {"origins": [P, Q]}, format="json")
    body = response.json()
    assert body["durations_s"][0][0] == 0 and body["durations_s"][1][1] == 0
    assert body["lengths_m"][0][1] == pytest.approx(polyline_m([P, A, B, Q]), abs=0.5)


def test_matrix_size_is_limited(users_a, api_client_for):
    response = api_client_for(users_a[Role.DISPATCHER]).post(
        MATRIX, {"origins": [[35.51, 24.02]] * 501}, format="json"
    )
    assert response.status_code == 400


# --- GET /api/v1/streets/ ---------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.DRIVER, Role.MECHANIC, Role.AUDITOR])
def test_streets_layer_for_everyone_who_sees_maps(role, users_a, api_client_for):
    response = api_client_for(users_a[role]).get(STREETS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    data = response.json()
    assert data["type"] == "FeatureCollection"
    assert data["attribution"] == "© OpenStreetMap contributors"
    names = {f["properties"]["name"] for f in data["features"]}
    assert "Χάληδων" in names  # a street of Chania's old town
    assert all(f["geometry"]["type"] == "LineString" for f in data["features"])
    west, south, east, north = data["bbox"]
    assert 24.0 < west < east < 24.05 and 35.50 < south < north < 35.52


def test_streets_layer_is_conditional(users_a, api_client_for):
    api = api_client_for(users_a[Role.DRIVER])
    first = api.get(STREETS)
    again = api.get(STREETS, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304


def test_streets_layer_draws_a_two_way_street_once(town, town_dispatcher, api_client_for):
    data = api_client_for(town_dispatcher).get(STREETS).json()
    names = sorted(f["properties"]["name"] for f in data["features"])
    assert names == ["Detour", "East", "Short", "West"]


def test_streets_need_authentication(client, db):
    assert client.get(STREETS).status_code in (401, 403)


# --- the planner page -------------------------------------------------------------------------


def test_route_planner_page_uses_local_leaflet_and_the_basemap(users_a, web_client_for):
    response = web_client_for(users_a[Role.DISPATCHER]).get(PLANNER)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/leaflet/leaflet.js" in html and "/static/leaflet/leaflet.css" in html
    assert "unpkg.com" not in html and "cdnjs" not in html
    assert "dispatch/basemap.js" in html and "dispatch/route_planner.js" in html
    assert 'id="planner-map"' in html
    assert "/api/v1/routes/" in html and "/api/v1/streets/" in html


def test_route_planner_page_is_for_routing_roles(users_a, web_client_for, client):
    assert web_client_for(users_a[Role.DRIVER]).get(PLANNER).status_code == 403
    client.logout()
    assert client.get(PLANNER).status_code == 302


# --- manage.py build_graph --------------------------------------------------------------------


def test_build_graph_builds_then_reuses_the_cache(town, settings, capsys):
    call_command("build_graph", "--municipality", "town")
    out = capsys.readouterr().out
    assert "town: 4 junctions" in out and "built in" in out
    assert len(list(settings.KINISI_GRAPH_DIR.glob("town-*.npz"))) == 1
    call_command("build_graph", "--municipality", "town")
    assert "loaded from cache" in capsys.readouterr().out


def test_build_graph_with_source_and_bbox(town_file, settings, capsys, db):
    call_command(
        "build_graph",
        "--source",
        str(town_file),
        "--bbox",
        f"{LAT - 0.001},{LON - 0.003},{LAT + 0.001},{LON + 0.007}",
    )
    # The detour is outside: W-A, A-B, B-E remain, two-way (names differ, so A and B stay).
    assert "town.osm: 4 junctions, 6 road stretches" in capsys.readouterr().out


def test_build_graph_reports_bad_input(db, tmp_path):
    with pytest.raises(CommandError, match="S,W,N,E"):
        call_command("build_graph", "--source", "x.osm", "--bbox", "1,2,3")
    with pytest.raises(CommandError, match="no municipality"):
        call_command("build_graph", "--municipality", "atlantis")
    with pytest.raises(CommandError, match="could not be built"):
        call_command("build_graph", "--source", str(tmp_path / "missing.osm"))


# --- in a real browser ------------------------------------------------------------------------


@contextmanager
def _planner_in_chromium(live_server, client, monkeypatch):
    """The route planner page in headless Chromium, logged in as a dispatcher."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs the Debian chromium package (CI installs it; nothing may skip there)")
    # Playwright runs an event loop in this thread; the ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    municipality = MunicipalityFactory(slug="chania-browser")
    user = UserFactory(municipality=municipality, role=Role.DISPATCHER)
    client.force_login(user)
    session = client.cookies["sessionid"].value
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = browser.new_context()
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
            page = context.new_page()
            page.goto(live_server.url + PLANNER)
            yield page
            # Let requests in flight finish before the database is torn down.
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()


STREETS_CANVAS = ".leaflet-kinisi-basemap-pane canvas"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_route_planner_in_a_browser_draws_streets_and_a_route(live_server, client, monkeypatch):
    """With no tile server the map shows the street graph (never a grey square) with the OSM
    attribution; two stops give a route with its time."""
    with _planner_in_chromium(live_server, client, monkeypatch) as page:
        page.wait_for_selector(STREETS_CANVAS, timeout=20_000)
        assert "© OpenStreetMap contributors" in page.inner_text(".leaflet-control-attribution")
        page.evaluate("window.kinisiPlanner.addStop(35.5150, 24.0180)")
        page.evaluate("window.kinisiPlanner.addStop(35.5100, 24.0300)")
        page.wait_for_function(
            "document.getElementById('planner-summary').textContent.indexOf('·') > 0",
            timeout=20_000,
        )
        summary = page.inner_text("#planner-summary")
        assert "min" in summary and "km" in summary
        # The route is drawn over the streets, in the overlay pane.
        assert page.locator(".leaflet-overlay-pane path").count() >= 1


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_configured_tiles_are_used(live_server, client, monkeypatch, settings):
    # A "tile server": any image the live server serves will do.
    settings.KINISI_TILE_URL = (
        live_server.url + "/static/leaflet/images/layers.png?z={z}&x={x}&y={y}"
    )
    with _planner_in_chromium(live_server, client, monkeypatch) as page:
        page.wait_for_selector(".leaflet-tile-pane img.leaflet-tile-loaded", timeout=20_000)
        page.wait_for_timeout(1000)
        assert page.locator(STREETS_CANVAS).count() == 0
        assert "© OpenStreetMap contributors" in page.inner_text(".leaflet-control-attribution")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_unreachable_tile_server_falls_back_to_the_street_graph(
    live_server, client, monkeypatch, settings
):
    settings.KINISI_TILE_URL = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # nothing listens there
    with _planner_in_chromium(live_server, client, monkeypatch) as page:
        page.wait_for_selector(STREETS_CANVAS, timeout=20_000)
        assert page.locator(".leaflet-tile-pane img").count() == 0


def test_municipality_boundary_clips_the_graph():
    from types import SimpleNamespace

    square = [[24.0, 35.0], [24.01, 35.0], [24.01, 35.01], [24.0, 35.01], [24.0, 35.0]]
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square]}}
    town = SimpleNamespace(slug="t", bbox=(35.0, 24.0, 35.01, 24.01), boundary=feature)
    clip = registry.clip_for(town)
    assert clip.bbox == (35.0, 24.0, 35.01, 24.01)
    assert clip.polygon.bounds == (24.0, 35.0, 24.01, 35.01)
    # A broken boundary is ignored (logged), the bbox still clips.
    town.boundary = {"type": "Polygon", "coordinates": "nonsense"}
    assert registry.clip_for(town).polygon is None


def test_installation_superuser_names_the_municipality(db, api_client_for):
    town = MunicipalityFactory(slug="chania-admin")
    root = UserFactory(username="root-routing", municipality=None, is_superuser=True)
    api = api_client_for(root)
    assert api.get(STREETS).status_code == 404
    assert api.get(STREETS + "?municipality=atlantis").status_code == 404
    response = api.get(STREETS + f"?municipality={town.slug}")
    assert response.status_code == 200
    assert response.json()["type"] == "FeatureCollection"
