"""The dispatch API: jobs CRUD, suggestions, assignment, transitions, audit trail, movement
orders with their PDF, recurring jobs, shifts, queues and the board snapshot."""

import io
from datetime import date, timedelta

import pytest
from django.utils import timezone
from pypdf import PdfReader

from dispatch.choices import JobStatus
from dispatch.models import Job, MovementOrder
from fleet.choices import Role
from tests.dispatch.conftest import JOB_PLACE
from tests.factories import (
    DepartmentFactory,
    JobFactory,
    MovementOrderFactory,
    RecurrenceRuleFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

JOB = {
    "kind": "bulky_waste",
    "title": "Στρώμα και καναπές",
    "address": "Χάληδων 20",
    "latitude": JOB_PLACE[0],
    "longitude": JOB_PLACE[1],
    "service_minutes": 20,
    "priority": 6,
}


def create_job(api, **extra):
    response = api.post("/api/v1/jobs/", {**JOB, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_dispatcher_creates_and_lists_jobs(users_a, api_client_for):
    api = api_client_for(users_a[Role.DISPATCHER])
    body = create_job(api)
    assert body["status"] == "new"
    listed = api.get("/api/v1/jobs/?status=new").json()
    assert [j["id"] for j in listed["results"]] == [body["id"]]


def test_status_cannot_be_written_directly(users_a, api_client_for):
    api = api_client_for(users_a[Role.DISPATCHER])
    job = create_job(api)
    response = api.patch(f"/api/v1/jobs/{job['id']}/", {"status": "done"}, format="json")
    assert response.status_code == 200
    assert Job.objects.get(pk=job["id"]).status == JobStatus.NEW


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.MANAGER, Role.MECHANIC, Role.DRIVER])
def test_roles_without_dispatch_edit_cannot_create_jobs(role, users_a, api_client_for):
    response = api_client_for(users_a[role]).post("/api/v1/jobs/", JOB, format="json")
    assert response.status_code == 403


def test_jobs_are_never_deleted(users_a, api_client_for):
    api = api_client_for(users_a[Role.ADMIN])
    job = create_job(api)
    assert api.delete(f"/api/v1/jobs/{job['id']}/").status_code == 405
    assert Job.objects.filter(pk=job["id"]).exists()


def test_suggest_then_assign_the_first(municipality_a, users_a, api_client_for, crewed, routed):
    vehicle = crewed(municipality_a)
    crewed(municipality_a, status="in_maintenance")
    api = api_client_for(users_a[Role.DISPATCHER])
    job = create_job(api)
    suggestions = api.get(f"/api/v1/jobs/{job['id']}/suggestions/").json()
    assert suggestions["routed"] is True
    (first,) = suggestions["eligible"]
    assert first["vehicle"] == vehicle.pk
    assert first["road_time_s"] > 0 and first["distance_m"] > 0 and first["eta"]
    assert suggestions["ineligible"][0]["reasons"][0]["code"] == "in_maintenance"
    response = api.post(
        f"/api/v1/jobs/{job['id']}/assign/",
        {"vehicle": first["vehicle"], "expected_version": first["queue_version"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "assigned"
    assert response.json()["queue_version"] == 1


def test_second_assignment_on_the_same_version_gets_409(
    municipality_a, users_a, api_client_for, crewed, routed
):
    vehicle = crewed(municipality_a)
    api = api_client_for(users_a[Role.DISPATCHER])
    one, two = create_job(api), create_job(api)
    body = {"vehicle": vehicle.pk, "expected_version": 0}
    assert api.post(f"/api/v1/jobs/{one['id']}/assign/", body, format="json").status_code == 200
    response = api.post(f"/api/v1/jobs/{two['id']}/assign/", body, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "vehicle_booked"
    assert response.json()["detail"]


def test_refused_assignment_lists_reasons_and_admin_override_works(
    municipality_a, users_a, api_client_for, crewed, routed
):
    vehicle = crewed(municipality_a, status="out_of_service")
    dispatcher = api_client_for(users_a[Role.DISPATCHER])
    job = create_job(dispatcher)
    url = f"/api/v1/jobs/{job['id']}/assign/"
    refused = dispatcher.post(url, {"vehicle": vehicle.pk}, format="json")
    assert refused.status_code == 400
    assert refused.json()["reasons"][0]["code"] == "out_of_service"
    not_admin = dispatcher.post(url, {"vehicle": vehicle.pk, "override_reason": "x"}, format="json")
    assert not_admin.status_code == 400
    admin = api_client_for(users_a[Role.ADMIN])
    ok = admin.post(url, {"vehicle": vehicle.pk, "override_reason": "Έκτακτο"}, format="json")
    assert ok.status_code == 200
    assert ok.json()["overridden"] is True
    events = admin.get(f"/api/v1/jobs/{job['id']}/events/").json()
    assert [e["action"] for e in events] == ["created", "assigned", "override"]
    assert events[2]["actor"] == users_a[Role.ADMIN].username
    assert events[2]["reason"] == "Έκτακτο"


def test_vehicle_of_another_municipality_cannot_be_assigned(
    municipality_a, municipality_b, users_a, api_client_for, crewed
):
    other = crewed(municipality_b)
    api = api_client_for(users_a[Role.DISPATCHER])
    job = create_job(api)
    response = api.post(f"/api/v1/jobs/{job['id']}/assign/", {"vehicle": other.pk}, format="json")
    assert response.status_code == 400
    assert "vehicle" in response.json()


def test_transitions_and_cancel_reason(municipality_a, users_a, api_client_for, crewed, routed):
    vehicle = crewed(municipality_a)
    api = api_client_for(users_a[Role.DISPATCHER])
    job = create_job(api)
    api.post(f"/api/v1/jobs/{job['id']}/assign/", {"vehicle": vehicle.pk}, format="json")
    url = f"/api/v1/jobs/{job['id']}/transition/"
    assert api.post(url, {"status": "done"}, format="json").status_code == 400
    assert api.post(url, {"status": "cancelled"}, format="json").status_code == 400
    response = api.post(url, {"status": "cancelled", "reason": "Διπλή καταχώριση"}, format="json")
    assert response.status_code == 200
    assert response.json()["status_reason"] == "Διπλή καταχώριση"


def test_driver_sees_and_moves_only_their_own_jobs(
    municipality_a, users_a, api_client_for, crewed, routed
):
    vehicle = crewed(municipality_a)
    driver_user = users_a[Role.DRIVER]
    vehicle.crew_driver.user = driver_user
    vehicle.crew_driver.save()
    office = api_client_for(users_a[Role.DISPATCHER])
    mine, other = create_job(office), create_job(office)
    office.post(f"/api/v1/jobs/{mine['id']}/assign/", {"vehicle": vehicle.pk}, format="json")
    api = api_client_for(driver_user)
    listed = api.get("/api/v1/jobs/").json()
    assert [j["id"] for j in listed["results"]] == [mine["id"]]
    assert api.get(f"/api/v1/jobs/{other['id']}/").status_code == 404
    url = f"/api/v1/jobs/{mine['id']}/transition/"
    assert api.post(url, {"status": "en_route"}, format="json").status_code == 200
    assert api.post(url, {"status": "cancelled", "reason": "x"}, format="json").status_code == 403
    assert (
        api.post(f"/api/v1/jobs/{mine['id']}/note/", {"text": "ok"}, format="json").status_code
        == 200
    )
    # Nor may a driver assign or edit.
    assert (
        api.patch(f"/api/v1/jobs/{mine['id']}/", {"title": "x"}, format="json").status_code == 403
    )
    assert (
        api.post(f"/api/v1/jobs/{mine['id']}/assign/", {"vehicle": vehicle.pk}).status_code == 403
    )


def test_queue_endpoint_reorders_with_version(
    municipality_a, users_a, api_client_for, crewed, routed
):
    vehicle = crewed(municipality_a)
    api = api_client_for(users_a[Role.DISPATCHER])
    one, two = create_job(api), create_job(api)
    for job in (one, two):
        api.post(f"/api/v1/jobs/{job['id']}/assign/", {"vehicle": vehicle.pk}, format="json")
    queue = api.get(f"/api/v1/dispatch/queues/{vehicle.pk}/").json()
    assert [j["id"] for j in queue["jobs"]] == [one["id"], two["id"]]
    url = f"/api/v1/dispatch/queues/{vehicle.pk}/"
    stale = api.post(url, {"jobs": [two["id"], one["id"]], "expected_version": 0}, format="json")
    assert stale.status_code == 409
    ok = api.post(
        url,
        {"jobs": [two["id"], one["id"]], "expected_version": queue["queue_version"]},
        format="json",
    )
    assert ok.status_code == 200
    assert [j["id"] for j in api.get(url).json()["jobs"]] == [two["id"], one["id"]]


def test_board_snapshot_lists_vehicles_and_jobs(
    municipality_a, municipality_b, users_a, api_client_for, crewed
):
    mine = crewed(municipality_a)
    crewed(municipality_b)
    JobFactory(municipality=municipality_a)
    JobFactory(municipality=municipality_b)
    body = api_client_for(users_a[Role.AUDITOR]).get("/api/v1/dispatch/board/").json()
    assert [v["id"] for v in body["vehicles"]] == [mine.pk]
    assert body["vehicles"][0]["state"] == "free"
    assert len(body["jobs"]) == 1


# --- movement orders ---------------------------------------------------------------------------


@pytest.fixture
def department_with_head(municipality_a):
    head = UserFactory(municipality=municipality_a, role=Role.MANAGER, first_name="Μαρία")
    department = DepartmentFactory(municipality=municipality_a, head=head, name="Καθαριότητα")
    return department, head


def order_body(department, vehicle):
    start = timezone.now() + timedelta(days=1)
    return {
        "department": department.pk,
        "vehicle": vehicle.pk,
        "purpose": "Μεταφορά υλικών στο ΚΑΠΗ",
        "destination": "Σούδα",
        "passengers": 2,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=3)).isoformat(),
    }


def test_movement_order_request_approve_and_print(
    municipality_a, users_a, api_client_for, crewed, department_with_head
):
    department, head = department_with_head
    vehicle = crewed(municipality_a)
    requester = UserFactory(municipality=municipality_a, role=Role.MECHANIC, department=department)
    api = api_client_for(requester)
    first = api.post("/api/v1/movement-orders/", order_body(department, vehicle), format="json")
    assert first.status_code == 201, first.content
    second = api.post("/api/v1/movement-orders/", order_body(department, vehicle), format="json")
    year = timezone.now().year
    assert (first.json()["reference"], second.json()["reference"]) == (f"1/{year}", f"2/{year}")
    order_id = first.json()["id"]
    # Not yet approved: no PDF; the requester cannot approve their own request.
    assert api.get(f"/api/v1/movement-orders/{order_id}/pdf/").status_code == 409
    assert api.post(f"/api/v1/movement-orders/{order_id}/approve/").status_code == 403
    # A dispatcher who does not head the department cannot either.
    dispatcher = api_client_for(users_a[Role.DISPATCHER])
    assert dispatcher.post(f"/api/v1/movement-orders/{order_id}/approve/").status_code == 403
    approved = api_client_for(head).post(f"/api/v1/movement-orders/{order_id}/approve/")
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    # The overlapping second order can no longer be approved for the same vehicle.
    clash = api_client_for(head).post(f"/api/v1/movement-orders/{second.json()['id']}/approve/")
    assert clash.status_code == 400
    pdf = api.get(f"/api/v1/movement-orders/{order_id}/pdf/")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert f"1/{year}" in text
    assert "Μεταφορά υλικών στο ΚΑΠΗ" in text
    assert vehicle.plate in text


def test_rejection_needs_a_note(municipality_a, api_client_for, crewed, department_with_head):
    department, head = department_with_head
    order = MovementOrderFactory(municipality=municipality_a, department=department)
    api = api_client_for(head)
    assert api.post(f"/api/v1/movement-orders/{order.pk}/reject/").status_code == 400
    response = api.post(
        f"/api/v1/movement-orders/{order.pk}/reject/", {"note": "Δεν υπάρχει όχημα"}, format="json"
    )
    assert response.status_code == 200
    assert MovementOrder.objects.get(pk=order.pk).status == "rejected"


def test_auditor_reads_but_cannot_request_orders(municipality_a, users_a, api_client_for, crewed):
    department = DepartmentFactory(municipality=municipality_a)
    vehicle = crewed(municipality_a)
    api = api_client_for(users_a[Role.AUDITOR])
    assert api.get("/api/v1/movement-orders/").status_code == 200
    response = api.post("/api/v1/movement-orders/", order_body(department, vehicle), format="json")
    assert response.status_code == 403


def test_approved_order_shows_on_the_board(
    municipality_a, users_a, api_client_for, crewed, department_with_head
):
    department, head = department_with_head
    vehicle = crewed(municipality_a)
    now = timezone.now()
    order = MovementOrderFactory(
        municipality=municipality_a,
        department=department,
        vehicle=vehicle,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    api_client_for(head).post(f"/api/v1/movement-orders/{order.pk}/approve/")
    board = api_client_for(users_a[Role.DISPATCHER]).get("/api/v1/dispatch/board/").json()
    (row,) = board["vehicles"]
    assert row["state"] == "busy"
    assert row["order"]["reference"] == order.reference


# --- recurring jobs, shifts --------------------------------------------------------------------


def test_recurring_job_generation_endpoint(municipality_a, users_a, api_client_for):
    api = api_client_for(users_a[Role.DISPATCHER])
    response = api.post(
        "/api/v1/recurring-jobs/",
        {
            "name": "Αποκομιδή Σπλάντζιας",
            "latitude": JOB_PLACE[0],
            "longitude": JOB_PLACE[1],
            "weekdays": [0, 1, 2, 3, 4, 5, 6],
            "starts_on": date.today().isoformat(),
            "window_start": "06:00",
            "window_end": "08:00",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    rule_id = response.json()["id"]
    jobs = api.post(f"/api/v1/recurring-jobs/{rule_id}/generate/", {"days": 2}, format="json")
    assert jobs.status_code == 200
    assert len(jobs.json()) == 3  # today and the next two days
    again = api.post(f"/api/v1/recurring-jobs/{rule_id}/generate/", {"days": 2}, format="json")
    assert again.json() == []


def test_recurring_job_without_weekdays_is_refused(municipality_a, users_a, api_client_for):
    response = api_client_for(users_a[Role.DISPATCHER]).post(
        "/api/v1/recurring-jobs/",
        {
            "name": "x",
            "latitude": 35.5,
            "longitude": 24.0,
            "weekdays": [],
            "starts_on": "2025-01-01",
            "window_start": "06:00",
            "window_end": "08:00",
        },
        format="json",
    )
    assert response.status_code == 400


def test_overlapping_shift_for_the_same_driver_is_refused(
    municipality_a, users_a, api_client_for, crewed
):
    vehicle = crewed(municipality_a)
    api = api_client_for(users_a[Role.DISPATCHER])
    now = timezone.now()
    body = {
        "driver": vehicle.crew_driver.pk,
        "vehicle": vehicle.pk,
        "starts_at": (now + timedelta(hours=2)).isoformat(),
        "ends_at": (now + timedelta(hours=10)).isoformat(),
    }
    response = api.post("/api/v1/shifts/", body, format="json")
    assert response.status_code == 400
    body["starts_at"] = (now + timedelta(hours=8)).isoformat()
    assert api.post("/api/v1/shifts/", body, format="json").status_code == 201


def test_recurrence_factory_rule_is_scoped(municipality_a, municipality_b, users_a, api_client_for):
    RecurrenceRuleFactory(municipality=municipality_b)
    mine = RecurrenceRuleFactory(municipality=municipality_a)
    body = api_client_for(users_a[Role.AUDITOR]).get("/api/v1/recurring-jobs/").json()
    assert [r["id"] for r in body["results"]] == [mine.pk]


def test_openapi_schema_describes_the_dispatch_endpoints(users_a, api_client_for):
    schema = api_client_for(users_a[Role.ADMIN]).get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/jobs/{id}/suggestions/",
        "/api/v1/jobs/{id}/assign/",
        "/api/v1/jobs/{id}/transition/",
        "/api/v1/movement-orders/{id}/approve/",
        "/api/v1/plans/{id}/apply/",
        "/api/v1/dispatch/queues/{vehicle_id}/",
    ):
        assert path in schema["paths"], path
