"""No double booking: real concurrent HTTP requests against PostgreSQL.

Several dispatchers press "assign" at the same instant (a barrier releases their threads
together) against the live test server, which serves each request in its own thread with its
own database connection. The rules' check inside the locked section is slowed down on purpose,
so that without the row locks every request would read the same queue version and all of them
would win; with them exactly one does and the others get 409.
"""

import threading
import time

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from dispatch import selectors
from dispatch.choices import JobStatus
from dispatch.models import Job, JobEvent, VehicleQueue
from fleet.choices import Role
from tests.dispatch.conftest import JOB_PLACE
from tests.factories import JobFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to test "
        "(CI runs this with DATABASE_URL=postgres://...)",
    ),
]

RACERS = 6


@pytest.fixture
def slow_rules(monkeypatch):
    """Widen the window between reading the queue and writing the assignment."""
    original = selectors.job_suggestions

    def slowed(**kwargs):
        time.sleep(0.3)
        return original(**kwargs)

    monkeypatch.setattr(selectors, "job_suggestions", slowed)


def _race(live_server, requests_to_send):
    barrier = threading.Barrier(len(requests_to_send))
    results = [None] * len(requests_to_send)

    def fire(i, token, url, body):
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        barrier.wait()
        response = session.post(live_server.url + url, json=body, timeout=60)
        results[i] = (response.status_code, response.json())

    threads = [
        threading.Thread(target=fire, args=(i, *args)) for i, args in enumerate(requests_to_send)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return results


def _dispatchers(municipality, n):
    users = [
        UserFactory(municipality=municipality, role=Role.DISPATCHER, username=f"disp{i}")
        for i in range(n)
    ]
    return [Token.objects.create(user=u).key for u in users]


def test_dispatchers_racing_for_one_vehicle_exactly_one_wins(
    live_server, municipality_a, crewed, slow_rules
):
    municipality_a.osm_file = ""  # straight-line times: the race is about locking, not roads
    municipality_a.save()
    vehicle = crewed(municipality_a)
    # The queue row exists already (the vehicle was booked before), so nothing but the row lock
    # stands between the racers.
    VehicleQueue.objects.create(vehicle=vehicle, municipality=municipality_a, version=0)
    jobs = [
        JobFactory(municipality=municipality_a, latitude=JOB_PLACE[0], longitude=JOB_PLACE[1])
        for _ in range(RACERS)
    ]
    tokens = _dispatchers(municipality_a, RACERS)
    results = _race(
        live_server,
        [
            (
                token,
                f"/api/v1/jobs/{job.pk}/assign/",
                {"vehicle": vehicle.pk, "expected_version": 0},
            )
            for token, job in zip(tokens, jobs, strict=True)
        ],
    )
    statuses = sorted(code for code, _body in results)
    assert statuses == [200] + [409] * (RACERS - 1), results
    losers = [body for code, body in results if code == 409]
    assert all(b["code"] == "vehicle_booked" for b in losers)
    assert Job.objects.filter(vehicle=vehicle, status=JobStatus.ASSIGNED).count() == 1
    assert VehicleQueue.objects.get(vehicle=vehicle).version == 1
    assert JobEvent.objects.filter(action="assigned").count() == 1


def test_dispatchers_racing_for_one_job_exactly_one_wins(
    live_server, municipality_a, crewed, slow_rules
):
    municipality_a.osm_file = ""
    municipality_a.save()
    vehicles = [crewed(municipality_a) for _ in range(RACERS)]
    job = JobFactory(municipality=municipality_a, latitude=JOB_PLACE[0], longitude=JOB_PLACE[1])
    tokens = _dispatchers(municipality_a, RACERS)
    results = _race(
        live_server,
        [
            (token, f"/api/v1/jobs/{job.pk}/assign/", {"vehicle": v.pk})
            for token, v in zip(tokens, vehicles, strict=True)
        ],
    )
    statuses = sorted(code for code, _body in results)
    assert statuses == [200] + [409] * (RACERS - 1), results
    assert all(body["code"] == "job_taken" for code, body in results if code == 409)
    job.refresh_from_db()
    assert job.status == JobStatus.ASSIGNED
    assert JobEvent.objects.filter(job=job, action="assigned").count() == 1
    # Exactly one vehicle's queue moved.
    assert sorted(VehicleQueue.objects.values_list("version", flat=True)) == [1]


def test_racing_without_versions_never_overlaps_a_vehicles_bookings(
    live_server, municipality_a, crewed, slow_rules
):
    """API clients that send no version are queued one after the other, never on top."""
    municipality_a.osm_file = ""
    municipality_a.save()
    vehicle = crewed(municipality_a)
    jobs = [
        JobFactory(
            municipality=municipality_a,
            latitude=JOB_PLACE[0],
            longitude=JOB_PLACE[1],
            service_minutes=30,
        )
        for _ in range(4)
    ]
    tokens = _dispatchers(municipality_a, 4)
    results = _race(
        live_server,
        [
            (token, f"/api/v1/jobs/{job.pk}/assign/", {"vehicle": vehicle.pk})
            for token, job in zip(tokens, jobs, strict=True)
        ],
    )
    assert [code for code, _ in results] == [200] * 4
    queue = list(Job.objects.filter(vehicle=vehicle).order_by("queue_position"))
    assert [j.queue_position for j in queue] == [1, 2, 3, 4]
    for before, after in zip(queue, queue[1:], strict=False):
        # Each starts only after the previous one's 30 minutes on site.
        assert (after.planned_start - before.planned_start).total_seconds() >= 30 * 60
