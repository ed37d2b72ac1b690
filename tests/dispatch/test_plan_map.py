"""The optimised plan on the map, in a real browser (Playwright driving Debian's headless
Chromium against Daphne on the test database): each route follows the roads in its own colour,
a leg with no road route is a dashed straight line and is said so, stops are numbered and their
popups give the planned times."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse

from dispatch import planning, services
from dispatch.choices import PlanStatus
from dispatch.models import Plan
from fleet.choices import Role
from tests.dispatch.conftest import CHROMIUM, ROUND_PLACES, login, make_round_day

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]

PLACES = ROUND_PLACES
# Where to leave a picture of the page for a person to look at (not read by any assertion).
SCREENSHOT = Path(os.environ.get("KINISI_PLAN_SCREENSHOT", "/tmp/kinisi-plan-map.png"))


def _plan(municipality, dispatcher) -> Plan:
    """Two trucks, six jobs tomorrow, optimised on Chania's roads."""
    vehicles, jobs, day = make_round_day(municipality)
    plan = services.plan_request(
        municipality=municipality,
        actor=dispatcher,
        day=day,
        vehicle_ids=[v.pk for v in vehicles],
        job_ids=[j.pk for j in jobs],
        time_limit_s=1.0,
    )
    return services.plan_compute(plan_id=plan.pk)  # a no-op if the eager task has run


def test_plan_page_draws_each_route_along_the_roads(
    asgi_server, browser, municipality_a, users_a, routed
):
    dispatcher = users_a[Role.DISPATCHER]
    plan = _plan(municipality_a, dispatcher)
    assert plan.status == PlanStatus.DRAFT
    routes = plan.result["routes"]
    # Two routes make the colours worth checking: force the second truck into use if the
    # optimiser put everything on one.
    if len(routes) < 2:
        jobs = [s["job"] for s in routes[0]["stops"] if s["kind"] == "job"]
        others = [v for v in plan.params["vehicles"] if v != routes[0]["vehicle"]]
        plan = services.plan_adjust(
            plan=plan, routes={routes[0]["vehicle"]: jobs[:3], others[0]: jobs[3:]}
        )
        routes = plan.result["routes"]
    # One leg the router could not route, as planning.routes_geometry describes it.
    first = routes[0]["stops"]
    Plan.objects.filter(pk=plan.pk).update(
        result={
            **plan.result,
            "geometry": [
                {
                    **plan.result["geometry"][0],
                    "legs": [
                        plan.result["geometry"][0]["legs"][0],
                        planning._straight_leg(first[1], first[2], "no_route"),
                        *plan.result["geometry"][0]["legs"][2:],
                    ],
                },
                *plan.result["geometry"][1:],
            ],
        }
    )
    n_stops = sum(len(r["stops"]) for r in routes)

    page = login(browser, asgi_server, dispatcher.username)
    page.goto(asgi_server + reverse("dispatch:plan_detail", args=[plan.pk]))
    page.wait_for_function("window.kinisiPlan && window.kinisiPlan.legs().length > 0")
    legs = page.evaluate("window.kinisiPlan.legs()")
    assert len(legs) == n_stops - len(routes)  # one line per leg, depot to depot
    assert all(leg["onMap"] for leg in legs)
    road = [leg for leg in legs if leg["road"]]
    straight = [leg for leg in legs if not leg["road"]]
    # Along the streets: far more vertices than stops, drawn solid.
    assert sum(leg["vertices"] for leg in road) > 5 * n_stops
    assert not any(leg["dashed"] for leg in road)
    assert [(s["route"], s["vertices"], s["dashed"]) for s in straight] == [(0, 2, True)]
    assert page.locator(".plan-unrouted").count() == 1
    # ... and the stop it reaches (the second of the first route) is marked in the list.
    marked = page.locator("#plan-routes ol.plan-stops").first.locator("li")
    assert [marked.nth(i).locator(".plan-straight-mark").count() for i in range(3)] == [0, 0, 1]
    # Each vehicle in its own colour.
    colours = {leg["route"]: leg["color"] for leg in legs}
    assert len(set(colours.values())) == len(routes)
    for leg in legs:
        assert leg["color"] == colours[leg["route"]]

    # Numbered stops, each with its planned times.
    markers = page.locator(".stop-icon")
    assert markers.count() == len(PLACES)
    expected = [
        str(i) for r in routes for i in range(1, 1 + sum(s["kind"] == "job" for s in r["stops"]))
    ]
    assert sorted(markers.all_inner_texts(), key=int) == sorted(expected, key=int)
    markers.first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert re.search(r"Arrival \d\d:\d\d", popup.inner_text())
    assert re.search(r"Work starts \d\d:\d\d · leaves \d\d:\d\d", popup.inner_text())
    page.keyboard.press("Escape")
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_route_without_its_shape_is_drawn_straight_and_every_stop_says_so(
    asgi_server, browser, municipality_a, users_a, routed
):
    """A stored shape that does not fit the route (legs missing): the whole route is one dashed
    line, and every leg of it is counted and marked as straight, not only the first."""
    dispatcher = users_a[Role.DISPATCHER]
    plan = _plan(municipality_a, dispatcher)
    routes = plan.result["routes"]
    geometry = [{**plan.result["geometry"][0], "legs": []}, *plan.result["geometry"][1:]]
    Plan.objects.filter(pk=plan.pk).update(result={**plan.result, "geometry": geometry})
    stops = routes[0]["stops"]
    assert len(stops) >= 3

    page = login(browser, asgi_server, dispatcher.username)
    page.goto(asgi_server + reverse("dispatch:plan_detail", args=[plan.pk]))
    page.wait_for_function("window.kinisiPlan && window.kinisiPlan.legs().length > 0")
    first = page.locator("#plan-routes ol.plan-stops").first.locator("li")
    marks = [first.nth(i).locator(".plan-straight-mark").count() for i in range(len(stops))]
    assert marks == [0] + [1] * (len(stops) - 1)
    warning = page.locator(".plan-unrouted").first.inner_text()
    assert warning.endswith(f" {len(stops) - 1}")
