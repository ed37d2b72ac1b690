"""Dispatch pages: the board, jobs, the driver's page, movement orders and plans."""

from datetime import UTC, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dispatch import services
from dispatch.choices import JobStatus
from dispatch.models import Job, MovementOrder, Plan
from fleet.choices import Role
from tests.dispatch.conftest import JOB_PLACE
from tests.factories import DepartmentFactory, JobFactory, MovementOrderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.ADMIN, 200),
        (Role.DISPATCHER, 200),
        (Role.MANAGER, 200),
        (Role.AUDITOR, 200),
        (Role.MECHANIC, 403),
        (Role.DRIVER, 403),
    ],
)
def test_board_is_for_those_who_may_see_dispatch(role, expected, users_a, web_client_for):
    assert web_client_for(users_a[role]).get("/dispatch/").status_code == expected


def test_board_links_in_the_menu_and_carries_its_config(users_a, web_client_for):
    client = web_client_for(users_a[Role.DISPATCHER])
    page = client.get("/dispatch/").content.decode()
    assert 'id="board-config"' in page
    assert "/ws/dispatch/board/" in page
    assert 'href="/dispatch/"' in client.get("/vehicles/").content.decode()


def test_dispatcher_creates_a_job_from_the_form(municipality_a, users_a, web_client_for):
    client = web_client_for(users_a[Role.DISPATCHER])
    assert client.get("/dispatch/jobs/new/").status_code == 200
    response = client.post(
        "/dispatch/jobs/new/",
        {
            "kind": "repair",
            "title": "Καμένη λάμπα",
            "address": "Χάληδων 20",
            "latitude": JOB_PLACE[0],
            "longitude": JOB_PLACE[1],
            "window_start": "2030-05-01T08:00",
            "window_end": "2030-05-01T12:00",
            "service_minutes": 30,
            "priority": 3,
            "load_kg": 0,
            "seats_needed": 0,
            "then": "suggest",
        },
    )
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/dispatch/?job={job.pk}"
    assert job.created_by == users_a[Role.DISPATCHER]
    # The form's local time is Athens time: 08:00 EEST is 05:00 UTC.
    assert job.window_start.astimezone(UTC).hour == 5


def test_job_form_reports_a_window_closing_before_it_opens(users_a, web_client_for):
    client = web_client_for(users_a[Role.DISPATCHER])
    response = client.post(
        "/dispatch/jobs/new/",
        {
            "kind": "repair",
            "title": "x",
            "latitude": JOB_PLACE[0],
            "longitude": JOB_PLACE[1],
            "window_start": "2030-05-01T12:00",
            "window_end": "2030-05-01T08:00",
            "service_minutes": 30,
            "priority": 3,
            "load_kg": 0,
            "seats_needed": 0,
        },
    )
    assert response.status_code == 200
    assert not Job.objects.exists()


def test_job_page_shows_the_audit_trail(municipality_a, users_a, web_client_for):
    job = services.job_create(
        municipality=municipality_a,
        actor=users_a[Role.DISPATCHER],
        kind="repair",
        title="Λακκούβα",
        latitude=JOB_PLACE[0],
        longitude=JOB_PLACE[1],
    )
    services.job_update(job=job, actor=users_a[Role.ADMIN], priority=9)
    page = web_client_for(users_a[Role.AUDITOR]).get(f"/dispatch/jobs/{job.pk}/").content.decode()
    assert "Λακκούβα" in page
    assert users_a[Role.DISPATCHER].username in page
    assert users_a[Role.ADMIN].username in page
    assert "Updated" in page


def test_office_cancels_a_job_with_a_reason_from_its_page(municipality_a, users_a, web_client_for):
    job = JobFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.DISPATCHER])
    client.post(f"/dispatch/jobs/{job.pk}/action/", {"action": "cancelled"})
    job.refresh_from_db()
    assert job.status == JobStatus.NEW
    client.post(f"/dispatch/jobs/{job.pk}/action/", {"action": "cancelled", "reason": "Διπλό"})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


@pytest.fixture
def driver_with_job(municipality_a, users_a, crewed, routed):
    vehicle = crewed(municipality_a)
    driver = vehicle.crew_driver
    driver.user = users_a[Role.DRIVER]
    driver.save()
    job = JobFactory(municipality=municipality_a, title="Παραλαβή στρώματος")
    services.job_assign(job=job, vehicle=vehicle)
    other = JobFactory(municipality=municipality_a, title="Ξένη δουλειά")
    return driver, job, other, vehicle


def test_driver_page_lists_only_own_jobs_with_navigation(users_a, web_client_for, driver_with_job):
    _driver, job, _other, vehicle = driver_with_job
    page = web_client_for(users_a[Role.DRIVER]).get("/dispatch/me/").content.decode()
    assert "Παραλαβή στρώματος" in page
    assert "Ξένη δουλειά" not in page
    assert f"geo:{job.latitude:f},{job.longitude:f}" in page
    assert vehicle.plate in page


def test_driver_moves_the_job_through_its_steps(users_a, web_client_for, driver_with_job):
    _driver, job, _other, _vehicle = driver_with_job
    client = web_client_for(users_a[Role.DRIVER])
    for step in ("en_route", "on_site", "done"):
        response = client.post(f"/dispatch/jobs/{job.pk}/action/", {"action": step})
        assert response.status_code == 302
        assert response["Location"] == "/dispatch/me/"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.events.last().actor == users_a[Role.DRIVER]


def test_driver_cannot_touch_someone_elses_job(users_a, web_client_for, driver_with_job):
    _driver, _job, other, _vehicle = driver_with_job
    client = web_client_for(users_a[Role.DRIVER])
    assert (
        client.post(f"/dispatch/jobs/{other.pk}/action/", {"action": "cancelled"}).status_code
        == 404
    )
    assert client.get(f"/dispatch/jobs/{other.pk}/").status_code == 403


def test_driver_sends_a_note_and_a_photo(users_a, web_client_for, driver_with_job):
    _driver, job, _other, _vehicle = driver_with_job
    client = web_client_for(users_a[Role.DRIVER])
    client.post(
        f"/dispatch/jobs/{job.pk}/action/", {"action": "note", "text": "Κουδούνι χαλασμένο"}
    )
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 100
    client.post(
        f"/dispatch/jobs/{job.pk}/action/",
        {"action": "photo", "photo": SimpleUploadedFile("p.jpg", jpeg, content_type="image/jpeg")},
    )
    job.refresh_from_db()
    assert job.driver_note == "Κουδούνι χαλασμένο"
    assert job.photo


def test_driver_reports_a_defect_and_a_refuel_for_todays_vehicle(
    users_a, web_client_for, driver_with_job
):
    """The driver's page links the one refuel and defect forms with today's vehicle chosen."""
    from fleet.models.fuel import FuelEntry
    from fleet.models.maintenance import WorkOrder

    driver, _job, _other, vehicle = driver_with_job
    client = web_client_for(users_a[Role.DRIVER])
    page = client.get("/dispatch/me/").content.decode()
    defect_url = f"/maintenance/defect/?vehicle={vehicle.pk}"
    refuel_url = f"/fuel/refuel/?vehicle={vehicle.pk}"
    assert defect_url in page and refuel_url in page

    form = client.get(defect_url).content.decode()
    assert f'<option value="{vehicle.pk}" selected>' in form
    response = client.post(defect_url, {"vehicle": vehicle.pk, "title": "Σπασμένος καθρέφτης"})
    assert response.status_code == 302
    assert response["Location"] == "/me/"
    assert client.get("/me/")["Location"] == "/dispatch/me/"
    order = WorkOrder.objects.get()
    assert (order.vehicle, order.reported_by_driver) == (vehicle, driver)

    response = client.post(
        refuel_url,
        {
            "vehicle": vehicle.pk,
            "filled_at": "2025-02-03T10:15",
            "litres": "80.5",
            "full_tank": "on",
        },
    )
    assert response.status_code == 302
    entry = FuelEntry.objects.get()
    assert (entry.vehicle, entry.driver, str(entry.litres)) == (vehicle, driver, "80.50")


def test_job_action_never_redirects_off_the_site(users_a, web_client_for, driver_with_job):
    _driver, job, _other, _vehicle = driver_with_job
    client = web_client_for(users_a[Role.DRIVER])
    for target in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        response = client.post(
            f"/dispatch/jobs/{job.pk}/action/", {"action": "note", "text": "x", "next": target}
        )
        assert response.status_code == 302 and response["Location"] == "/dispatch/me/", target
    response = client.post(
        f"/dispatch/jobs/{job.pk}/action/", {"action": "note", "text": "x", "next": "/me/"}
    )
    assert response["Location"] == "/me/"


def test_driver_form_cancel_link_stays_on_the_site(users_a, web_client_for, driver_with_job):
    client = web_client_for(users_a[Role.DRIVER])
    page = client.get("/fuel/refuel/?next=https://evil.example/").content.decode()
    assert 'href="https://evil.example/"' not in page and 'href="/me/"' in page
    page = client.get("/fuel/refuel/?next=/dispatch/me/").content.decode()
    assert 'href="/dispatch/me/"' in page


def test_movement_order_request_and_decision_pages(municipality_a, users_a, web_client_for, crewed):
    head = UserFactory(municipality=municipality_a, role=Role.MANAGER)
    department = DepartmentFactory(municipality=municipality_a, head=head)
    vehicle = crewed(municipality_a)
    requester = UserFactory(municipality=municipality_a, role=Role.MECHANIC, department=department)
    client = web_client_for(requester)
    start = timezone.localtime() + timedelta(days=2)
    response = client.post(
        "/dispatch/orders/new/",
        {
            "department": department.pk,
            "vehicle": vehicle.pk,
            "purpose": "Μεταφορά καρεκλών",
            "destination": "Δημαρχείο",
            "passengers": 0,
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    order = MovementOrder.objects.get()
    assert response["Location"] == f"/dispatch/orders/{order.pk}/"
    page = client.get(f"/dispatch/orders/{order.pk}/").content.decode()
    assert 'value="approve"' not in page  # not theirs to decide
    head_client = web_client_for(head)
    assert 'value="approve"' in head_client.get(f"/dispatch/orders/{order.pk}/").content.decode()
    head_client.post(f"/dispatch/orders/{order.pk}/", {"decision": "approve", "note": ""})
    order.refresh_from_db()
    assert order.status == "approved" and order.decided_by == head
    pdf = head_client.get(f"/dispatch/orders/{order.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_other_departments_staff_do_not_see_an_order(municipality_a, web_client_for):
    order = MovementOrderFactory(municipality=municipality_a)
    outsider = UserFactory(
        municipality=municipality_a,
        role=Role.MECHANIC,
        department=DepartmentFactory(municipality=municipality_a),
    )
    assert web_client_for(outsider).get(f"/dispatch/orders/{order.pk}/").status_code == 404


def test_plan_pages_render(municipality_a, users_a, web_client_for, crewed):
    crewed(municipality_a)
    JobFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.DISPATCHER])
    assert client.get("/dispatch/plans/").status_code == 200
    plan = Plan.objects.create(
        municipality=municipality_a, day=timezone.localdate(), status="draft"
    )
    assert client.get(f"/dispatch/plans/{plan.pk}/").status_code == 200


def test_job_list_filters_by_status(municipality_a, users_a, web_client_for):
    JobFactory(municipality=municipality_a, title="Νέα δουλειά")
    JobFactory(municipality=municipality_a, title="Ακυρωμένη", status="cancelled")
    page = web_client_for(users_a[Role.AUDITOR]).get("/dispatch/jobs/?status=new").content.decode()
    assert "Νέα δουλειά" in page and "Ακυρωμένη" not in page


def test_geocode_finds_street_and_number_in_the_extract(users_a, api_client_for):
    api = api_client_for(users_a[Role.DISPATCHER])
    places = api.get("/api/v1/dispatch/geocode/", {"q": "αποκορώνου 56"}).json()
    assert places[0]["label"] == "Αποκορώνου 56"
    assert places[0]["exact"] is True
    # Coordinates of the addr node in data/osm/chania.osm.bz2.
    assert places[0]["lat"] == pytest.approx(35.5115713) and places[0]["lon"] == pytest.approx(
        24.0209739
    )
