"""Notifications: rules, delivery in the app and by e-mail, storms, rebuilds, late data, and the
user's pages and API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from fleet.choices import Role
from notifications.matching import event_key, rule_wants, storm_of
from notifications.models import Notification, NotificationDispatch, NotificationRule
from notifications.services import notify_device_events
from telematics.models import Device, MotionEvent
from telematics.tasks import motion_rebuild, process_positions
from tests.factories import DepartmentFactory, MunicipalityFactory, UserFactory, VehicleFactory
from tests.telematics.motion.conftest import FixBuilder
from tests.telematics.tracked import store_fixes, tracked_vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture
def town():
    municipality = MunicipalityFactory()
    department = DepartmentFactory(municipality=municipality)
    vehicle, device = tracked_vehicle(municipality, "356307042441099", department=department)
    manager = UserFactory(municipality=municipality, role=Role.MANAGER, email="manager@example.gr")
    dispatcher = UserFactory(
        municipality=municipality, role=Role.DISPATCHER, email="dispatch@example.gr"
    )
    return {
        "municipality": municipality,
        "department": department,
        "vehicle": vehicle,
        "device": device,
        "manager": manager,
        "dispatcher": dispatcher,
    }


def make_rule(town, **kw) -> NotificationRule:
    departments = kw.pop("departments", [])
    fields = {
        "municipality": town["municipality"],
        "name": "Ignition",
        "event_types": ["ignition_on"],
        "roles": [Role.MANAGER],
        "in_app": True,
        "email": True,
        "suppress_minutes": 15,
    }
    fields.update(kw)
    rule = NotificationRule.objects.create(**fields)
    rule.departments.set(departments)
    return rule


def recent_day(minutes_ago: int = 50) -> list:
    """Two short trips ending a few minutes ago: two ignition-on events, 25 minutes apart."""
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=minutes_ago)
    b = FixBuilder(start=start).set(ignition=False).park(300).set(ignition=True)
    b.drive(2000, 0, 36).set(ignition=False).park(900).set(ignition=True)
    b.drive(0, 1500, 30).set(ignition=False).park(300)
    return b.fixes


def event(town, kind: str, when: datetime, **facts) -> MotionEvent:
    return MotionEvent.objects.create(
        municipality=town["municipality"],
        device=town["device"],
        vehicle=town["vehicle"],
        emitted_at=when,
        type=kind,
        time=when,
        latitude=35.51,
        longitude=24.02,
        facts=facts,
    )


# ------------------------------------------------------------------------------------------------
# pure rules


def test_event_key_is_stable_and_tells_geofences_apart() -> None:
    t = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    same_instant_in_athens = t.astimezone(timezone.get_fixed_timezone(120))
    assert event_key(7, "overspeed", t, {}) == event_key(7, "overspeed", same_instant_in_athens, {})
    assert event_key(7, "overspeed", t, {}) != event_key(8, "overspeed", t, {})
    assert event_key(7, "overspeed", t, {}) != event_key(7, "idling", t, {})
    assert event_key(7, "overspeed", t, {}) != event_key(
        7, "overspeed", t + timedelta(microseconds=1), {}
    )
    enter_a = event_key(7, "geofence_enter", t, {"geofence": 1})
    enter_b = event_key(7, "geofence_enter", t, {"geofence": 2})
    assert enter_a != enter_b


def test_rule_wants_types_and_departments() -> None:
    def wants(types, departments, kind, department):
        return rule_wants(
            event_types=types,
            department_ids=departments,
            event_type=kind,
            vehicle_department_id=department,
        )

    assert wants(["idling"], [], "idling", None)
    assert not wants(["idling"], [], "overspeed", None)
    assert wants(["idling"], [3], "idling", 3)
    assert not wants(["idling"], [3], "idling", 4)
    assert not wants(["idling"], [3], "idling", None)


def test_storm_of_finds_the_nearest_delivery_within_the_window() -> None:
    t = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    delivered = [(t, "first"), (t + timedelta(minutes=30), "second")]
    window = timedelta(minutes=15)
    assert storm_of(delivered, t + timedelta(minutes=5), window) == "first"
    assert storm_of(delivered, t + timedelta(minutes=26), window) == "second"
    assert storm_of(delivered, t + timedelta(minutes=15), window) is None
    assert storm_of(delivered, t - timedelta(minutes=20), window) is None
    assert storm_of(delivered, t, timedelta(0)) is None


# ------------------------------------------------------------------------------------------------
# from positions to notifications


def test_motion_processing_notifies_the_rules_roles_in_app_and_by_email(
    town, django_capture_on_commit_callbacks
) -> None:
    make_rule(town)
    other = MunicipalityFactory()
    UserFactory(municipality=other, role=Role.MANAGER, email="other@example.gr")
    start, end = store_fixes(town["device"], town["vehicle"], recent_day())
    with django_capture_on_commit_callbacks(execute=True):
        process_positions(town["device"].pk, start.isoformat(), end.isoformat())

    ignitions = MotionEvent.objects.filter(device=town["device"], type="ignition_on")
    assert ignitions.count() == 2
    mine = Notification.objects.filter(recipient=town["manager"]).order_by("event_time")
    assert [n.event_time for n in mine] == sorted(e.time for e in ignitions)
    assert all(n.event_type == "ignition_on" and n.vehicle == town["vehicle"] for n in mine)
    assert all(n.read_at is None for n in mine)
    # Nobody else: not the dispatcher (no rule names the role), not another municipality.
    assert Notification.objects.exclude(recipient=town["manager"]).count() == 0
    # One e-mail for the run, listing both events.
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["manager@example.gr"]
    assert str(town["vehicle"]) in message.body
    assert message.body.count("Ignition on") == 2


def test_rebuilding_the_same_positions_notifies_nobody_again(
    town, django_capture_on_commit_callbacks
) -> None:
    make_rule(town)
    start, end = store_fixes(town["device"], town["vehicle"], recent_day())
    with django_capture_on_commit_callbacks(execute=True):
        process_positions(town["device"].pk, start.isoformat(), end.isoformat())
    first = list(Notification.objects.values_list("pk", "event_key").order_by("pk"))
    old_event_ids = set(MotionEvent.objects.values_list("pk", flat=True))
    assert len(first) == 2 and len(mail.outbox) == 1

    with django_capture_on_commit_callbacks(execute=True):
        motion_rebuild(town["device"].pk)  # from scratch: every event row is new
        process_positions(town["device"].pk, start.isoformat(), end.isoformat())
    assert set(MotionEvent.objects.values_list("pk", flat=True)).isdisjoint(old_event_ids)
    assert list(Notification.objects.values_list("pk", "event_key").order_by("pk")) == first
    assert len(mail.outbox) == 1
    # The notifications now point at the rebuilt events.
    for n in Notification.objects.all():
        assert n.event is not None and n.event.time == n.event_time


def test_late_data_hours_old_notifies_nobody(town, django_capture_on_commit_callbacks) -> None:
    make_rule(town)
    start, end = store_fixes(town["device"], town["vehicle"], recent_day(minutes_ago=5 * 60))
    with django_capture_on_commit_callbacks(execute=True):
        process_positions(town["device"].pk, start.isoformat(), end.isoformat())
    assert MotionEvent.objects.filter(type="ignition_on").count() == 2
    assert Notification.objects.count() == 0
    assert NotificationDispatch.objects.count() == 0
    assert mail.outbox == []


def test_a_storm_notifies_once_and_counts_the_rest(town) -> None:
    make_rule(town, event_types=["overspeed"], suppress_minutes=15)
    now = timezone.now()
    t0 = now - timedelta(minutes=40)
    for minutes in (0, 2, 4, 9, 13):  # one storm ...
        event(town, "overspeed", t0 + timedelta(minutes=minutes), max_speed_kmh=80, limit_kmh=50)
    event(town, "overspeed", t0 + timedelta(minutes=30), max_speed_kmh=70, limit_kmh=50)  # news
    result = notify_device_events(device_id=town["device"].pk, now=now)

    assert (result.delivered, result.suppressed) == (2, 4)
    notes = list(Notification.objects.filter(recipient=town["manager"]).order_by("event_time"))
    assert [n.event_time for n in notes] == [t0, t0 + timedelta(minutes=30)]
    assert [n.suppressed_count for n in notes] == [4, 0]
    assert len(mail.outbox) == 1
    # Run again: everything is known, nothing changes.
    again = notify_device_events(device_id=town["device"].pk, now=now)
    assert (again.delivered, again.suppressed) == (0, 0)
    assert Notification.objects.count() == 2
    assert len(mail.outbox) == 1
    # A later event of the same storm, processed in a later run, still counts on the first.
    event(town, "overspeed", t0 + timedelta(minutes=14), max_speed_kmh=90, limit_kmh=50)
    notify_device_events(device_id=town["device"].pk, now=now)
    assert Notification.objects.get(event_time=t0).suppressed_count == 5


def test_departments_roles_channels_and_enabled_flag(town) -> None:
    now = timezone.now()
    elsewhere = DepartmentFactory(municipality=town["municipality"])
    make_rule(town, name="Other department", departments=[elsewhere])
    make_rule(town, name="Disabled", roles=[Role.DISPATCHER], enabled=False)
    make_rule(town, name="In the app only", roles=[Role.DISPATCHER], email=False)
    event(town, "ignition_on", now - timedelta(minutes=3))
    notify_device_events(device_id=town["device"].pk, now=now)
    assert list(Notification.objects.values_list("recipient", flat=True)) == [town["dispatcher"].pk]
    assert mail.outbox == []  # the only rule that matched does not e-mail


def test_two_rules_for_the_same_user_give_one_notification_and_one_email(town) -> None:
    now = timezone.now()
    make_rule(town, name="Own department", departments=[town["department"]])
    make_rule(town, name="Everything", event_types=["ignition_on", "idling"])
    event(town, "ignition_on", now - timedelta(minutes=3))
    notify_device_events(device_id=town["device"].pk, now=now)
    assert Notification.objects.filter(recipient=town["manager"]).count() == 1
    assert NotificationDispatch.objects.count() == 2
    assert len(mail.outbox) == 1
    assert mail.outbox[0].body.count("Ignition on") == 1


def test_no_rules_no_device_no_events(town) -> None:
    event(town, "ignition_on", timezone.now())
    assert notify_device_events(device_id=town["device"].pk).delivered == 0
    assert notify_device_events(device_id=987654).delivered == 0
    assert Notification.objects.count() == 0


def test_events_from_before_a_device_changed_municipality_reach_nobody_there(town) -> None:
    """A tracker handed to another municipality: its recent events of the old one are not news
    for the new one's users (they name the old municipality's vehicle and places)."""
    event(town, "ignition_on", timezone.now() - timedelta(minutes=5))
    other = MunicipalityFactory()
    UserFactory(municipality=other, role=Role.MANAGER, email="other@example.gr")
    NotificationRule.objects.create(
        municipality=other, name="Ignition", event_types=["ignition_on"], roles=[Role.MANAGER]
    )
    Device.objects.filter(pk=town["device"].pk).update(municipality=other)

    result = notify_device_events(device_id=town["device"].pk)

    assert result.delivered == 0
    assert Notification.objects.count() == 0
    assert len(mail.outbox) == 0


# ------------------------------------------------------------------------------------------------
# pages and API: a user's own notifications only


@pytest.fixture
def notes(town):
    """Two notifications for the manager (one a storm of 4), one for the dispatcher."""
    make_rule(town, event_types=["overspeed"], roles=[Role.MANAGER, Role.DISPATCHER])
    now = timezone.now()
    t0 = now - timedelta(minutes=40)
    for minutes in (0, 1, 2, 3, 4):
        event(town, "overspeed", t0 + timedelta(minutes=minutes), max_speed_kmh=81, limit_kmh=50)
    event(town, "overspeed", t0 + timedelta(minutes=30), max_speed_kmh=66, limit_kmh=50)
    notify_device_events(device_id=town["device"].pk, now=now)
    Notification.objects.filter(recipient=town["dispatcher"]).exclude(event_time=t0).delete()
    mine = list(Notification.objects.filter(recipient=town["manager"]).order_by("event_time"))
    theirs = Notification.objects.get(recipient=town["dispatcher"])
    return mine, theirs


def test_page_lists_own_notifications_with_the_storm_count_and_the_bell(
    town, notes, web_client_for
) -> None:
    mine, _theirs = notes
    client = web_client_for(town["manager"])
    page = client.get("/notifications/")
    assert page.status_code == 200
    assert [n.pk for n in page.context["notifications"]] == [mine[1].pk, mine[0].pk]
    html = page.content.decode()
    assert "and 4 more like it" in html
    assert "81 km/h, limit 50 km/h" in html
    assert page.context["notifications_unread"]() == 2
    assert '<span class="count"' in html and ">2</span>" in html


def test_the_bell_counts_only_what_the_list_shows(town, notes, web_client_for) -> None:
    """A user moved to another municipality no longer sees the old one's notifications, and the
    bell does not count them either."""
    manager = town["manager"]
    manager.municipality = MunicipalityFactory()
    manager.save(update_fields=["municipality"])
    page = web_client_for(manager).get("/notifications/")
    assert list(page.context["notifications"]) == []
    assert page.context["unread"] == 0
    assert page.context["notifications_unread"]() == 0


def test_mark_one_and_all_read_only_touches_own(town, notes, web_client_for) -> None:
    mine, theirs = notes
    client = web_client_for(town["manager"])
    response = client.post(f"/notifications/{mine[0].pk}/read/", {"next": "/notifications/"})
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    mine[0].refresh_from_db()
    assert mine[0].read_at is not None
    # Another user's notification does not exist for this user.
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    assert client.get(f"/notifications/{theirs.pk}/read/").status_code == 404
    # An outside "next" is not followed.
    response = client.post("/notifications/read-all/", {"next": "https://evil.example/"})
    assert response["Location"] == "/notifications/"
    assert not Notification.objects.filter(recipient=town["manager"], read_at=None).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert client.get("/notifications/?unread=1").context["notifications"] == []


def test_api_lists_reads_and_marks_own_notifications(town, notes, api_client_for) -> None:
    mine, theirs = notes
    api = api_client_for(town["manager"])
    body = api.get("/api/v1/notifications/").json()
    rows = body["results"] if isinstance(body, dict) else body
    assert [r["id"] for r in rows] == [mine[1].pk, mine[0].pk]
    assert rows[1]["suppressed_count"] == 4
    assert rows[1]["vehicle_label"] == str(town["vehicle"])
    assert api.get(f"/api/v1/notifications/{theirs.pk}/").status_code == 404
    assert api.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    assert api.get("/api/v1/notifications/unread-count/").json() == {"unread": 2}
    read = api.post(f"/api/v1/notifications/{mine[0].pk}/read/")
    assert read.status_code == 200 and read.json()["read_at"] is not None
    body = api.get("/api/v1/notifications/?unread=1").json()
    rows = body["results"] if isinstance(body, dict) else body
    assert [r["id"] for r in rows] == [mine[1].pk]
    assert api.post("/api/v1/notifications/read-all/").json() == {"marked": 1}
    assert api.get("/api/v1/notifications/unread-count/").json() == {"unread": 0}
    assert api.delete(f"/api/v1/notifications/{mine[0].pk}/").status_code == 405
    assert Notification.objects.filter(pk=mine[0].pk).exists()


def test_every_role_has_its_notifications_page(municipality_a, users_a, web_client_for) -> None:
    for role, user in users_a.items():
        assert web_client_for(user).get("/notifications/").status_code == 200, role


def test_administrator_manages_the_rules_of_the_municipality(town, users_a, web_client_for):
    municipality_a = users_a[Role.ADMIN].municipality
    department = DepartmentFactory(municipality=municipality_a)
    foreign = town["department"]  # another municipality's
    admin = web_client_for(users_a[Role.ADMIN])
    form = {
        "name": "Overspeed of the cleaning trucks",
        "event_types": ["overspeed", "idling"],
        "departments": [department.pk],
        "roles": [Role.MANAGER, Role.DISPATCHER],
        "in_app": "on",
        "email": "on",
        "suppress_minutes": "20",
        "enabled": "on",
    }
    assert admin.post("/notifications/rules/new/", form).status_code == 302
    rule = NotificationRule.objects.get(name="Overspeed of the cleaning trucks")
    assert rule.municipality == municipality_a
    assert rule.event_types == ["overspeed", "idling"]
    assert list(rule.departments.all()) == [department]
    listing = admin.get("/notifications/rules/").content.decode()
    assert "Overspeed of the cleaning trucks" in listing and "Fleet manager" in listing
    # Another municipality's department, no channel: refused, nothing changes.
    bad = form | {"departments": [foreign.pk], "in_app": "", "email": ""}
    bad.pop("in_app"), bad.pop("email")
    response = admin.post(f"/notifications/rules/{rule.pk}/edit/", bad)
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"departments", "__all__"}
    rule.refresh_from_db()
    assert list(rule.departments.all()) == [department] and rule.email is True
    # Another municipality's rule is a 404; a manager may not manage rules.
    other_rule = make_rule(town)
    assert admin.get(f"/notifications/rules/{other_rule.pk}/edit/").status_code == 404
    manager = web_client_for(users_a[Role.MANAGER])
    assert manager.get("/notifications/rules/").status_code == 403
    assert manager.post("/notifications/rules/new/", form).status_code == 403


def test_a_storm_window_beyond_a_week_is_refused_and_never_breaks_the_notifier(
    town, users_a, web_client_for
) -> None:
    admin = web_client_for(users_a[Role.ADMIN])
    form = {
        "name": "Idling",
        "event_types": ["idling"],
        "roles": [Role.MANAGER],
        "in_app": "on",
        "suppress_minutes": "2000000000",
        "enabled": "on",
    }
    response = admin.post("/notifications/rules/new/", form)
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"suppress_minutes"}
    assert not NotificationRule.objects.filter(name="Idling").exists()
    # A rule stored with such a window some other way (the Django admin, the shell) still lets
    # the notifier run: the window counts as a week.
    make_rule(town, suppress_minutes=2_000_000_000)
    now = timezone.now()
    event(town, "ignition_on", now - timedelta(minutes=20))
    event(town, "ignition_on", now - timedelta(minutes=10))
    result = notify_device_events(device_id=town["device"].pk, now=now)
    assert (result.delivered, result.suppressed) == (1, 1)


def test_rules_and_notifications_in_the_django_admin(town, notes, client) -> None:
    superuser = UserFactory(
        municipality=None, is_superuser=True, is_staff=True, role=Role.ADMIN, username="root"
    )
    client.force_login(superuser)
    assert client.get("/admin/notifications/notificationrule/").status_code == 200
    assert client.get("/admin/notifications/notificationrule/add/").status_code == 200
    listing = client.get("/admin/notifications/notification/")
    assert listing.status_code == 200
    assert str(town["vehicle"]) in listing.content.decode()


def test_the_django_admin_lists_notifications_in_a_fixed_number_of_queries(town, client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    superuser = UserFactory(
        municipality=None, is_superuser=True, is_staff=True, role=Role.ADMIN, username="root"
    )
    client.force_login(superuser)
    make_rule(town, event_types=["overspeed"], suppress_minutes=0)

    def queries_listing(vehicles: int) -> int:
        now = timezone.now()
        for i in range(vehicles):
            vehicle = VehicleFactory(municipality=town["municipality"])
            note = event(town, "overspeed", now - timedelta(minutes=i + 1))
            MotionEvent.objects.filter(pk=note.pk).update(vehicle=vehicle)
        notify_device_events(device_id=town["device"].pk, now=now)
        with CaptureQueriesContext(connection) as queries:
            listing = client.get("/admin/notifications/notification/")
        assert listing.status_code == 200
        assert Notification.objects.count() == vehicles
        return len(queries.captured_queries)

    few = queries_listing(1)
    Notification.objects.all().delete()
    NotificationDispatch.objects.all().delete()
    MotionEvent.objects.all().delete()
    assert queries_listing(5) == few


def test_summary_figures_are_whole_numbers_as_people_read_them() -> None:
    # Limits come from a float field and the fuel drop from a difference of readings: a line
    # of text reads "limit 50 km/h" and "12% of the tank", not "50.0" or "12.35".
    from django.utils import translation

    from notifications.selectors import event_summary

    with translation.override("en"):
        overspeed = event_summary("overspeed", {"max_speed_kmh": 84.6, "limit_kmh": 50.0})
        fuel = event_summary("fuel_drop", {"before": 60.0, "after": 47.65, "drop": 12.35})
    assert overspeed.endswith("(85 km/h, limit 50 km/h)")
    assert fuel.endswith("(12% of the tank)")
