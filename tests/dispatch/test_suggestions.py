"""The eligibility rules and the ranking, on plain facts (no database); at the end, how the
facts are read from the database for a whole fleet (a fixed number of queries)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from dispatch import suggestions as s

DAY = date(2025, 3, 10)
NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
LONG_AGO = date(2020, 1, 1)
FAR = date(2030, 1, 1)


def driver(id=1, name="Driver", licences=None, pei=FAR, operator=None, own=True):
    return s.DriverFacts(
        id=id,
        name=name,
        licences={"C": FAR} if licences is None else licences,
        pei_expiry=pei,
        operator_expiry=operator,
        on_this_vehicle=own,
    )


def vehicle(id=1, **kw):
    base = {
        "id": id,
        "label": f"V{id}",
        "category": "refuse_truck",
        "payload_kg": 8000,
        "gross_weight_kg": 26000,
        "drivers": (driver(),),
        "has_origin": True,
        "origin_source": "live",
    }
    base.update(kw)
    return s.VehicleFacts(**base)


def job(**kw):
    base = {"id": 7, "day": DAY}
    base.update(kw)
    return s.JobFacts(**base)


def codes(reasons):
    return [r.code for r in reasons]


@pytest.mark.parametrize(
    ("kind", "category", "weight", "seats", "expected"),
    [
        ("vehicle", "passenger_car", 1500, 4, "B"),
        ("vehicle", "pickup", 3500, None, "B"),  # 3,500 kg is still B
        ("vehicle", "tipper", 3501, None, "C1"),
        ("vehicle", "tipper", 7500, None, "C1"),
        ("vehicle", "refuse_truck", 7501, None, "C"),
        ("vehicle", "bus", None, 16, "D1"),
        ("vehicle", "bus", None, 17, "D"),
        ("vehicle", "bus", None, None, "D"),
        ("vehicle", "van", 3000, 8, "B"),
        ("vehicle", "van", 3000, 9, "D1"),
        ("vehicle", "motorcycle", 200, None, "A"),
        ("machinery", "excavator", 14000, None, s.OPERATOR),
    ],
)
def test_licence_needed_follows_eu_categories(kind, category, weight, seats, expected):
    facts = vehicle(kind=kind, category=category, gross_weight_kg=weight, seats=seats)
    assert s.licence_needed(facts) == expected


def test_a_c_licence_covers_c1_but_not_d1():
    assert s.holds({"C": FAR}, "C1", DAY) == (True, None)
    ok, why = s.holds({"C": FAR}, "D1", DAY)
    assert not ok and why.code == "licence_missing"


def test_expired_licence_is_reported_with_its_date():
    ok, why = s.holds({"C": date(2025, 3, 9)}, "C", DAY)
    assert not ok
    assert why.code == "licence_expired"
    assert why.params["expired_on"] == date(2025, 3, 9)


def test_licence_expiring_on_the_job_day_is_still_valid():
    assert s.holds({"C": DAY}, "C", DAY)[0]


def test_truck_driver_needs_pei_unless_the_municipality_waives_it():
    no_pei = driver(pei=None)
    assert codes(s.driver_problems(no_pei, "C", DAY)) == ["pei_missing"]
    assert s.driver_problems(no_pei, "C", DAY, require_pei=False) == []
    expired = driver(pei=date(2025, 1, 1))
    assert codes(s.driver_problems(expired, "C", DAY)) == ["pei_expired"]
    # A car does not need it.
    assert s.driver_problems(driver(licences={"B": FAR}, pei=None), "B", DAY) == []


def test_machinery_needs_the_operator_licence():
    assert codes(s.driver_problems(driver(operator=None), s.OPERATOR, DAY)) == [
        "operator_licence_missing"
    ]
    assert codes(s.driver_problems(driver(operator=LONG_AGO), s.OPERATOR, DAY)) == [
        "operator_licence_expired"
    ]
    assert s.driver_problems(driver(operator=FAR), s.OPERATOR, DAY) == []


@pytest.mark.parametrize(
    ("job_kw", "vehicle_kw", "expected"),
    [
        ({"category": "crane_truck"}, {}, "wrong_category"),
        ({"load_kg": 9000}, {}, "too_small"),
        ({"seats": 12}, {"seats": 4}, "too_few_seats"),
        ({}, {"status": "in_maintenance"}, "in_maintenance"),
        ({}, {"status": "out_of_service"}, "out_of_service"),
        ({}, {"documents": {"kteo": date(2025, 3, 9)}}, "kteo_expired"),
        ({}, {"documents": {"insurance": date(2025, 3, 9)}}, "insurance_expired"),
        ({}, {"drivers": ()}, "no_driver_on_shift"),
        ({}, {"drivers": (driver(licences={"B": FAR}),)}, "no_qualified_driver"),
        ({}, {"drivers": (driver(pei=None),)}, "no_qualified_driver"),
        ({}, {"has_origin": False}, "location_unknown"),
        ({}, {"blocks": (s.Reason("reserved", {"order": "3/2025"}),)}, "reserved"),
    ],
)
def test_each_rule_makes_a_vehicle_ineligible_with_its_reason(job_kw, vehicle_kw, expected):
    reasons, _driver, _warnings = s.check(job(**job_kw), vehicle(**vehicle_kw))
    assert codes(reasons) == [expected]


def test_documents_valid_on_the_job_day_do_not_block():
    reasons, chosen, _ = s.check(job(), vehicle(documents={"kteo": DAY, "insurance": FAR}))
    assert reasons == []
    assert chosen.id == 1


def test_no_qualified_driver_lists_each_driver_and_what_they_lack():
    crew = (
        driver(id=1, name="Α", licences={"B": FAR}),
        driver(id=2, name="Β", pei=date(2024, 1, 1)),
    )
    reasons, chosen, _ = s.check(job(), vehicle(drivers=crew))
    assert chosen is None
    (reason,) = reasons
    assert reason.params["licence"] == "C"
    problems = {d["id"]: [p["code"] for p in d["problems"]] for d in reason.params["drivers"]}
    assert problems == {1: ["licence_missing"], 2: ["pei_expired"]}


def test_the_vehicles_own_crew_is_preferred_over_an_unattached_driver():
    crew = (driver(id=5, name="Α", own=False), driver(id=9, name="Ω", own=True))
    _reasons, chosen, _ = s.check(job(), vehicle(drivers=crew))
    assert chosen.id == 9


def test_job_asking_for_an_extra_licence_needs_a_driver_holding_it():
    reasons, _, _ = s.check(job(required_licence="CE"), vehicle())
    assert codes(reasons) == ["no_qualified_driver"]
    ok, _, _ = s.check(job(required_licence="CE"), vehicle(drivers=(driver(licences={"CE": FAR}),)))
    assert ok == []


def test_unknown_payload_is_a_warning_not_a_refusal():
    reasons, _, warnings = s.check(job(load_kg=500), vehicle(payload_kg=None))
    assert reasons == []
    assert codes(warnings) == ["payload_unknown"]


def test_ranking_is_by_arrival_time_and_a_queue_delays_a_vehicle():
    vehicles = [
        vehicle(id=1),  # free, 10 min away
        vehicle(id=2, queue_length=2, free_at=NOW + timedelta(minutes=30)),  # 2 min after queue
        vehicle(id=3),  # free, 4 min away
    ]
    travel = {1: s.Travel(600, 5000), 2: s.Travel(120, 900), 3: s.Travel(240, 2100)}
    result = s.rank(job(), vehicles, travel, now=NOW)
    assert [c.vehicle_id for c in result.eligible] == [3, 1, 2]
    first = result.eligible[0]
    assert first.eta == NOW + timedelta(seconds=240)
    assert first.distance_m == 2100
    assert result.eligible[2].eta == NOW + timedelta(minutes=32)
    assert result.ineligible == ()


def test_vehicles_that_would_be_late_go_after_those_on_time():
    latest = NOW + timedelta(minutes=5)
    vehicles = [vehicle(id=1), vehicle(id=2, queue_length=1, free_at=NOW + timedelta(minutes=10))]
    travel = {1: s.Travel(900, 8000), 2: s.Travel(60, 500)}
    result = s.rank(job(latest=latest), vehicles, travel, now=NOW)
    # Both are late; the one arriving earlier (vehicle 2 at +11 min) leads.
    assert [c.vehicle_id for c in result.eligible] == [2, 1]
    assert all(c.late for c in result.eligible)
    on_time = s.rank(job(latest=latest), [vehicle(id=3)], {3: s.Travel(60, 400)}, now=NOW)
    assert not on_time.eligible[0].late


def test_vehicle_without_a_route_is_ineligible_as_unreachable():
    result = s.rank(job(), [vehicle(id=1)], {1: s.Travel(float("nan"), float("nan"))}, now=NOW)
    assert result.eligible == ()
    assert codes(result.ineligible[0].reasons) == ["unreachable"]


def test_ineligible_vehicles_come_apart_with_every_reason():
    bad = vehicle(id=4, status="in_maintenance", documents={"insurance": LONG_AGO})
    result = s.rank(
        job(), [bad, vehicle(id=1)], {1: s.Travel(60, 100), 4: s.Travel(30, 50)}, now=NOW
    )
    assert [c.vehicle_id for c in result.eligible] == [1]
    (rejected,) = result.ineligible
    assert rejected.vehicle_id == 4
    assert codes(rejected.reasons) == ["in_maintenance", "insurance_expired"]


def test_service_starts_when_the_window_opens_if_the_vehicle_is_early():
    opens = NOW + timedelta(hours=2)
    result = s.rank(job(earliest=opens), [vehicle()], {1: s.Travel(300, 2000)}, now=NOW)
    assert s.planned_start(result.eligible[0], job(earliest=opens)) == opens


# --- facts from the database ---------------------------------------------------------------------


def _fleet(municipality, size, first=0):
    """``size`` crewed vehicles, each with every kind of row the suggestions read: a live
    position, documents, a ΚΤΕΟ test, a queued job; one in three also has an open work order
    that takes it off the road and one in four an approved movement order now."""
    from django.utils import timezone

    from dispatch.choices import JobStatus, MovementOrderStatus
    from telematics.models import VehicleLiveState
    from tests.dispatch.conftest import DEPOT, EAST, make_crewed_vehicle
    from tests.factories import (
        DocumentFactory,
        JobFactory,
        MovementOrderFactory,
        RoadworthinessTestFactory,
        WorkOrderFactory,
    )

    now = timezone.now()
    vehicles = []
    for i in range(first, first + size):
        v = make_crewed_vehicle(municipality)
        for kind in ("insurance", "kteo"):
            DocumentFactory(municipality=municipality, vehicle=v, kind=kind)
        RoadworthinessTestFactory(
            municipality=municipality, vehicle=v, tested_on=date.today() - timedelta(days=30)
        )
        VehicleLiveState.objects.create(
            vehicle=v,
            municipality=municipality,
            latitude=DEPOT[0],
            longitude=DEPOT[1],
            moving=False,
            speed_kmh=0.0,
            fix_time=now,
            last_seen=now,
            updated_at=now,
        )
        if i % 2:
            JobFactory(
                municipality=municipality,
                vehicle=v,
                status=JobStatus.ASSIGNED,
                queue_position=1,
                latitude=EAST[0],
                longitude=EAST[1],
            )
        if i % 3 == 0:
            WorkOrderFactory(
                municipality=municipality, vehicle=v, takes_off_road=True, status="open"
            )
        if i % 4 == 1:
            MovementOrderFactory(
                municipality=municipality,
                vehicle=v,
                status=MovementOrderStatus.APPROVED,
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=3),
            )
        vehicles.append(v)
    return vehicles


def _queries_for_suggestions(municipality):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dispatch import selectors
    from tests.dispatch.conftest import JOB_PLACE
    from tests.factories import JobFactory

    job = JobFactory(municipality=municipality, latitude=JOB_PLACE[0], longitude=JOB_PLACE[1])
    with CaptureQueriesContext(connection) as queries:
        found = selectors.job_suggestions(job=job)
    return len(queries.captured_queries), found


@pytest.mark.django_db
def test_suggestions_read_the_fleet_in_a_number_of_queries_that_does_not_grow_with_it(
    municipality_a, municipality_b, routed
):
    _fleet(municipality_b, 3)  # another municipality's fleet is never read
    small = _fleet(municipality_a, 2)
    n_small, found_small = _queries_for_suggestions(municipality_a)
    assert {c.vehicle_id for c in found_small.result.eligible} | {
        r.vehicle_id for r in found_small.result.ineligible
    } == {v.pk for v in small}

    large = small + _fleet(municipality_a, 58, first=2)
    n_large, found = _queries_for_suggestions(municipality_a)
    assert n_large == n_small
    # ... and the rows read are the right ones: every vehicle of this municipality, the work
    # orders and movement orders blocking theirs, the queued jobs moving their origin.
    ineligible = {r.vehicle_id: {x.code for x in r.reasons} for r in found.result.ineligible}
    eligible = {c.vehicle_id: c for c in found.result.eligible}
    assert set(eligible) | set(ineligible) == {v.pk for v in large}
    for i, v in enumerate(large):
        if i % 3 == 0:
            assert "work_order" in ineligible[v.pk], i
        if i % 4 == 1:
            assert "reserved" in ineligible[v.pk], i
        if i % 3 and i % 4 != 1:
            assert v.pk in eligible, (i, ineligible.get(v.pk))
            assert eligible[v.pk].origin_source == ("queue" if i % 2 else "live"), i
            assert eligible[v.pk].queue_length == i % 2, i
