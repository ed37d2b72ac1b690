"""Shifts: rostering the usual day lawfully, the shifts page, and the demo command."""

from datetime import date, timedelta

import pytest
from django.core.management import call_command

from dispatch import selectors, services
from dispatch.models import Job, Shift
from fleet.choices import Role
from tests.factories import (
    DepartmentFactory,
    DriverFactory,
    DriverLicenceFactory,
    ShiftFactory,
    VehicleFactory,
)

pytestmark = pytest.mark.django_db
DAY = date(2030, 3, 4)
FAR = date(2035, 1, 1)


def driver(municipality, department, name, categories, pei=FAR):
    d = DriverFactory(
        municipality=municipality, department=department, last_name=name, pei_expiry=pei
    )
    for category in categories:
        DriverLicenceFactory(driver=d, category=category, expires_on=FAR)
    return d


def test_roster_gives_each_vehicle_a_driver_who_may_drive_it(municipality_a):
    department = DepartmentFactory(municipality=municipality_a)
    truck = VehicleFactory(
        municipality=municipality_a, department=department, gross_weight_kg=26000
    )
    car = VehicleFactory(
        municipality=municipality_a, department=department, category="pickup", gross_weight_kg=3000
    )
    # Alphabetically the car driver comes first; the truck must still get the C driver.
    only_b = driver(municipality_a, department, "Α-οδηγός", ["B"])
    trucker = driver(municipality_a, department, "Β-οδηγός", ["B", "C"])
    spare = driver(municipality_a, department, "Γ-οδηγός", ["B"])
    shifts = services.shifts_roster_day(municipality=municipality_a, day=DAY)
    by_driver = {s.driver_id: s.vehicle_id for s in shifts}
    assert by_driver == {trucker.pk: truck.pk, only_b.pk: car.pk, spare.pk: None}
    start = shifts[0].starts_at.astimezone(selectors.local_zone(municipality_a))
    assert (start.date(), start.hour, start.minute) == (DAY, 7, 0)
    assert services.shifts_roster_day(municipality=municipality_a, day=DAY) == []
    assert Shift.objects.count() == 3


def test_roster_skips_vehicles_off_the_road_and_drivers_without_pei(municipality_a):
    department = DepartmentFactory(municipality=municipality_a)
    VehicleFactory(municipality=municipality_a, department=department, status="in_maintenance")
    truck = VehicleFactory(municipality=municipality_a, department=department)
    lapsed = driver(municipality_a, department, "Α", ["C"], pei=DAY - timedelta(days=1))
    shifts = services.shifts_roster_day(municipality=municipality_a, day=DAY)
    assert [(s.driver_id, s.vehicle_id) for s in shifts] == [(lapsed.pk, None)]
    assert truck.shifts.count() == 0


def test_shifts_page_adds_rosters_and_removes(municipality_a, users_a, web_client_for):
    department = DepartmentFactory(municipality=municipality_a)
    vehicle = VehicleFactory(municipality=municipality_a, department=department)
    d = driver(municipality_a, department, "Παπαδάκης", ["C"])
    client = web_client_for(users_a[Role.DISPATCHER])
    url = f"/dispatch/shifts/?day={DAY.isoformat()}"
    assert client.get(url).status_code == 200
    client.post(
        url,
        {
            "driver": d.pk,
            "vehicle": vehicle.pk,
            "starts_at": f"{DAY.isoformat()}T06:00",
            "ends_at": f"{DAY.isoformat()}T14:00",
        },
    )
    (shift,) = Shift.objects.all()
    assert shift.starts_at.astimezone(selectors.local_zone(municipality_a)).hour == 6
    assert "Παπαδάκης" in client.get(url).content.decode()
    client.post(url, {"action": "roster"})
    assert Shift.objects.count() == 1  # already on shift that day
    client.post(f"/dispatch/shifts/{shift.pk}/delete/")
    assert not Shift.objects.exists()


def test_auditor_sees_shifts_but_cannot_change_them(municipality_a, users_a, web_client_for):
    shift = ShiftFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.AUDITOR])
    assert client.get("/dispatch/shifts/").status_code == 200
    assert client.post("/dispatch/shifts/", {"action": "roster"}).status_code == 403
    assert client.post(f"/dispatch/shifts/{shift.pk}/delete/").status_code == 403
    assert Shift.objects.filter(pk=shift.pk).exists()


def test_demo_command_is_idempotent(municipality_a):
    department = DepartmentFactory(municipality=municipality_a)
    VehicleFactory(municipality=municipality_a, department=department)
    driver(municipality_a, department, "Α", ["C"])
    call_command("dispatch_demo", verbosity=0)
    jobs, shifts = Job.objects.count(), Shift.objects.count()
    assert jobs > 0 and shifts == 1
    call_command("dispatch_demo", verbosity=0)
    assert (Job.objects.count(), Shift.objects.count()) == (jobs, shifts)


def test_vehicle_record_tag_lists_its_orders_and_queue(municipality_a):
    from django.template import Context, Template

    from tests.factories import JobFactory, MovementOrderFactory

    vehicle = VehicleFactory(municipality=municipality_a)
    order = MovementOrderFactory(
        municipality=municipality_a, vehicle=vehicle, purpose="Εκδρομή ΚΑΠΗ"
    )
    MovementOrderFactory(municipality=municipality_a, purpose="Άλλο όχημα")
    JobFactory(municipality=municipality_a, vehicle=vehicle, status="assigned", title="Στη σειρά")
    html = Template("{% load dispatch_tags %}{% vehicle_dispatch v %}").render(
        Context({"v": vehicle})
    )
    assert order.reference in html and "Εκδρομή ΚΑΠΗ" in html
    assert "Άλλο όχημα" not in html
    assert "Στη σειρά" in html
