"""The sender without gpsd: encodings checked by hand, delivery checked against a real HTTP
server on 127.0.0.1 that can be cut off."""

import json
import logging
import random
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from telematics.agent.fix import AgentFix
from telematics.agent.fix_queue import FixQueue, QueuedFix
from telematics.agent.runner import FixSender
from telematics.agent.sender import (
    Backoff,
    HttpTransport,
    ServerUnreachable,
    encode_batch,
    encode_osmand,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
EPOCH_T0 = 1_714_564_800  # by hand, see conftest.BASE_EPOCH


def fix(second: int, **kwargs) -> AgentFix:
    values = {"lat": 35.5125, "lon": 24.025, "mode": 3} | kwargs
    return AgentFix(time=T0 + timedelta(seconds=second), **values)


def form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode(), strict_parsing=True).items()}


# --- encodings -------------------------------------------------------------------------------


def test_osmand_form_carries_every_reported_value_in_protocol_units():
    request = encode_osmand(
        "KIN-7",
        fix(
            5,
            speed_mps=5.0,
            course=45.0,
            altitude=12.5,
            accuracy=17.1,
            hdop=0.9,
            satellites=8,
            battery=87.0,
        ),
    )
    assert request.content_type == "application/x-www-form-urlencoded"
    assert form(request.body) == {
        "id": "KIN-7",
        "timestamp": str(EPOCH_T0 + 5),
        "lat": "35.5125",
        "lon": "24.025",
        # 5 m/s = 18 km/h = 18 / 1.852 kn = 9.71922... kn
        "speed": "9.719",
        "bearing": "45",
        "altitude": "12.5",
        "accuracy": "17.1",
        "hdop": "0.9",
        "sat": "8",
        "batt": "87",
    }


def test_osmand_form_leaves_out_what_gpsd_did_not_report_but_keeps_real_zeros():
    fields = form(encode_osmand("KIN-7", fix(0, speed_mps=0.0, course=0.0)).body)
    assert fields["speed"] == "0" and fields["bearing"] == "0"
    assert not {"altitude", "accuracy", "hdop", "sat", "batt"} & fields.keys()


def test_osmand_coordinates_are_plain_decimals_in_every_hemisphere():
    fields = form(encode_osmand("X", fix(0, lat=-0.00001, lon=-179.1234567)).body)
    assert fields["lat"] == "-0.00001"  # repr() would give -1e-05
    assert fields["lon"] == "-179.1234567"


def test_batch_body_has_the_documented_shape():
    items = [
        QueuedFix(17, fix(5, speed_mps=5.0, course=45.0, altitude=12.5, satellites=8)),
        QueuedFix(18, fix(6, mode=2)),
    ]
    request = encode_batch("KIN-7", items, "/agent/batch")
    assert request.content_type == "application/json"
    assert request.path == "/agent/batch"
    assert json.loads(request.body) == {
        "device_id": "KIN-7",
        "positions": [
            {
                "seq": 17,
                "time": "2024-05-01T12:00:05.000Z",
                "lat": 35.5125,
                "lon": 24.025,
                "speed_kmh": 18.0,
                "course": 45.0,
                "altitude": 12.5,
                "accuracy": None,
                "hdop": None,
                "satellites": 8,
                "mode": 3,
                "battery": None,
            },
            {
                "seq": 18,
                "time": "2024-05-01T12:00:06.000Z",
                "lat": 35.5125,
                "lon": 24.025,
                "speed_kmh": None,
                "course": None,
                "altitude": None,
                "accuracy": None,
                "hdop": None,
                "satellites": None,
                "mode": 2,
                "battery": None,
            },
        ],
    }


# --- backoff ---------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_and_jitters_within_the_upper_half():
    backoff = Backoff(0.5, 10.0, rng=random.Random(7))
    assert [backoff.ceiling(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    for attempt in range(1, 12):
        ceiling = backoff.ceiling(attempt)
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, not one fixed value


def test_backoff_survives_days_of_failures():
    assert Backoff(1.0, 300.0).ceiling(10_000) == 300.0


@pytest.mark.parametrize("base, maximum", [(0, 1), (-1, 5), (5, 1)])
def test_backoff_rejects_nonsense(base, maximum):
    with pytest.raises(ValueError):
        Backoff(base, maximum)


# --- transport -------------------------------------------------------------------------------


def test_transport_reports_a_refused_connection_as_unreachable(recording_server):
    recording_server.stop()
    transport = HttpTransport(recording_server.url, timeout=2)
    with pytest.raises(ServerUnreachable):
        transport.post(encode_osmand("X", fix(0)))


def test_transport_recovers_when_the_server_closed_the_kept_alive_connection(recording_server):
    transport = HttpTransport(recording_server.url, timeout=2)
    assert transport.post(encode_osmand("X", fix(0))) == 200
    recording_server.stop()  # resets the open connection
    recording_server.start()
    assert transport.post(encode_osmand("X", fix(1))) == 200
    assert recording_server.timestamps() == [EPOCH_T0, EPOCH_T0 + 1]


def test_transport_rejects_a_malformed_server_url():
    with pytest.raises(ValueError):
        HttpTransport("kinisi.example.gr:5055")


# --- the sender loop -------------------------------------------------------------------------


class RunningSender:
    def __init__(self, queue_path, server_url, **kwargs):
        self.stop = threading.Event()
        self.wake = threading.Event()
        options = {
            "transport": HttpTransport(server_url, token=kwargs.pop("token", None), timeout=1.0),
            "queue_path": queue_path,
            "queue_max": 1000,
            "device_id": "KIN-7",
            "stop": self.stop,
            "wake": self.wake,
            "backoff": Backoff(0.02, 0.2),
            "idle_wait": 0.05,
        } | kwargs
        self.sender = FixSender(**options)
        self.thread = threading.Thread(target=self.sender.run)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.wake.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def test_sender_delivers_queued_fixes_in_order_exactly_once(tmp_path, recording_server, wait):
    path = tmp_path / "q.sqlite3"
    with FixQueue(path) as queue:
        for second in range(10):
            queue.put(fix(second))
        with RunningSender(path, recording_server.url):
            wait(lambda: queue.count() == 0, what="queue drained")
    assert recording_server.timestamps() == [EPOCH_T0 + s for s in range(10)]


def test_network_cut_loses_nothing_and_sends_nothing_twice(
    tmp_path, recording_server, wait, caplog
):
    caplog.set_level(logging.INFO, logger="telematics.agent")
    path = tmp_path / "q.sqlite3"
    with FixQueue(path) as queue, RunningSender(path, recording_server.url) as running:
        for second in range(5):
            queue.put(fix(second))
            running.wake.set()
        wait(lambda: len(recording_server.requests) == 5, what="first five")
        recording_server.stop()
        for second in range(5, 25):
            queue.put(fix(second))
            running.wake.set()
        # While the network is down every fix stays queued, however often the sender tries.
        wait(lambda: unreachable_logged(caplog) >= 3, what="three failed attempts")
        assert queue.count() == 20
        recording_server.start()
        wait(lambda: queue.count() == 0, what="queue drained")
    assert recording_server.timestamps() == [EPOCH_T0 + s for s in range(25)]


def unreachable_logged(caplog) -> int:
    return sum("agent.server_unreachable" in r.getMessage() for r in list(caplog.records))


@pytest.mark.parametrize("status", [400, 401, 500, 503, 204])
def test_a_fix_is_deleted_only_after_http_200(tmp_path, recording_server, status, wait):
    path = tmp_path / "q.sqlite3"
    recording_server.status = status
    with FixQueue(path) as queue, RunningSender(path, recording_server.url):
        queue.put(fix(0))
        queue.put(fix(1))
        # Retried (the server saw attempts) but still queued.
        wait(lambda: recording_server.attempts >= 3, what="retries")
        assert queue.count() == 2
        recording_server.status = 200
        wait(lambda: queue.count() == 0, what="queue drained")
    assert recording_server.timestamps() == [EPOCH_T0, EPOCH_T0 + 1]


def test_a_request_the_network_swallows_times_out_and_is_retried(tmp_path, recording_server, wait):
    path = tmp_path / "q.sqlite3"
    recording_server.stall = 1.5  # longer than the sender's 1 s timeout
    with FixQueue(path) as queue, RunningSender(path, recording_server.url):
        queue.put(fix(0))
        # Two swallowed attempts: the first timed out and was retried.
        wait(lambda: recording_server.attempts >= 2, what="a retry after a timeout")
        assert queue.count() == 1 and recording_server.requests == []
        recording_server.stall = 0.0
        wait(lambda: queue.count() == 0, what="queue drained")
    assert recording_server.timestamps() == [EPOCH_T0]


def test_batch_mode_sends_ordered_batches_with_the_token(tmp_path, recording_server, wait):
    path = tmp_path / "q.sqlite3"
    with FixQueue(path) as queue:
        for second in range(7):
            queue.put(fix(second))
        with RunningSender(
            path,
            recording_server.url,
            token="s3cret",
            mode="batch",
            batch_size=3,
            batch_path="/agent/batch",
        ):
            wait(lambda: queue.count() == 0, what="queue drained")
    bodies = recording_server.json_bodies()
    assert [len(body["positions"]) for body in bodies] == [3, 3, 1]
    times = [p["time"] for body in bodies for p in body["positions"]]
    assert times == [f"2024-05-01T12:00:0{s}.000Z" for s in range(7)]
    seqs = [p["seq"] for body in bodies for p in body["positions"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 7
    for path_, headers, _body in recording_server.requests:
        assert path_ == "/agent/batch"
        assert headers["Authorization"] == "Bearer s3cret"
        assert headers["Content-Type"] == "application/json"


def test_a_refused_token_is_logged_with_a_hint_for_the_operator(
    tmp_path, recording_server, wait, caplog
):
    caplog.set_level(logging.INFO, logger="telematics.agent")
    path = tmp_path / "q.sqlite3"
    recording_server.status = 401
    with FixQueue(path) as queue, RunningSender(path, recording_server.url, token="wrong"):
        queue.put(fix(0))

        def hinted() -> bool:
            return any(
                "agent.server_rejected status=401 hint=check_device_token" in r.getMessage()
                for r in list(caplog.records)
            )

        wait(hinted, what="a rejection with its hint")
        assert queue.count() == 1
