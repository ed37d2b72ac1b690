"""The board's WebSocket: a snapshot on connect, then positions and dispatch changes as they are
written to the database by any process (here: written directly, as the gateway would)."""

import asyncio
import os
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from dispatch import services
from dispatch.consumers import BoardConsumer, BoardHub
from fleet.choices import Role
from telematics.models import VehicleLiveState
from tests.dispatch.conftest import JOB_PLACE
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)

# A bound on waiting, so a broken feed fails instead of hanging; not a measure of speed.
WAIT = 10


def run(coro):
    return async_to_sync(coro)()


async def connect(user):
    communicator = WebsocketCommunicator(BoardConsumer.as_asgi(), "/ws/dispatch/board/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect(timeout=WAIT)
    return communicator, connected, code


async def next_of(communicator, kind):
    while True:
        message = await communicator.receive_json_from(timeout=WAIT)
        if message["type"] == kind:
            return message


def write_live(vehicle, lat, lon, moving=True):
    now = timezone.now()
    VehicleLiveState.objects.update_or_create(
        vehicle=vehicle,
        defaults={
            "municipality_id": vehicle.municipality_id,
            "latitude": lat,
            "longitude": lon,
            "moving": moving,
            "speed_kmh": 30.0 if moving else 0.0,
            "fix_time": now,
            "last_seen": now,
            "updated_at": now,
        },
    )


def test_roles_without_dispatch_view_are_refused(users_a):
    async def scenario():
        communicator, connected, code = await connect(users_a[Role.DRIVER])
        assert not connected
        assert code == 4403
        await communicator.disconnect()

    run(scenario)


def test_snapshot_then_live_positions(municipality_a, municipality_b, users_a, crewed):
    vehicle = crewed(municipality_a)
    other = crewed(municipality_b)
    write_live(vehicle, 35.512, 24.02)

    async def scenario():
        communicator, connected, _ = await connect(users_a[Role.DISPATCHER])
        assert connected
        snapshot = await communicator.receive_json_from(timeout=WAIT)
        assert snapshot["type"] == "snapshot"
        assert [v["id"] for v in snapshot["vehicles"]] == [vehicle.pk]
        assert snapshot["vehicles"][0]["live"]["lat"] == 35.512
        # Another municipality's vehicle moves: nothing for this board. Then ours moves.
        await database_sync_to_async(write_live)(other, 35.6, 24.1)
        await database_sync_to_async(write_live)(vehicle, 35.5131, 24.0215)
        message = await next_of(communicator, "positions")
        assert [p["id"] for p in message["vehicles"]] == [vehicle.pk]
        assert (message["vehicles"][0]["lat"], message["vehicles"][0]["lon"]) == (35.5131, 24.0215)
        assert message["vehicles"][0]["moving"] is True
        await communicator.disconnect()

    run(scenario)


def test_assignment_reaches_the_board_with_the_new_queue(municipality_a, users_a, crewed):
    municipality_a.osm_file = ""  # straight-line times keep this test about the feed
    municipality_a.save()
    vehicle = crewed(municipality_a)
    job = JobFactory(municipality=municipality_a, latitude=JOB_PLACE[0], longitude=JOB_PLACE[1])

    async def scenario():
        communicator, connected, _ = await connect(users_a[Role.AUDITOR])
        assert connected
        snapshot = await next_of(communicator, "snapshot")
        assert [j["status"] for j in snapshot["jobs"]] == ["new"]
        await database_sync_to_async(services.job_assign)(
            job=job, vehicle=vehicle, actor=users_a[Role.DISPATCHER]
        )
        # The board applies deltas as they come: a poll that ran while the assignment was
        # committing can carry the vehicle's new queue, and the job follows in the next one.
        jobs, vehicles = {}, {}
        while job.pk not in jobs or vehicle.pk not in vehicles:
            message = await next_of(communicator, "dispatch")
            jobs.update({j["id"]: j for j in message["jobs"]})
            vehicles.update({v["id"]: v for v in message["vehicles"]})
        assert jobs[job.pk]["status"] == "assigned"
        assert vehicles[vehicle.pk]["queue"] == [job.pk]
        assert vehicles[vehicle.pk]["queue_version"] == 1
        assert vehicles[vehicle.pk]["state"] == "busy"
        await communicator.disconnect()

    run(scenario)


def test_change_made_outside_the_web_process_is_followed(municipality_a, users_a, crewed):
    """An arrival detected by a worker writes only to the database; the board still hears it."""
    municipality_a.osm_file = ""
    municipality_a.save()
    vehicle = crewed(municipality_a)
    job = JobFactory(municipality=municipality_a, latitude=JOB_PLACE[0], longitude=JOB_PLACE[1])
    services.job_assign(job=job, vehicle=vehicle)

    def arrive():
        write_live(vehicle, JOB_PLACE[0], JOB_PLACE[1], moving=False)
        # Written by "another process": no notification, only the table changes.
        from dispatch.models import DispatchSettings, Job

        DispatchSettings.objects.update_or_create(
            municipality=municipality_a, defaults={"arrival_dwell_s": 0}
        )
        Job.objects.filter(pk=job.pk).update(
            status="on_site",
            arrived_at=timezone.now() - timedelta(seconds=1),
            updated_at=timezone.now(),
        )

    async def scenario():
        communicator, connected, _ = await connect(users_a[Role.DISPATCHER])
        assert connected
        await next_of(communicator, "snapshot")
        await asyncio.sleep(0.3)  # let the hub take its first look
        await database_sync_to_async(arrive)()
        while True:
            message = await next_of(communicator, "dispatch")
            statuses = {j["id"]: j["status"] for j in message["jobs"]}
            if statuses.get(job.pk) == "on_site":
                break
        await communicator.disconnect()

    run(scenario)


def test_ping_answers_and_resync_sends_a_snapshot(users_a):
    async def scenario():
        communicator, connected, _ = await connect(users_a[Role.ADMIN])
        assert connected
        await next_of(communicator, "snapshot")
        await communicator.send_json_to({"type": "ping", "t": 42})
        assert (await next_of(communicator, "pong"))["t"] == 42
        await communicator.send_json_to({"type": "resync"})
        assert (await next_of(communicator, "snapshot"))["vehicles"] == []
        await communicator.disconnect()

    run(scenario)


def test_hub_stops_when_the_last_board_closes(users_a):
    async def scenario():
        communicator, connected, _ = await connect(users_a[Role.ADMIN])
        await next_of(communicator, "snapshot")
        hub = BoardHub.get()
        assert users_a[Role.ADMIN].municipality_id in hub.follows
        await communicator.disconnect()
        await asyncio.wait_for(hub.task, WAIT)
        assert hub.follows == {}

    run(scenario)


def _redis_available() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_layer(settings):
    """The Redis channel layer (as with REDIS_URL set), on a prefix of its own."""
    from channels.layers import channel_layers

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if not os.environ.get("REDIS_URL") and not _redis_available():
        pytest.skip("needs Redis at 127.0.0.1:6379 (CI sets REDIS_URL)")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": f"kinisi-test-{os.getpid()}"},
        }
    }
    channel_layers.backends.clear()
    yield channel_layers
    channel_layers.backends.clear()


def test_with_redis_a_change_in_another_process_wakes_the_board_at_once(
    municipality_a, users_a, crewed, redis_layer, monkeypatch
):
    """Another process's commit publishes a nudge on the municipality's group; the board hears
    the change then, not at its next poll (the poll is made an hour long here)."""
    from channels.layers import get_channel_layer

    from dispatch import consumers

    monkeypatch.setattr(consumers, "POLL_INTERVAL_S", 3600.0)
    municipality_a.osm_file = ""
    municipality_a.save()
    job = JobFactory(municipality=municipality_a, latitude=JOB_PLACE[0], longitude=JOB_PLACE[1])

    def change_elsewhere():
        from dispatch.models import Job

        Job.objects.filter(pk=job.pk).update(title="Άλλαξε αλλού", updated_at=timezone.now())

    async def scenario():
        communicator, connected, _ = await connect(users_a[Role.DISPATCHER])
        assert connected
        await next_of(communicator, "snapshot")
        await asyncio.sleep(0.5)  # the hub's first look is done; the next is an hour away
        await database_sync_to_async(change_elsewhere)()
        layer = get_channel_layer()
        await layer.group_send(consumers.group_name(municipality_a.pk), {"type": "board.nudge"})
        message = await next_of(communicator, "dispatch")
        assert message["jobs"][0]["title"] == "Άλλαξε αλλού"
        await communicator.disconnect()

    run(scenario)
