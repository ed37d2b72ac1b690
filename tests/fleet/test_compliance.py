"""The compliance rules, with expected dates worked out by hand from the rules themselves."""

from datetime import date

import pytest

from fleet.compliance import (
    DocumentFacts,
    DriverFacts,
    KteoResult,
    KteoTest,
    Rule,
    ServiceInterval,
    Status,
    VehicleFacts,
    add_months,
    driver_items,
    driver_vehicle_problems,
    kteo_item,
    required_licences,
    service_due,
    vehicle_items,
)


def test_add_months_keeps_the_day_or_falls_back_to_month_end():
    assert add_months(date(2023, 5, 31), 24) == date(2025, 5, 31)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 15), 3) == date(2025, 2, 15)


def test_light_vehicle_first_kteo_is_four_years_after_first_registration():
    item = kteo_item(on=date(2023, 1, 1), heavy=False, first_registration=date(2020, 3, 15))
    assert item.rule == Rule.KTEO
    assert item.due_on == date(2024, 3, 15)
    # 3 weeks before and 1 week after the due date.
    assert item.window_opens == date(2024, 2, 23)
    assert item.window_closes == date(2024, 3, 22)
    assert item.status == Status.OK


def test_heavy_vehicle_first_kteo_is_one_year_after_first_registration():
    item = kteo_item(on=date(2023, 6, 1), heavy=True, first_registration=date(2023, 1, 10))
    assert item.due_on == date(2024, 1, 10)


@pytest.mark.parametrize(
    ("on", "status"),
    [
        (date(2024, 2, 1), Status.DUE_SOON),
        (date(2024, 2, 22), Status.DUE_SOON),
        (date(2024, 2, 23), Status.IN_WINDOW),
        (date(2024, 3, 15), Status.IN_WINDOW),
        (date(2024, 3, 22), Status.IN_WINDOW),
        (date(2024, 3, 23), Status.OVERDUE),
    ],
)
def test_kteo_status_follows_the_test_window(on, status):
    item = kteo_item(on=on, heavy=False, first_registration=date(2020, 3, 15), horizon_days=60)
    assert item.status == status
    assert item.blocks_dispatch == (status == Status.OVERDUE)


def test_after_a_passed_test_the_next_counts_from_the_test_date():
    tests = [KteoTest(date(2021, 5, 3), KteoResult.PASS), KteoTest(date(2023, 5, 31), "pass")]
    light = kteo_item(on=date(2024, 1, 1), heavy=False, first_registration=None, tests=tests)
    heavy = kteo_item(on=date(2024, 1, 1), heavy=True, first_registration=None, tests=tests)
    assert light.due_on == date(2025, 5, 31)
    assert heavy.due_on == date(2024, 5, 31)


def test_serious_defects_need_a_retest_within_30_days():
    tests = [KteoTest(date(2024, 6, 1), KteoResult.SERIOUS)]
    within = kteo_item(on=date(2024, 7, 1), heavy=False, first_registration=None, tests=tests)
    late = kteo_item(on=date(2024, 7, 2), heavy=False, first_registration=None, tests=tests)
    assert within.rule == Rule.KTEO_RETEST
    assert within.due_on == date(2024, 7, 1)
    assert within.status == Status.DUE_SOON and not within.blocks_dispatch
    assert late.status == Status.OVERDUE and late.blocks_dispatch


def test_dangerous_defects_take_the_vehicle_off_the_road_at_once():
    tests = [KteoTest(date(2024, 6, 1), KteoResult.DANGEROUS)]
    item = kteo_item(on=date(2024, 6, 2), heavy=True, first_registration=None, tests=tests)
    assert item.blocks_dispatch


def test_a_passed_retest_clears_the_defects():
    tests = [
        KteoTest(date(2024, 6, 1), KteoResult.SERIOUS),
        KteoTest(date(2024, 6, 20), KteoResult.PASS),
    ]
    item = kteo_item(on=date(2024, 7, 15), heavy=True, first_registration=None, tests=tests)
    assert item.rule == Rule.KTEO and item.due_on == date(2025, 6, 20)


def test_certificate_due_date_is_used_when_no_test_is_recorded():
    item = kteo_item(
        on=date(2024, 1, 1),
        heavy=False,
        first_registration=date(2010, 1, 1),
        stated_due_on=date(2024, 9, 1),
    )
    assert item.due_on == date(2024, 9, 1)


def test_nothing_known_means_no_kteo_item():
    assert kteo_item(on=date(2024, 1, 1), heavy=False, first_registration=None) is None


def test_vehicle_items_for_a_heavy_truck():
    facts = VehicleFacts(
        category="refuse_truck",
        gross_weight_kg=None,  # unknown weight: a refuse truck is heavy
        first_registration=date(2019, 4, 1),
        has_tachograph=True,
        documents=[
            DocumentFacts("insurance", date(2023, 1, 1), date(2023, 12, 31)),
            DocumentFacts("insurance", date(2024, 1, 1), date(2024, 12, 31)),
            DocumentFacts("tachograph", date(2022, 4, 10), None),
        ],
    )
    items = {item.rule: item for item in vehicle_items(facts, on=date(2024, 5, 1))}
    assert items[Rule.KTEO].due_on == date(2020, 4, 1)  # first test, never recorded
    assert items[Rule.KTEO].status == Status.OVERDUE
    assert items[Rule.INSURANCE].due_on == date(2024, 12, 31)  # the renewal counts
    assert items[Rule.INSURANCE].status == Status.OK
    assert items[Rule.TACHOGRAPH].due_on == date(2024, 4, 10)
    assert items[Rule.TACHOGRAPH].status == Status.OVERDUE
    assert Rule.ROAD_TAX not in items  # no notice on file: nothing claimed


def test_missing_insurance_is_shown_but_does_not_block():
    items = vehicle_items(VehicleFacts(category="pickup"), on=date(2024, 5, 1))
    insurance = next(i for i in items if i.rule == Rule.INSURANCE)
    assert insurance.status == Status.MISSING
    assert not insurance.blocks_dispatch


def test_expired_insurance_blocks_dispatch():
    facts = VehicleFacts(
        category="pickup", documents=[DocumentFacts("insurance", None, date(2024, 4, 30))]
    )
    insurance = next(i for i in vehicle_items(facts, on=date(2024, 5, 1)) if i.rule == "insurance")
    assert insurance.status == Status.OVERDUE and insurance.blocks_dispatch


def test_machinery_has_no_kteo():
    facts = VehicleFacts(
        category="excavator", is_machinery=True, first_registration=date(2010, 1, 1)
    )
    assert Rule.KTEO not in {i.rule for i in vehicle_items(facts, on=date(2024, 1, 1))}


def test_driver_items_list_each_category_pei_and_operator_licence():
    facts = DriverFacts(
        licences={"B": date(2030, 1, 1), "C": date(2024, 3, 1)},
        pei_expiry=None,
        operator_licence_expiry=date(2024, 5, 20),
    )
    items = driver_items(facts, on=date(2024, 5, 1), horizon_days=30)
    by = {(i.rule, i.detail): i for i in items}
    assert by[(Rule.LICENCE, "B")].status == Status.OK
    assert by[(Rule.LICENCE, "C")].status == Status.OVERDUE
    assert by[(Rule.PEI, "")].status == Status.MISSING  # holds C, so ΠΕΙ is needed
    assert by[(Rule.OPERATOR_LICENCE, "")].status == Status.DUE_SOON


@pytest.mark.parametrize(
    ("category", "gross", "seats", "expected"),
    [
        ("passenger_car", 1500, 5, {"B"}),
        ("pickup", 3500, 5, {"B"}),
        ("tipper", 6000, 2, {"C1", "C"}),
        ("refuse_truck", 26000, 2, {"C"}),
        ("refuse_truck", None, 2, {"C"}),
        ("bus", 9000, 17, {"D1", "D"}),
        ("bus", 15000, 50, {"D"}),
        ("van", 3000, 12, {"D1", "D"}),
        ("motorcycle", 200, 2, {"A"}),
    ],
)
def test_required_licence_categories(category, gross, seats, expected):
    assert (
        required_licences(category=category, is_machinery=False, gross_weight_kg=gross, seats=seats)
        == expected
    )


def test_driver_with_valid_c_and_pei_may_drive_a_truck():
    facts = DriverFacts(
        licences={"B": date(2030, 1, 1), "C": date(2030, 1, 1)}, pei_expiry=date(2027, 1, 1)
    )
    problems = driver_vehicle_problems(
        facts,
        on=date(2024, 5, 1),
        category="refuse_truck",
        is_machinery=False,
        gross_weight_kg=26000,
        seats=2,
    )
    assert problems == []


def test_driver_with_expired_c_may_not_drive_a_truck_but_may_drive_a_car():
    facts = DriverFacts(
        licences={"B": date(2030, 1, 1), "C": date(2024, 3, 1)}, pei_expiry=date(2027, 1, 1)
    )
    truck = driver_vehicle_problems(
        facts,
        on=date(2024, 5, 1),
        category="refuse_truck",
        is_machinery=False,
        gross_weight_kg=26000,
        seats=2,
    )
    car = driver_vehicle_problems(
        facts,
        on=date(2024, 5, 1),
        category="passenger_car",
        is_machinery=False,
        gross_weight_kg=1400,
        seats=5,
    )
    assert [(p.rule, p.status, p.detail) for p in truck] == [(Rule.LICENCE, Status.OVERDUE, "C")]
    assert car == []


def test_c_licence_covers_c1_and_pei_is_needed():
    facts = DriverFacts(licences={"C": date(2030, 1, 1)}, pei_expiry=date(2024, 1, 1))
    problems = driver_vehicle_problems(
        facts,
        on=date(2024, 5, 1),
        category="tipper",
        is_machinery=False,
        gross_weight_kg=7000,
        seats=2,
    )
    assert [(p.rule, p.status) for p in problems] == [(Rule.PEI, Status.OVERDUE)]


def test_machinery_needs_an_operator_licence():
    none = driver_vehicle_problems(
        DriverFacts(licences={"C": date(2030, 1, 1)}),
        on=date(2024, 5, 1),
        category="excavator",
        is_machinery=True,
        gross_weight_kg=None,
        seats=None,
    )
    valid = driver_vehicle_problems(
        DriverFacts(operator_licence_expiry=date(2025, 1, 1)),
        on=date(2024, 5, 1),
        category="excavator",
        is_machinery=True,
        gross_weight_kg=None,
        seats=None,
    )
    assert [(p.rule, p.status) for p in none] == [(Rule.OPERATOR_LICENCE, Status.MISSING)]
    assert valid == []


def test_service_due_by_km_after_the_last_service():
    interval = ServiceInterval(every_km=20000, warn_km=1000)
    ok = service_due(
        interval, on=date(2024, 5, 1), current_km=110000, current_hours=None, last_km=100000
    )
    soon = service_due(
        interval, on=date(2024, 5, 1), current_km=119500, current_hours=None, last_km=100000
    )
    due = service_due(
        interval, on=date(2024, 5, 1), current_km=120000, current_hours=None, last_km=100000
    )
    assert ok.due_km == 120000 and ok.status == Status.OK
    assert soon.status == Status.DUE_SOON and soon.triggered_by == ("km",)
    assert due.status == Status.OVERDUE


def test_service_due_whichever_comes_first():
    interval = ServiceInterval(every_km=20000, every_days=180, warn_km=1000, warn_days=14)
    result = service_due(
        interval,
        on=date(2024, 6, 30),
        current_km=105000,
        current_hours=None,
        last_on=date(2024, 1, 1),
        last_km=100000,
    )
    # 2024-01-01 + 180 days = 2024-06-29: time ran out before the km did.
    assert result.due_on == date(2024, 6, 29)
    assert result.status == Status.OVERDUE and result.triggered_by == ("days",)


def test_service_without_a_record_falls_on_the_next_multiple():
    interval = ServiceInterval(every_km=20000, every_hours=500)
    result = service_due(interval, on=date(2024, 6, 30), current_km=215000, current_hours=4120)
    assert result.due_km == 220000
    assert result.due_hours == 4500


def test_service_estimates_the_date_from_daily_use():
    interval = ServiceInterval(every_km=10000)
    result = service_due(
        interval,
        on=date(2024, 6, 1),
        current_km=5000,
        current_hours=None,
        last_km=0,
        km_per_day=100,
    )
    assert result.estimated_on == date(2024, 7, 21)  # 5,000 km at 100 km a day = 50 days
