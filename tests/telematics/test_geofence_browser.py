"""Geofences page in a real browser (Playwright driving Debian's headless Chromium).

A manager draws a polygon by clicking on the map, names it and saves it; after a reload it is
listed and stored with the corners that were clicked. Then a corner is dragged and the name
changed, then it is deleted. Set KINISI_SCREENSHOT_DIR to keep screenshots of the page.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections

from fleet.choices import Role
from telematics.motion_models import Geofence
from tests.factories import GeofenceFactory, UserFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Bounds on waiting (a broken page fails instead of hanging), not measures of speed.
WAIT_MS = 15_000
# Stored to 7 decimals; Leaflet gives the same click back to well under this.
TOLERANCE_DEG = 2e-7
CLICK_PAUSE_MS = 200

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]

# Keep a handle on the Leaflet map (django-leaflet announces it with a "map:init" event), so the
# test can turn the pixels it clicks into coordinates the same way the map does.
CAPTURE_MAP = (
    "window.addEventListener('map:init', function (e) { window.kinisiTestMap = e.detail.map; });"
)


@pytest.fixture
def chromium(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own database
    # calls stay synchronous, so Django's guard against ORM use inside event loops is lifted.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _close_test_sessions() -> None:
    """While Playwright's sync API runs, the test's ORM calls get a database connection of
    their own (another context); close it from the test body, so PostgreSQL can drop the test
    database at the end of the run."""
    connections.close_all()


def _login_cookie(user, settings, url: str) -> dict:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return {"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": url}


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("KINISI_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"geofences-{name}.png"), full_page=True)


def _lnglat_at(page, x: float, y: float) -> list[float]:
    """The map's coordinates under a point of the page (longitude, latitude)."""
    return page.evaluate(
        """([x, y]) => {
            const ll = window.kinisiTestMap.mouseEventToLatLng({clientX: x, clientY: y});
            return [ll.lng, ll.lat];
        }""",
        [x, y],
    )


def _shifted(page, lnglat: list[float], dx: float, dy: float) -> list[float]:
    """Coordinates ``dx``, ``dy`` pixels away from ``lnglat`` on the map as it is now."""
    return page.evaluate(
        """([lng, lat, dx, dy]) => {
            const map = window.kinisiTestMap;
            const point = map.latLngToContainerPoint([lat, lng]).add([dx, dy]);
            const ll = map.containerPointToLatLng(point);
            return [ll.lng, ll.lat];
        }""",
        [lnglat[0], lnglat[1], dx, dy],
    )


def _close(a: list[float], b: list[float]) -> bool:
    return abs(a[0] - b[0]) <= TOLERANCE_DEG and abs(a[1] - b[1]) <= TOLERANCE_DEG


def test_draw_save_edit_and_delete_a_polygon(chromium, live_server, municipality_a, settings):
    user = UserFactory(municipality=municipality_a, role=Role.MANAGER)
    GeofenceFactory(municipality=municipality_a, name="ΧΥΤΑ", role="landfill")
    url = f"{live_server.url}/telematics/geofences/"
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en")
    context.add_cookies([_login_cookie(user, settings, live_server.url)])
    context.add_init_script(CAPTURE_MAP)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(url)
    page.wait_for_function("window.kinisiTestMap !== undefined")
    page.wait_for_load_state("networkidle")
    _screenshot(page, "list")

    # Draw: three corners, then a click on the first corner closes the polygon.
    box = page.locator("#geofence-map").bounding_box()
    # Whole pixels: mouse events carry whole pixels.
    cx, cy = round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)
    corners = [(cx - 120, cy - 80), (cx + 110, cy - 60), (cx + 20, cy + 100)]
    expected = [_lnglat_at(page, x, y) for x, y in corners]
    page.click("#geofence-draw-polygon")
    for x, y in corners:
        page.mouse.click(x, y)
        # Leaflet.draw ignores a press within 50 ms of the last corner; a person is slower.
        page.wait_for_timeout(CLICK_PAUSE_MS)
    page.mouse.click(*corners[0])
    page.wait_for_selector("#geofence-form:not([hidden])")
    assert page.locator("#geofence-form-title").inner_text() == "New polygon"
    page.fill("#geofence-name", "Αμαξοστάσιο Σούδας")
    page.select_option("#geofence-role", "depot")
    page.fill("#geofence-speed", "30")
    _screenshot(page, "drawn")
    page.click("#geofence-save")
    page.wait_for_url(f"{url}*/")

    fence = Geofence.objects.get(name="Αμαξοστάσιο Σούδας")
    assert page.url == f"{url}{fence.pk}/"
    assert (fence.municipality_id, fence.role, fence.kind) == (
        municipality_a.pk,
        "depot",
        "polygon",
    )
    assert fence.speed_limit_kmh == 30.0
    ring = fence.geometry["coordinates"][0]
    assert len(ring) == 4 and ring[0] == ring[-1]
    for stored, clicked in zip(ring[:3], expected, strict=True):
        assert _close(stored, clicked), (stored, clicked)

    # After a reload it is listed, selected, and its corners can be dragged.
    page.reload()
    page.wait_for_function("window.kinisiTestMap !== undefined")
    selected = page.locator("#geofence-list li.selected")
    assert selected.inner_text().strip().startswith("Αμαξοστάσιο Σούδας\nDepot · Polygon · 30 km/h")
    assert page.locator("#geofence-list li").count() == 2
    assert page.input_value("#geofence-name") == "Αμαξοστάσιο Σούδας"
    handles = page.locator(".leaflet-editing-icon:not(.leaflet-edit-move)")
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-marker-pane .leaflet-editing-icon').length >= 3"
    )
    _wait_until_still(page)
    _screenshot(page, "selected")
    corner_boxes = [handles.nth(i).bounding_box() for i in range(handles.count())]
    corner_points = [(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2) for b in corner_boxes]
    # The handle on the second corner (the others are corners and the marks between them).
    start = min(corner_points, key=lambda pt: _distance_to(pt, page, ring[1]))
    target = (start[0] + 40, start[1] + 30)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 20, start[1] + 15, steps=5)
    page.mouse.move(*target, steps=5)
    page.mouse.up()
    # A dragged handle moves by the mouse's movement, wherever on the handle it was taken.
    moved_to = _shifted(page, ring[1], target[0] - start[0], target[1] - start[1])
    page.fill("#geofence-name", "Αμαξοστάσιο Σούδας (νέο)")
    page.click("#geofence-save")
    page.wait_for_function(
        "document.querySelector('#geofence-list li.selected') !== null && "
        "document.querySelector('#geofence-list li.selected').innerText.includes('νέο')"
    )
    fence.refresh_from_db()
    assert fence.name == "Αμαξοστάσιο Σούδας (νέο)"
    new_ring = fence.geometry["coordinates"][0]
    assert len(new_ring) == 4
    assert _close(new_ring[1], moved_to), (new_ring[1], moved_to)
    assert _close(new_ring[0], ring[0]) and _close(new_ring[2], ring[2])

    # Pressed inside and dragged: the whole polygon moves.
    page.wait_for_function(
        "document.querySelectorAll('.leaflet-marker-pane .leaflet-editing-icon').length >= 3"
    )
    _wait_until_still(page)
    inside = page.evaluate(
        """(ring) => {
            const map = window.kinisiTestMap;
            const box = map.getContainer().getBoundingClientRect();
            const pts = ring.slice(0, 3).map((p) => map.latLngToContainerPoint([p[1], p[0]]));
            const x = (pts[0].x + pts[1].x + pts[2].x) / 3;
            const y = (pts[0].y + pts[1].y + pts[2].y) / 3;
            return [Math.round(x + box.left + map.getContainer().clientLeft),
                    Math.round(y + box.top + map.getContainer().clientTop)];
        }""",
        new_ring,
    )
    drop = (inside[0] - 50, inside[1] + 40)
    grabbed, dropped = _lnglat_at(page, *inside), _lnglat_at(page, *drop)
    page.mouse.move(*inside)
    page.mouse.down()
    page.mouse.move(inside[0] - 25, inside[1] + 20, steps=5)
    page.mouse.move(*drop, steps=5)
    page.mouse.up()
    with page.expect_navigation():
        page.click("#geofence-save")
    page.wait_for_function("document.querySelector('#geofence-list li.selected') !== null")
    fence.refresh_from_db()
    shift = (dropped[0] - grabbed[0], dropped[1] - grabbed[1])
    for before, after in zip(new_ring, fence.geometry["coordinates"][0], strict=True):
        assert _close(after, [before[0] + shift[0], before[1] + shift[1]]), (before, after, shift)

    # Delete (the confirmation is accepted): back to the list without it.
    page.click("#geofence-delete")
    page.wait_for_url(url)
    page.wait_for_load_state("networkidle")
    assert not Geofence.objects.filter(pk=fence.pk).exists()
    assert page.locator("#geofence-list li").count() == 1
    assert "Αμαξοστάσιο" not in page.locator("#geofence-list").inner_text()
    context.close()
    _close_test_sessions()
    assert errors == []


def _wait_until_still(page) -> None:
    """Wait until the map has stopped moving: after a reload or a save the page fits the map to
    the selected geofence, and a handle measured during that animation is somewhere else by the
    time the mouse presses it (the press then lands inside the polygon and moves all of it)."""
    page.evaluate(
        """() => new Promise((resolve) => {
            const map = window.kinisiTestMap;
            let last = null;
            function check() {
                const now = JSON.stringify([map.getCenter(), map.getZoom()]);
                if (now === last && !map._animatingZoom) { resolve(true); return; }
                last = now;
                setTimeout(check, 150);
            }
            check();
        })"""
    )


def _distance_to(point, page, lnglat) -> float:
    here = _lnglat_at(page, *point)
    return (here[0] - lnglat[0]) ** 2 + (here[1] - lnglat[1]) ** 2


def test_draw_a_circle_and_resize_it(chromium, live_server, municipality_a, settings):
    user = UserFactory(municipality=municipality_a, role=Role.ADMIN)
    url = f"{live_server.url}/telematics/geofences/"
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en")
    context.add_cookies([_login_cookie(user, settings, live_server.url)])
    context.add_init_script(CAPTURE_MAP)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_function("window.kinisiTestMap !== undefined")
    page.wait_for_load_state("networkidle")

    # Press at the centre, drag to the edge, release.
    box = page.locator("#geofence-map").bounding_box()
    cx, cy = round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)
    centre = _lnglat_at(page, cx, cy)
    radius = page.evaluate(
        """([x, y, ex, ey]) => {
            const map = window.kinisiTestMap;
            const a = map.mouseEventToLatLng({clientX: x, clientY: y});
            const b = map.mouseEventToLatLng({clientX: ex, clientY: ey});
            return map.distance(a, b);
        }""",
        [cx, cy, cx + 90, cy],
    )
    page.click("#geofence-draw-circle")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 45, cy, steps=5)
    page.mouse.move(cx + 90, cy, steps=5)
    page.mouse.up()
    page.wait_for_selector("#geofence-form:not([hidden])")
    assert page.locator("#geofence-form-title").inner_text() == "New circle"
    assert page.input_value("#geofence-radius") == str(round(radius))
    page.fill("#geofence-name", "Σχολείο Χαλέπας")
    page.select_option("#geofence-role", "school")
    page.click("#geofence-save")
    page.wait_for_url(f"{url}*/")
    fence = Geofence.objects.get(name="Σχολείο Χαλέπας")
    assert (fence.kind, fence.role) == ("circle", "school")
    assert _close(fence.geometry["coordinates"], centre), (fence.geometry, centre)
    assert abs(fence.radius_m - radius) <= 0.05, (fence.radius_m, radius)

    # Resized by typing the radius; the centre stays.
    page.wait_for_selector("#geofence-form:not([hidden])")
    page.fill("#geofence-radius", "250")
    page.dispatch_event("#geofence-radius", "change")
    page.click("#geofence-save")
    page.wait_for_function(
        "document.querySelector('#geofence-list li.selected .helptext').innerText.includes('250 m')"
    )
    fence.refresh_from_db()
    assert fence.radius_m == 250.0
    assert _close(fence.geometry["coordinates"], centre)
    _screenshot(page, "circle")
    page.wait_for_load_state("networkidle")
    context.close()
    _close_test_sessions()
    assert errors == []


def test_reader_sees_the_geofences_but_no_drawing_tools(
    chromium, live_server, municipality_a, settings
):
    user = UserFactory(municipality=municipality_a, role=Role.AUDITOR)
    fence = GeofenceFactory(
        municipality=municipality_a,
        name="Σχολείο <b>Α</b>",
        role="school",
        kind="circle",
        geometry={"type": "Point", "coordinates": [24.0227, 35.511]},
        radius_m=120.0,
    )
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="en")
    context.add_cookies([_login_cookie(user, settings, live_server.url)])
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/telematics/geofences/")
    page.wait_for_selector("#geofence-map .leaflet-interactive")
    assert page.locator("#geofence-draw-polygon").count() == 0
    page.click(f"#geofence-list li[data-id='{fence.pk}']")
    page.wait_for_selector("#geofence-form:not([hidden])")
    assert page.input_value("#geofence-radius") == "120"
    assert page.locator("#geofence-name").is_disabled()
    assert page.locator("#geofence-save").count() == 0
    assert page.locator(".leaflet-editing-icon").count() == 0
    # The name is shown as text, never as markup, in the list and on the map.
    assert page.locator("#geofence-form-title").inner_text() == "Σχολείο <b>Α</b>"
    box = page.locator("#geofence-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    assert tooltip.inner_text() == "Σχολείο <b>Α</b>"
    assert page.locator(".leaflet-tooltip b, #geofence-list b").count() == 0
    page.wait_for_load_state("networkidle")
    context.close()
    _close_test_sessions()
    assert errors == []
