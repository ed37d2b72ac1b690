"""``kinisi-agent`` as a process: real gpsd on a pseudo-terminal, a real HTTP server that the
test cuts off and brings back, SIGKILL and restart of the agent.

The test paces the NMEA feed on the agent's own log: it writes one reporting cycle and waits for
``agent.fix_queued time=…`` before writing the next, because gpsd answers a poll with its latest
fix only (a fix that gpsd replaced before the agent polled was never the agent's to send).
"""

import signal
from datetime import timedelta

import pytest

from telematics.agent.fix import format_time

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FAST = [
    "--interval",
    "0.05",
    "--backoff-base",
    "0.05",
    "--backoff-max",
    "0.3",
    "--http-timeout",
    "2",
    "--gpsd-timeout",
    "3",
    "--log-level",
    "debug",
]


def agent_args(server, gpsd_feed, queue_path, *extra):
    return [
        "--server",
        server.url,
        "--device-id",
        "KIN-0042",
        "--queue",
        str(queue_path),
        "--gpsd-port",
        str(gpsd_feed.port),
        *FAST,
        *extra,
    ]


def feed_and_wait_queued(agent, gpsd_feed, when):
    gpsd_feed.send_fix(when)
    agent.wait_for_log(rf"agent\.fix_queued time={format_time(when)}")


def test_network_cut_and_agent_kill_lose_nothing_and_duplicate_nothing(
    tmp_path, gpsd_feed, recording_server, start_agent, base_time, wait
):
    t0, epoch0 = base_time
    queue_path = tmp_path / "agent" / "queue.sqlite3"
    at = [t0 + timedelta(seconds=s) for s in range(15)]

    first = start_agent(*agent_args(recording_server, gpsd_feed, queue_path))
    first.wait_for_log(r"agent\.started ")
    for when in at[:5]:
        feed_and_wait_queued(first, gpsd_feed, when)
    wait(lambda: len(recording_server.requests) == 5, what="the first five delivered")

    recording_server.stop()  # the network goes away
    for when in at[5:10]:
        feed_and_wait_queued(first, gpsd_feed, when)
    first.wait_for_log(r"agent\.server_unreachable retry_in=")
    first.kill()  # SIGKILL with five fixes queued and unsent

    second = start_agent(*agent_args(recording_server, gpsd_feed, queue_path))
    second.wait_for_log(r"agent\.started .* queued=5 ")
    for when in at[10:]:
        feed_and_wait_queued(second, gpsd_feed, when)

    recording_server.start()  # the network is back
    wait(lambda: len(recording_server.requests) >= 15, what="all fifteen delivered")
    second.wait_for_log(r"agent\.sent n=\d+ queued=0")

    assert recording_server.timestamps() == [epoch0 + s for s in range(15)]
    forms = recording_server.forms()
    assert {form["id"] for form in forms} == {"KIN-0042"}
    assert all(form["lat"] == "35.5125" and form["lon"] == "24.025" for form in forms)
    # gpsd still held the 10th fix when the second agent started; it was not queued again.
    assert len(second.log()) and not any(
        f"agent.fix_queued time={format_time(at[9])}" in line for line in second.log()
    )

    second.signal(signal.SIGTERM)
    assert second.wait() == 0
    assert any("agent.stopped queued=0" in line for line in second.log())


def test_nothing_is_queued_while_gpsd_has_no_fix(
    tmp_path, gpsd_feed, recording_server, start_agent, nmea_builder, base_time, wait
):
    t0, epoch0 = base_time
    agent = start_agent(*agent_args(recording_server, gpsd_feed, tmp_path / "q.sqlite3"))
    feed_and_wait_queued(agent, gpsd_feed, t0)
    for second in range(1, 6):
        when = t0 + timedelta(seconds=second)
        gpsd_feed.send(nmea_builder.rmc(when, valid=False), nmea_builder.gga(when, quality=0))
    agent.wait_for_log(r"agent\.no_fix mode=1 reason=no_fix")
    feed_and_wait_queued(agent, gpsd_feed, t0 + timedelta(seconds=6))
    wait(lambda: len(recording_server.requests) == 2, what="two fixes delivered")
    assert recording_server.timestamps() == [epoch0, epoch0 + 6]
    agent.signal(signal.SIGINT)
    assert agent.wait() == 0


def test_agent_configured_from_the_environment_sends_batches_with_its_token(
    tmp_path, gpsd_feed, recording_server, start_agent, base_time, wait
):
    t0, _ = base_time
    env = {
        "KINISI_AGENT_SERVER": recording_server.url,
        "KINISI_AGENT_DEVICE_ID": "KIN-0042",
        "KINISI_AGENT_TOKEN": "tok-123",
        "KINISI_AGENT_MODE": "batch",
        "KINISI_AGENT_QUEUE": str(tmp_path / "q.sqlite3"),
        "KINISI_AGENT_GPSD_PORT": str(gpsd_feed.port),
        "KINISI_AGENT_INTERVAL": "0.05",
        "KINISI_AGENT_BACKOFF_BASE": "0.05",
        "KINISI_AGENT_BACKOFF_MAX": "0.3",
        "KINISI_AGENT_LOG_LEVEL": "debug",
    }
    agent = start_agent(env=env)
    recording_server.stop()
    for second in range(4):
        feed_and_wait_queued(agent, gpsd_feed, t0 + timedelta(seconds=second))
    recording_server.start()
    wait(lambda: sum(len(b["positions"]) for b in recording_server.json_bodies()) == 4)
    bodies = recording_server.json_bodies()
    times = [p["time"] for body in bodies for p in body["positions"]]
    assert times == [f"2024-05-01T12:00:0{s}.000Z" for s in range(4)]
    assert all(body["device_id"] == "KIN-0042" for body in bodies)
    assert {headers["Authorization"] for _p, headers, _b in recording_server.requests} == {
        "Bearer tok-123"
    }
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0


def test_agent_without_gpsd_keeps_trying_and_stops_cleanly(tmp_path, start_agent, wait):
    agent = start_agent(
        "--server",
        "http://127.0.0.1:9",
        "--device-id",
        "KIN-1",
        "--queue",
        str(tmp_path / "q.sqlite3"),
        "--gpsd-port",
        "9",
        *FAST,
    )
    agent.wait_for_log(r"agent\.gpsd_unreachable host=127\.0\.0\.1 port=9 retry_in=")
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0
    assert any("agent.stopped queued=0" in line for line in agent.log())


def test_a_second_agent_on_the_same_queue_refuses_to_start(tmp_path, start_agent):
    args = [
        "--server",
        "http://127.0.0.1:9",
        "--device-id",
        "KIN-1",
        "--queue",
        str(tmp_path / "q.sqlite3"),
        "--gpsd-port",
        "9",
        *FAST,
    ]
    first = start_agent(*args)
    first.wait_for_log(r"agent\.started ")
    second = start_agent(*args)
    assert second.wait() == 1
    assert any("agent.already_running" in line for line in second.log())
    assert first.process.poll() is None  # the first one carries on
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    # Once the first has stopped, the queue is free again.
    third = start_agent(*args)
    third.wait_for_log(r"agent\.started ")
    third.signal(signal.SIGTERM)
    assert third.wait() == 0


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "server URL is required"),
        (["--server", "http://x:5055"], "device id is required"),
        (["--server", "x:5055", "--device-id", "a"], "server URL must be"),
        (["--server", "http://x", "--device-id", "a", "--interval", "0"], "must be positive"),
        (["--server", "http://x", "--device-id", "a", "--mode", "batch"], "needs the device token"),
        (
            ["--server", "http://x", "--device-id", "a", "--token", "t", "--batch-size", "1001"],
            "batch size must be 1 to 1000",
        ),
    ],
)
def test_bad_configuration_exits_with_a_clear_message(tmp_path, start_agent, args, message):
    agent = start_agent(*args, "--queue", str(tmp_path / "q.sqlite3"))
    assert agent.wait() == 2
    assert any(message in line for line in agent.log())
