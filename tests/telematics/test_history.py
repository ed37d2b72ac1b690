"""Vehicle history page and events list: scoping, the local day's data, filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleet.choices import Role
from telematics.models import Position
from tests.factories import (
    DeviceFactory,
    MotionEventFactory,
    StopFactory,
    TripFactory,
    VehicleFactory,
)


def _position(vehicle, device, when: datetime, lat: float) -> Position:
    return Position.objects.create(
        municipality=vehicle.municipality,
        device=device,
        vehicle=vehicle,
        fix_time=when,
        server_time=when,
        latitude=lat,
        longitude=24.02,
        speed_kmh=30.0,
    )


def _history(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="history-data" type="application/json">') + len(
        '<script id="history-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_history_shows_the_local_day(municipality_a, users_a, web_client_for):
    vehicle = VehicleFactory(municipality=municipality_a)
    device = DeviceFactory(municipality=municipality_a)
    # Athens is UTC+2 on 10 March 2026 (summer time starts on the 29th), so the local day is
    # 9 March 22:00 UTC to 10 March 22:00 UTC.
    _position(vehicle, device, datetime(2026, 3, 9, 21, 30, tzinfo=UTC), 35.49)  # 23:30 on the 9th
    _position(vehicle, device, datetime(2026, 3, 9, 22, 30, tzinfo=UTC), 35.50)  # 00:30
    _position(vehicle, device, datetime(2026, 3, 10, 12, 0, tzinfo=UTC), 35.51)  # 14:00
    _position(
        vehicle, device, datetime(2026, 3, 10, 22, 30, tzinfo=UTC), 35.52
    )  # 00:30 on the 11th
    trip = TripFactory(
        municipality=municipality_a, vehicle=vehicle, device=device, end_place="Σούδα"
    )
    StopFactory(municipality=municipality_a, vehicle=vehicle, device=device, place="Χαλέπα")
    MotionEventFactory(municipality=municipality_a, vehicle=vehicle, device=device, type="idling")
    TripFactory(  # the day before: not listed
        municipality=municipality_a,
        vehicle=vehicle,
        device=device,
        start_time=datetime(2026, 3, 9, 8, tzinfo=UTC),
        end_time=datetime(2026, 3, 9, 9, tzinfo=UTC),
    )
    client = web_client_for(users_a[Role.DISPATCHER])
    response = client.get("/telematics/history/", {"vehicle": vehicle.pk, "day": "2026-03-10"})
    assert response.status_code == 200
    data = _history(response)
    assert [point[0] for point in data["track"]] == [35.50, 35.51]
    assert data["track"][0][2] == int(datetime(2026, 3, 9, 22, 30, tzinfo=UTC).timestamp())
    assert [t["id"] for t in data["trips"]] == [trip.pk]
    assert [s["place"] for s in data["stops"]] == ["Χαλέπα"]
    assert [e["type"] for e in data["events"]] == ["idling"]
    html = response.content.decode()
    assert "Σούδα" in html
    # The trip ran 08:00-08:20 UTC, the stop began 08:20 UTC and the event came at 08:10 UTC:
    # the lists read Athens time, two hours on, and name no UTC.
    assert "10:00–10:20 ·" in html
    assert "10:20 · Χαλέπα" in html
    assert "10:10:00 · Idling" in html
    assert "08:00–08:20" not in html
    assert "UTC" not in html
    # The replay clock formats in the same zone, whatever the browser's own.
    assert data["timezone"] == "Europe/Athens"
    assert data["events"][0]["time_local"] == "10:10:00"


def test_history_events_name_their_geofence_and_speed(municipality_a, users_a, web_client_for):
    vehicle = VehicleFactory(municipality=municipality_a)
    device = DeviceFactory(municipality=municipality_a)
    at = datetime(2026, 3, 10, 8, 10, tzinfo=UTC)
    for kind, facts in [
        ("geofence_enter", {"geofence": 7, "geofence_name": "Σχολική ζώνη: 7ο Δημοτικό"}),
        ("overspeed", {"max_speed_kmh": 44.4, "limit_kmh": 30.0}),
        ("ignition_on", {}),
    ]:
        MotionEventFactory(
            municipality=municipality_a,
            vehicle=vehicle,
            device=device,
            type=kind,
            time=at,
            facts=facts,
        )
        at += timedelta(minutes=1)
    client = web_client_for(users_a[Role.DISPATCHER])
    response = client.get("/telematics/history/", {"vehicle": vehicle.pk, "day": "2026-03-10"})
    html = response.content.decode()
    assert "10:10:00 · Entered a geofence · Σχολική ζώνη: 7ο Δημοτικό</li>" in html
    assert "10:11:00 · Overspeed · 44 km/h, limit 30 km/h</li>" in html
    assert "10:12:00 · Ignition on</li>" in html
    details = [e["detail"] for e in _history(response)["events"]]
    assert details == ["Σχολική ζώνη: 7ο Δημοτικό", "44 km/h, limit 30 km/h", ""]


def test_trips_and_stops_over_midnight_name_the_other_day(municipality_a, users_a, web_client_for):
    vehicle = VehicleFactory(municipality=municipality_a)
    # Parked from 15:00 on the 9th to 07:00 on the 10th, then a trip from 23:50 to 00:10 on the
    # 11th (Athens, UTC+2).
    StopFactory(
        municipality=municipality_a,
        vehicle=vehicle,
        place="Αμαξοστάσιο",
        start_time=datetime(2026, 3, 9, 13, 0, tzinfo=UTC),
        end_time=datetime(2026, 3, 10, 5, 0, tzinfo=UTC),
        duration_s=16 * 3600.0,
    )
    TripFactory(
        municipality=municipality_a,
        vehicle=vehicle,
        start_time=datetime(2026, 3, 10, 21, 50, tzinfo=UTC),
        end_time=datetime(2026, 3, 10, 22, 10, tzinfo=UTC),
    )
    client = web_client_for(users_a[Role.DISPATCHER])
    response = client.get("/telematics/history/", {"vehicle": vehicle.pk, "day": "2026-03-10"})
    html = response.content.decode()
    assert "09/03 15:00 · Αμαξοστάσιο · 960 min" in html
    assert "23:50–11/03 00:10 ·" in html


def test_history_reads_the_municipalitys_own_time_zone(municipality_a, users_a, web_client_for):
    municipality_a.timezone = "Europe/Lisbon"  # UTC+0 in March
    municipality_a.save()
    vehicle = VehicleFactory(municipality=municipality_a)
    TripFactory(municipality=municipality_a, vehicle=vehicle)  # 08:00-08:20 UTC
    client = web_client_for(users_a[Role.DISPATCHER])
    response = client.get("/telematics/history/", {"vehicle": vehicle.pk, "day": "2026-03-10"})
    assert "08:00–08:20 ·" in response.content.decode()
    assert _history(response)["timezone"] == "Europe/Lisbon"


def test_a_long_day_is_thinned_to_the_limit_not_cut_off_at_its_end(municipality_a, monkeypatch):
    from datetime import date, timedelta

    from telematics import selectors

    vehicle = VehicleFactory(municipality=municipality_a)
    device = DeviceFactory(municipality=municipality_a)
    start = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    Position.objects.bulk_create(
        Position(
            municipality=municipality_a,
            device=device,
            vehicle=vehicle,
            fix_time=start + timedelta(seconds=10 * i),
            server_time=start,
            latitude=35.0 + i * 1e-5,
            longitude=24.02,
        )
        for i in range(1000)
    )
    monkeypatch.setattr(selectors, "MAX_TRACK_POINTS", 30)  # a small limit, the same rule
    data = selectors.vehicle_day_history(
        vehicle=vehicle, day=date(2026, 3, 10), tz_name="Europe/Athens"
    )
    track = data["track"]
    assert 30 <= len(track) <= 31
    # First and last fix of the day are both drawn, and the points stay in time order.
    assert track[0][2] == int(start.timestamp())
    assert track[-1][2] == int((start + timedelta(seconds=9990)).timestamp())
    assert [p[2] for p in track] == sorted(p[2] for p in track)


def test_history_of_another_municipalitys_vehicle_is_not_found(
    municipality_b, users_a, web_client_for
):
    theirs = VehicleFactory(municipality=municipality_b)
    client = web_client_for(users_a[Role.ADMIN])
    response = client.get("/telematics/history/", {"vehicle": theirs.pk, "day": "2026-03-10"})
    assert response.status_code == 404


def test_history_picker_without_a_vehicle_and_bad_day(municipality_a, users_a, web_client_for):
    client = web_client_for(users_a[Role.MANAGER])
    assert client.get("/telematics/history/").status_code == 200
    response = client.get("/telematics/history/", {"day": "10/03/2026"})
    assert response.status_code == 200
    assert "YYYY-MM-DD" in response.content.decode()


def test_driver_cannot_open_history_or_events(users_a, web_client_for):
    client = web_client_for(users_a[Role.DRIVER])
    assert client.get("/telematics/history/").status_code == 403
    assert client.get("/telematics/events/").status_code == 403


def test_events_list_filters_and_hides_other_municipalities(
    municipality_a, municipality_b, users_a, web_client_for
):
    truck = VehicleFactory(municipality=municipality_a)
    van = VehicleFactory(municipality=municipality_a)
    mine = MotionEventFactory(
        municipality=municipality_a,
        vehicle=truck,
        type="overspeed",
        time=datetime(2026, 3, 10, 21, 0, tzinfo=UTC),  # 23:00 local on the 10th
    )
    MotionEventFactory(  # 00:30 local on the 11th
        municipality=municipality_a,
        vehicle=truck,
        type="overspeed",
        time=datetime(2026, 3, 10, 22, 30, tzinfo=UTC),
    )
    MotionEventFactory(municipality=municipality_a, vehicle=truck, type="idling")
    MotionEventFactory(municipality=municipality_a, vehicle=van, type="overspeed")
    theirs = MotionEventFactory(municipality=municipality_b, type="overspeed")
    client = web_client_for(users_a[Role.AUDITOR])
    response = client.get(
        "/telematics/events/",
        {
            "vehicle": truck.pk,
            "type": "overspeed",
            "date_from": "2026-03-10",
            "date_to": "2026-03-10",
        },
    )
    assert response.status_code == 200
    assert [e.pk for e in response.context["events"]] == [mine.pk]
    assert "<td>Overspeed</td>" in response.content.decode()
    everything = client.get("/telematics/events/")
    listed = [e.pk for e in everything.context["events"]]
    assert len(listed) == 4
    assert theirs.pk not in listed


def test_events_list_reads_a_summary_in_local_time_not_raw_facts(
    municipality_a, users_a, web_client_for
):
    MotionEventFactory(
        municipality=municipality_a,
        type="overspeed",
        time=datetime(2026, 3, 10, 22, 30, tzinfo=UTC),  # 00:30 on the 11th in Athens
        facts={"max_speed_kmh": 85.4, "limit_kmh": 50, "end_time": "2026-03-10T22:31:00+00:00"},
    )
    client = web_client_for(users_a[Role.DISPATCHER])
    html = client.get("/telematics/events/").content.decode()
    # The Type column names the event; Details gives its figure without naming it again.
    assert "<td>Overspeed</td>" in html
    assert "<td>85 km/h, limit 50 km/h</td>" in html
    assert "max_speed_kmh" not in html
    assert "end_time" not in html
    assert "11/03/2026 00:30:00" in html
    assert "22:30" not in html
    # The history link opens the local day the event belongs to.
    assert "day=2026-03-11" in html


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
def test_history_replay_moves_the_marker_in_a_real_browser(live_server, municipality_a, settings):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from playwright.sync_api import sync_playwright

    from tests.factories import UserFactory

    user = UserFactory(municipality=municipality_a, role=Role.DISPATCHER)
    vehicle = VehicleFactory(municipality=municipality_a)
    device = DeviceFactory(municipality=municipality_a)
    for i in range(30):  # half an hour northwards, one fix a minute
        _position(vehicle, device, datetime(2026, 3, 10, 8, i, tzinfo=UTC), 35.50 + i * 0.0005)
    StopFactory(municipality=municipality_a, vehicle=vehicle, device=device, place="Οδός <b>Α</b>")
    MotionEventFactory(municipality=municipality_a, vehicle=vehicle, device=device)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # A browser far from Athens: the clock must still read the municipality's time.
        context = browser.new_context(timezone_id="America/New_York")
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": session.session_key,
                    "url": live_server.url,
                }
            ]
        )
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/telematics/history/?vehicle={vehicle.pk}&day=2026-03-10")
        page.wait_for_function("document.getElementById('history-clock').textContent !== ''")
        assert page.locator("#history-slider").input_value() == "0"
        clock = page.locator("#history-clock")
        assert clock.inner_text() == "10:00:00 · 30 km/h"  # 08:00 UTC, in Athens
        page.select_option("#history-speed", "60")  # one fix a second
        page.click("#history-play")
        page.wait_for_function(
            "Number(document.getElementById('history-slider').value) >= 2", timeout=15_000
        )
        page.click("#history-play")  # pause
        assert page.locator("#history-play").inner_text() == "Play"
        paused_at, paused_clock = page.locator("#history-slider").input_value(), clock.inner_text()
        assert paused_clock.startswith("10:0")
        page.wait_for_timeout(2_500)  # at ×60 that would be two more fixes
        assert page.locator("#history-slider").input_value() == paused_at
        assert clock.inner_text() == paused_clock
        page.select_option("#history-speed", "1200")  # 20 minutes of track a second
        page.click("#history-play")
        # Bounds the wait, it is not a measure of speed.
        page.wait_for_function(
            "Number(document.getElementById('history-slider').value) >= 29", timeout=15_000
        )
        assert page.locator("#history-play").inner_text() == "Play"  # stopped at the end
        assert clock.inner_text().startswith("10:29:00 · ")
        # The stop's name is shown as text, never as markup.
        assert page.locator(".leaflet-interactive").count() >= 3  # track, stop, event
        stop_line = page.locator("#history-stops li").inner_text()
        assert stop_line == "10:20 · Οδός <b>Α</b> · 40 min"
        # Let the base map's streets request finish before the server goes away.
        page.wait_for_load_state("networkidle")
        browser.close()
    assert errors == []
