"""Jobs: life cycle, audit trail, assignment rules and refusals, queues, recurring rounds."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dispatch import selectors, services
from dispatch.choices import JobAction, JobStatus
from dispatch.models import Job, JobEvent, VehicleQueue
from fleet.choices import Role
from telematics.models import VehicleLiveState
from tests.dispatch.conftest import DEPOT, EAST, JOB_PLACE, WEST
from tests.factories import (
    DocumentFactory,
    DriverFactory,
    DriverLicenceFactory,
    JobFactory,
    MovementOrderFactory,
    RecurrenceRuleFactory,
    ShiftFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ATHENS = ZoneInfo("Europe/Athens")


def new_job(municipality, actor=None, **kw):
    fields = {
        "kind": "bulky_waste",
        "title": "Καναπές",
        "address": "Χάληδων 20",
        "latitude": JOB_PLACE[0],
        "longitude": JOB_PLACE[1],
        "service_minutes": 15,
    }
    fields.update(kw)
    return services.job_create(municipality=municipality, actor=actor, **fields)


def put_live(vehicle, point, *, moving=False, speed=0.0, at=None):
    at = at or timezone.now()
    VehicleLiveState.objects.update_or_create(
        vehicle=vehicle,
        defaults={
            "municipality_id": vehicle.municipality_id,
            "latitude": point[0],
            "longitude": point[1],
            "moving": moving,
            "speed_kmh": speed,
            "fix_time": at,
            "last_seen": at,
            "updated_at": at,
        },
    )


# --- creating and editing ----------------------------------------------------------------------


def test_job_creation_is_recorded_with_who_and_what(municipality_a, users_a):
    dispatcher = users_a[Role.DISPATCHER]
    job = new_job(municipality_a, dispatcher)
    (event,) = job.events.all()
    assert event.action == JobAction.CREATED
    assert event.actor == dispatcher
    assert event.to_status == JobStatus.NEW
    assert event.data["title"] == "Καναπές"


def test_job_with_window_closing_before_it_opens_is_refused(municipality_a):
    now = timezone.now()
    with pytest.raises(ValidationError):
        new_job(municipality_a, window_start=now, window_end=now - timedelta(hours=1))
    assert not Job.objects.exists()


def test_job_update_records_old_and_new_values(municipality_a, users_a):
    job = new_job(municipality_a)
    services.job_update(job=job, actor=users_a[Role.DISPATCHER], priority=9, title="Ψυγείο")
    event = job.events.get(action=JobAction.UPDATED)
    assert event.data == {"priority": [3, 9], "title": ["Καναπές", "Ψυγείο"]}


def test_unknown_fields_are_refused(municipality_a):
    with pytest.raises(ValidationError):
        services.job_create(municipality=municipality_a, title="x", status="done")


def test_department_of_another_municipality_is_refused(municipality_a, municipality_b):
    from tests.factories import DepartmentFactory

    with pytest.raises(ValidationError):
        new_job(municipality_a, department=DepartmentFactory(municipality=municipality_b))


# --- suggestions and assignment ----------------------------------------------------------------


def test_suggestions_rank_by_road_time_from_live_position_or_depot(municipality_a, crewed, routed):
    near = crewed(municipality_a, depot=JOB_PLACE)
    mid = crewed(municipality_a, depot=DEPOT)
    far = crewed(municipality_a, depot=EAST)
    # The far vehicle's depot is far, but it is live right at the job.
    live_here = crewed(municipality_a, depot=EAST)
    put_live(live_here, (JOB_PLACE[0] + 0.0001, JOB_PLACE[1]))
    job = new_job(municipality_a)
    found = selectors.job_suggestions(job=job)
    assert found.routed
    order = [c.vehicle_id for c in found.result.eligible]
    assert set(order) == {near.pk, mid.pk, far.pk, live_here.pk}
    assert order.index(mid.pk) < order.index(far.pk)
    assert order[-1] == far.pk
    by_id = {c.vehicle_id: c for c in found.result.eligible}
    assert by_id[live_here.pk].origin_source == "live"
    assert by_id[far.pk].origin_source == "depot"
    # Road times are the router's own, from each origin.
    expected = routed.matrix([EAST], [JOB_PLACE]).durations_s[0, 0]
    assert by_id[far.pk].road_time_s == pytest.approx(expected, abs=1e-6)
    assert by_id[far.pk].distance_m > 0


def test_ineligible_vehicles_are_listed_apart_with_reasons(municipality_a, crewed, routed):
    ok = crewed(municipality_a)
    kteo = crewed(municipality_a)
    DocumentFactory(
        municipality=municipality_a,
        vehicle=kteo,
        kind="kteo",
        issued_on=date.today() - timedelta(days=800),
        # Past the test's date and past the month of grace after it (fleet.compliance).
        expires_on=date.today() - timedelta(days=60),
    )
    workshop = crewed(municipality_a, status="in_maintenance")
    van = crewed(municipality_a, category="van")
    job = new_job(municipality_a, vehicle_category="refuse_truck")
    payload = selectors.suggestions_payload(selectors.job_suggestions(job=job))
    assert [c["vehicle"] for c in payload["eligible"]] == [ok.pk]
    reasons = {r["vehicle"]: [x["code"] for x in r["reasons"]] for r in payload["ineligible"]}
    assert reasons == {
        kteo.pk: ["kteo_expired"],
        workshop.pk: ["in_maintenance"],
        van.pk: ["wrong_category"],
    }
    message = next(r for r in payload["ineligible"] if r["vehicle"] == kteo.pk)["reasons"][0]
    assert "KTEO" in message["message"]


def test_assignment_puts_the_job_in_the_vehicles_queue_with_eta_and_driver(
    municipality_a, users_a, crewed, routed
):
    vehicle = crewed(municipality_a)
    job = new_job(municipality_a)
    dispatcher = users_a[Role.DISPATCHER]
    result = services.job_assign(job=job, vehicle=vehicle, actor=dispatcher, expected_version=0)
    job.refresh_from_db()
    assert job.status == JobStatus.ASSIGNED
    assert job.vehicle == vehicle
    assert job.driver == vehicle.crew_driver
    assert job.queue_position == 1
    assert job.planned_start >= job.assigned_at
    assert result.queue_version == 1
    assert VehicleQueue.objects.get(vehicle=vehicle).version == 1
    event = job.events.get(action=JobAction.ASSIGNED)
    assert event.actor == dispatcher
    assert event.vehicle == vehicle
    assert event.data["road_time_s"] > 0
    assert event.data["routed"] is True


def test_second_job_queues_behind_the_first(municipality_a, crewed, routed):
    vehicle = crewed(municipality_a)
    first = new_job(municipality_a, service_minutes=40)
    second = new_job(municipality_a, latitude=WEST[0], longitude=WEST[1])
    services.job_assign(job=first, vehicle=vehicle)
    services.job_assign(job=second, vehicle=vehicle)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.queue_position, second.queue_position) == (1, 2)
    # It cannot start before the first job's 40 minutes on site are over.
    assert second.planned_start >= first.planned_start + timedelta(minutes=40)
    found = selectors.job_suggestions(job=new_job(municipality_a))
    candidate = found.result.eligible[0]
    assert candidate.queue_length == 2
    assert candidate.origin_source == "queue"


def test_assignment_against_the_rules_is_refused(municipality_a, users_a, crewed, routed):
    vehicle = crewed(municipality_a, status="out_of_service")
    job = new_job(municipality_a)
    with pytest.raises(services.AssignmentRefused) as refused:
        services.job_assign(job=job, vehicle=vehicle, actor=users_a[Role.DISPATCHER])
    assert [r.code for r in refused.value.reasons] == ["out_of_service"]
    job.refresh_from_db()
    assert job.status == JobStatus.NEW
    assert not job.events.filter(action=JobAction.ASSIGNED).exists()


def test_only_an_administrator_may_override_and_the_reason_is_recorded(
    municipality_a, users_a, crewed, routed
):
    vehicle = crewed(municipality_a, status="in_maintenance")
    job = new_job(municipality_a)
    with pytest.raises(services.AssignmentRefused):
        services.job_assign(
            job=job, vehicle=vehicle, actor=users_a[Role.DISPATCHER], override_reason="urgent"
        )
    admin = users_a[Role.ADMIN]
    result = services.job_assign(
        job=job, vehicle=vehicle, actor=admin, override_reason="Βλάβη ύδρευσης, μόνο αυτό"
    )
    assert result.overridden
    job.refresh_from_db()
    assert job.override_reason == "Βλάβη ύδρευσης, μόνο αυτό"
    event = job.events.get(action=JobAction.OVERRIDE)
    assert event.actor == admin
    assert event.reason == "Βλάβη ύδρευσης, μόνο αυτό"
    assert event.data["reasons"][0]["code"] == "in_maintenance"


def test_driver_without_pei_on_shift_makes_the_truck_ineligible(municipality_a, crewed, routed):
    vehicle = crewed(municipality_a)
    vehicle.crew_driver.pei_expiry = date.today() - timedelta(days=1)
    vehicle.crew_driver.save()
    job = new_job(municipality_a)
    with pytest.raises(services.AssignmentRefused) as refused:
        services.job_assign(job=job, vehicle=vehicle)
    (reason,) = refused.value.reasons
    assert reason.code == "no_qualified_driver"
    assert reason.params["drivers"][0]["problems"][0]["code"] == "pei_expired"


def test_unattached_driver_on_shift_can_crew_any_vehicle(municipality_a, crewed, routed):
    vehicle = crewed(municipality_a)
    vehicle.shifts.all().delete()
    job = new_job(municipality_a)
    with pytest.raises(services.AssignmentRefused):
        services.job_assign(job=job, vehicle=vehicle)
    pool = DriverFactory(municipality=municipality_a, pei_expiry=date.today() + timedelta(days=30))
    DriverLicenceFactory(driver=pool, category="CE")
    ShiftFactory(municipality=municipality_a, driver=pool, vehicle=None)
    services.job_assign(job=job, vehicle=vehicle)
    job.refresh_from_db()
    assert job.driver == pool


def test_dispatchers_choice_of_an_unqualified_driver_is_refused(municipality_a, crewed, routed):
    vehicle = crewed(municipality_a)
    other = DriverFactory(municipality=municipality_a)
    DriverLicenceFactory(driver=other, category="B")
    ShiftFactory(municipality=municipality_a, driver=other, vehicle=vehicle)
    job = new_job(municipality_a)
    with pytest.raises(services.AssignmentRefused):
        services.job_assign(job=job, vehicle=vehicle, driver=other)


def test_vehicle_reserved_by_an_approved_movement_order_is_ineligible(
    municipality_a, crewed, routed
):
    vehicle = crewed(municipality_a)
    now = timezone.now()
    order = MovementOrderFactory(
        municipality=municipality_a,
        vehicle=vehicle,
        status="approved",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
    )
    job = new_job(municipality_a)
    with pytest.raises(services.AssignmentRefused) as refused:
        services.job_assign(job=job, vehicle=vehicle)
    assert refused.value.reasons[0].code == "reserved"
    assert refused.value.reasons[0].params["order"] == order.reference


def test_stale_queue_version_is_a_conflict_naming_who_booked(
    municipality_a, users_a, crewed, routed
):
    vehicle = crewed(municipality_a)
    first, second = new_job(municipality_a), new_job(municipality_a)
    services.job_assign(
        job=first, vehicle=vehicle, actor=users_a[Role.DISPATCHER], expected_version=0
    )
    with pytest.raises(services.AssignmentConflict) as conflict:
        services.job_assign(
            job=second, vehicle=vehicle, actor=users_a[Role.ADMIN], expected_version=0
        )
    assert conflict.value.code == "vehicle_booked"
    assert conflict.value.details["job"] == first.pk
    assert conflict.value.details["by"] == users_a[Role.DISPATCHER].username
    second.refresh_from_db()
    assert second.status == JobStatus.NEW


def test_a_job_already_assigned_cannot_be_assigned_again(municipality_a, crewed, routed):
    one, two = crewed(municipality_a), crewed(municipality_a)
    job = new_job(municipality_a)
    services.job_assign(job=job, vehicle=one)
    with pytest.raises(services.AssignmentConflict) as conflict:
        services.job_assign(job=job, vehicle=two)
    assert conflict.value.code == "job_taken"
    # Moving it is an explicit reassignment, and both queues move on.
    services.job_assign(job=job, vehicle=two, reassign=True)
    job.refresh_from_db()
    assert job.vehicle == two
    assert VehicleQueue.objects.get(vehicle=one).version == 2
    assert job.events.filter(action=JobAction.ASSIGNED).last().data["from_vehicle"] == one.pk


def test_without_a_road_graph_times_are_straight_line_estimates(municipality_a, crewed):
    municipality_a.osm_file = ""
    municipality_a.save()
    vehicle = crewed(municipality_a)
    job = Job.objects.get(pk=new_job(municipality_a).pk)
    found = selectors.job_suggestions(job=job)
    assert not found.routed
    (candidate,) = found.result.eligible
    assert candidate.vehicle_id == vehicle.pk
    assert "straight_line_estimate" in [w.code for w in candidate.warnings]


# --- life cycle --------------------------------------------------------------------------------


@pytest.fixture
def assigned(municipality_a, crewed, routed):
    vehicle = crewed(municipality_a)
    job = new_job(municipality_a)
    services.job_assign(job=job, vehicle=vehicle)
    job.refresh_from_db()
    return job


def test_life_cycle_records_each_step_with_times(assigned, users_a):
    dispatcher = users_a[Role.DISPATCHER]
    services.job_transition(job=assigned, to_status=JobStatus.EN_ROUTE, actor=dispatcher)
    services.job_transition(job=assigned, to_status=JobStatus.ON_SITE, actor=dispatcher)
    job = services.job_transition(job=assigned, to_status=JobStatus.DONE, actor=dispatcher)
    assert job.started_at <= job.arrived_at <= job.completed_at
    steps = list(job.events.filter(action=JobAction.STATUS).values_list("from_status", "to_status"))
    assert steps == [("assigned", "en_route"), ("en_route", "on_site"), ("on_site", "done")]


def test_a_done_job_cannot_change_any_more(assigned):
    services.job_transition(job=assigned, to_status=JobStatus.ON_SITE)
    services.job_transition(job=assigned, to_status=JobStatus.DONE)
    for status in (JobStatus.EN_ROUTE, JobStatus.CANCELLED, JobStatus.FAILED):
        with pytest.raises(ValidationError):
            services.job_transition(job=assigned, to_status=status, reason="x")
    with pytest.raises(ValidationError):
        services.job_update(job=assigned, title="changed")


@pytest.mark.parametrize("status", [JobStatus.CANCELLED])
def test_cancelling_needs_a_reason(assigned, status):
    with pytest.raises(ValidationError):
        services.job_transition(job=assigned, to_status=status)
    job = services.job_transition(job=assigned, to_status=status, reason="Ο πολίτης ακύρωσε")
    assert job.status_reason == "Ο πολίτης ακύρωσε"
    assert job.events.last().reason == "Ο πολίτης ακύρωσε"


def test_failing_needs_a_reason(assigned):
    services.job_transition(job=assigned, to_status=JobStatus.EN_ROUTE)
    with pytest.raises(ValidationError):
        services.job_transition(job=assigned, to_status=JobStatus.FAILED)
    job = services.job_transition(
        job=assigned, to_status=JobStatus.FAILED, reason="Κλειστός δρόμος"
    )
    assert job.status == JobStatus.FAILED


def test_a_vehicle_has_at_most_one_job_under_way(municipality_a, assigned):
    second = new_job(municipality_a)
    services.job_assign(job=second, vehicle=assigned.vehicle)
    services.job_transition(job=assigned, to_status=JobStatus.EN_ROUTE)
    with pytest.raises(ValidationError) as error:
        services.job_transition(job=second, to_status=JobStatus.EN_ROUTE)
    assert error.value.code == "one_in_progress"
    second.refresh_from_db()
    assert second.status == JobStatus.ASSIGNED


def test_unassigning_returns_the_job_to_new_and_bumps_the_queue(assigned, users_a):
    vehicle = assigned.vehicle
    job = services.job_unassign(job=assigned, actor=users_a[Role.DISPATCHER], reason="λάθος")
    assert job.status == JobStatus.NEW
    assert job.vehicle is None and job.driver is None
    assert VehicleQueue.objects.get(vehicle=vehicle).version == 2
    assert job.events.last().action == JobAction.UNASSIGNED


def test_driver_may_only_move_their_own_jobs(assigned, municipality_a):
    owner = UserFactory(municipality=municipality_a, role=Role.DRIVER)
    assigned.driver.user = owner
    assigned.driver.save()
    stranger = UserFactory(municipality=municipality_a, role=Role.DRIVER)
    with pytest.raises(PermissionDenied):
        services.job_transition(job=assigned, to_status=JobStatus.EN_ROUTE, actor=stranger)
    job = services.job_transition(job=assigned, to_status=JobStatus.EN_ROUTE, actor=owner)
    assert job.events.last().actor == owner


def test_queue_reorder_with_a_stale_version_is_refused(municipality_a, assigned):
    second = new_job(municipality_a)
    services.job_assign(job=second, vehicle=assigned.vehicle)
    version = VehicleQueue.objects.get(vehicle=assigned.vehicle).version
    with pytest.raises(services.AssignmentConflict):
        services.job_reorder(
            vehicle=assigned.vehicle, job_ids=[second.pk, assigned.pk], expected_version=version - 1
        )
    services.job_reorder(
        vehicle=assigned.vehicle, job_ids=[second.pk, assigned.pk], expected_version=version
    )
    second.refresh_from_db()
    assert second.queue_position == 1
    with pytest.raises(ValidationError):
        services.job_reorder(vehicle=assigned.vehicle, job_ids=[second.pk])


def test_note_and_photo_are_kept_and_audited(assigned):
    services.job_note_add(job=assigned, text="Η πόρτα ήταν κλειστή")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    job = services.job_photo_add(
        job=assigned, photo=SimpleUploadedFile("p.png", png, content_type="image/png")
    )
    assert job.driver_note == "Η πόρτα ήταν κλειστή"
    assert job.photo.name.endswith(".png")
    assert list(job.events.values_list("action", flat=True))[-2:] == ["note", "photo"]
    with pytest.raises(ValidationError):
        services.job_photo_add(
            job=assigned, photo=SimpleUploadedFile("x.png", b"<html>", content_type="image/png")
        )


# --- arrival and completion from live state ----------------------------------------------------


def test_vehicle_stopping_at_the_place_puts_the_job_on_site(assigned):
    t0 = timezone.now() - timedelta(minutes=2)
    put_live(assigned.vehicle, (JOB_PLACE[0] + 0.0002, JOB_PLACE[1]), at=t0)
    assert services.arrivals_track() == 1  # near: the dwell starts
    assigned.refresh_from_db()
    assert assigned.status == JobStatus.ASSIGNED
    assert assigned.near_since == t0
    put_live(assigned.vehicle, (JOB_PLACE[0] + 0.0002, JOB_PLACE[1]), at=t0 + timedelta(seconds=45))
    assert services.arrivals_track() == 1
    assigned.refresh_from_db()
    assert assigned.status == JobStatus.ON_SITE
    assert assigned.arrived_at == t0
    event = assigned.events.last()
    assert event.actor is None and event.actor_kind == "system"
    assert event.data["automatic"] is True


def test_leaving_after_the_time_on_site_completes_the_job_if_configured(assigned):
    from dispatch.models import DispatchSettings

    DispatchSettings.objects.create(
        municipality=assigned.municipality, completion_mode="departure", arrival_dwell_s=0
    )
    t0 = timezone.now() - timedelta(minutes=30)
    put_live(assigned.vehicle, JOB_PLACE, at=t0)
    services.arrivals_track()
    assigned.refresh_from_db()
    assert assigned.status == JobStatus.ON_SITE
    put_live(assigned.vehicle, EAST, moving=True, speed=30, at=t0 + timedelta(minutes=20))
    services.arrivals_track()
    assigned.refresh_from_db()
    assert assigned.status == JobStatus.DONE
    assert assigned.completed_at == t0 + timedelta(minutes=20)


def test_with_driver_confirmation_leaving_does_not_complete(assigned):
    t0 = timezone.now() - timedelta(minutes=30)
    put_live(assigned.vehicle, JOB_PLACE, at=t0)
    services.arrivals_track()
    put_live(assigned.vehicle, JOB_PLACE, at=t0 + timedelta(minutes=1))
    services.arrivals_track()
    put_live(assigned.vehicle, EAST, moving=True, at=t0 + timedelta(minutes=20))
    services.arrivals_track()
    assigned.refresh_from_db()
    assert assigned.status == JobStatus.ON_SITE


# --- recurring rounds --------------------------------------------------------------------------


def test_recurring_rule_generates_each_chosen_weekday_once(municipality_a):
    monday = date(2025, 3, 3)
    rule = RecurrenceRuleFactory(
        municipality=municipality_a,
        weekdays=[0, 3],
        starts_on=monday,
        window_start=time(7, 0),
        window_end=time(9, 0),
        service_minutes=5,
    )
    jobs = services.recurrence_generate(rule=rule, until=date(2025, 3, 16))
    assert [j.occurrence_date for j in jobs] == [
        date(2025, 3, 3),
        date(2025, 3, 6),
        date(2025, 3, 10),
        date(2025, 3, 13),
    ]
    # 07:00 in Athens in March (EET, UTC+2) is 05:00 UTC.
    assert jobs[0].window_start == datetime(2025, 3, 3, 5, 0, tzinfo=ZoneInfo("UTC"))
    assert jobs[0].source == "recurring"
    assert services.recurrence_generate(rule=rule, until=date(2025, 3, 16)) == []
    rule.generated_until = None
    rule.save()
    assert services.recurrence_generate(rule=rule, until=date(2025, 3, 16)) == []
    assert Job.objects.filter(recurrence=rule).count() == 4


def test_fortnightly_rule_skips_every_other_week(municipality_a):
    rule = RecurrenceRuleFactory(
        municipality=municipality_a, weekdays=[2], interval_weeks=2, starts_on=date(2025, 3, 3)
    )
    jobs = services.recurrence_generate(rule=rule, until=date(2025, 3, 31))
    assert [j.occurrence_date for j in jobs] == [date(2025, 3, 5), date(2025, 3, 19)]


def test_recurring_window_follows_summer_time(municipality_a):
    rule = RecurrenceRuleFactory(
        municipality=municipality_a, weekdays=[0], starts_on=date(2025, 7, 7)
    )
    (job,) = services.recurrence_generate(rule=rule, until=date(2025, 7, 7))
    # 07:00 in Athens in July (EEST, UTC+3) is 04:00 UTC.
    assert job.window_start.astimezone(ZoneInfo("UTC")).hour == 4
    assert job.window_start.astimezone(ATHENS).hour == 7


def test_audit_trail_is_in_time_order(assigned):
    services.job_transition(job=assigned, to_status=JobStatus.EN_ROUTE)
    events = list(selectors.job_events(job=assigned))
    assert [e.action for e in events] == ["created", "assigned", "status"]
    assert all(a.at <= b.at for a, b in zip(events, events[1:], strict=False))
    assert JobEvent.objects.filter(job=assigned).count() == 3


def test_job_factory_makes_a_new_job(municipality_a):
    assert JobFactory(municipality=municipality_a).status == JobStatus.NEW


def test_open_work_order_that_takes_the_vehicle_off_the_road_blocks_it(
    municipality_a, crewed, routed
):
    from fleet.services.maintenance import work_order_report

    vehicle = crewed(municipality_a)
    work_order_report(
        municipality=municipality_a, vehicle=vehicle, title="Φρένα", takes_off_road=True
    )
    job = new_job(municipality_a)
    with pytest.raises(services.AssignmentRefused) as refused:
        services.job_assign(job=job, vehicle=vehicle)
    assert "work_order" in [r.code for r in refused.value.reasons]
    assert "Φρένα" in refused.value.message
