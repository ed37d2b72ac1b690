import os
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telematics.agent.fix import AgentFix
from telematics.agent.fix_queue import FixQueue

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def fix(second: int, **kwargs) -> AgentFix:
    return AgentFix(time=T0 + timedelta(seconds=second), lat=35.5, lon=24.0, mode=3, **kwargs)


def seconds(items) -> list[int]:
    return [int((item.fix.time - T0).total_seconds()) for item in items]


def test_fixes_come_out_oldest_first_and_leave_only_when_acknowledged(tmp_path):
    with FixQueue(tmp_path / "q.sqlite3") as queue:
        for second in (1, 2, 3):
            assert queue.put(fix(second))
        first_two = queue.peek(2)
        assert seconds(first_two) == [1, 2]
        assert queue.count() == 3  # peeking removes nothing
        queue.ack([item.id for item in first_two])
        assert seconds(queue.peek(10)) == [3]


def test_queue_file_is_in_wal_mode(tmp_path):
    with FixQueue(tmp_path / "q.sqlite3") as queue:
        assert queue.journal_mode == "wal"


def test_the_same_fix_polled_twice_is_queued_once_even_across_restarts(tmp_path):
    path = tmp_path / "q.sqlite3"
    with FixQueue(path) as queue:
        assert queue.put(fix(1))
        assert not queue.put(fix(1))
        queue.ack([item.id for item in queue.peek(5)])
    # gpsd still answers with the same fix after the agent restarts; it was already sent.
    with FixQueue(path) as queue:
        assert not queue.put(fix(1))
        assert queue.count() == 0
        assert queue.put(fix(2))


def test_full_queue_drops_the_oldest_fixes_and_counts_them(tmp_path):
    path = tmp_path / "q.sqlite3"
    with FixQueue(path, max_rows=3) as queue:
        for second in range(1, 6):
            queue.put(fix(second))
        assert seconds(queue.peek(10)) == [3, 4, 5]
        assert queue.dropped_total == 2
    with FixQueue(path, max_rows=3) as queue:
        assert queue.dropped_total == 2


def test_ids_keep_growing_after_the_queue_was_emptied_and_reopened(tmp_path):
    path = tmp_path / "q.sqlite3"
    with FixQueue(path) as queue:
        queue.put(fix(1))
        queue.put(fix(2))
        last_id = queue.peek(2)[-1].id
        queue.ack([item.id for item in queue.peek(2)])
    with FixQueue(path) as queue:
        queue.put(fix(3))
        assert queue.peek(1)[0].id > last_id


def test_queued_fixes_survive_sigkill_of_the_writing_process(tmp_path):
    path = tmp_path / "q.sqlite3"
    code = f"""
import os, signal
from datetime import UTC, datetime, timedelta
from telematics.agent.fix import AgentFix
from telematics.agent.fix_queue import FixQueue
queue = FixQueue({str(path)!r})
t0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
for s in range(1, 4):
    queue.put(AgentFix(time=t0 + timedelta(seconds=s), lat=35.5, lon=24.0, mode=3, altitude=7.0))
os.kill(os.getpid(), signal.SIGKILL)
"""
    repo = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, check=False)
    assert result.returncode == -signal.SIGKILL
    with FixQueue(path) as queue:
        items = queue.peek(10)
    assert seconds(items) == [1, 2, 3]
    assert items[0].fix.altitude == 7.0


def test_a_writer_and_a_reader_thread_share_the_file(tmp_path):
    path = tmp_path / "q.sqlite3"
    FixQueue(path).close()
    received: list[int] = []
    done = threading.Event()

    def drain() -> None:
        with FixQueue(path) as queue:
            while not (done.is_set() and queue.count() == 0):
                items = queue.peek(7)
                received.extend(seconds(items))
                queue.ack([item.id for item in items])

    reader = threading.Thread(target=drain)
    reader.start()
    with FixQueue(path) as queue:
        for second in range(1, 301):
            queue.put(fix(second))
    done.set()
    reader.join(30)
    assert received == list(range(1, 301))


def test_a_corrupt_queue_file_is_moved_aside_and_a_new_queue_started(tmp_path):
    path = tmp_path / "q.sqlite3"
    path.write_bytes(b"this is not a database, it is what a power cut left " * 100)
    with FixQueue(path) as queue:
        assert queue.count() == 0
        assert queue.put(fix(1))
    aside = [p for p in os.listdir(tmp_path) if p.startswith("q.sqlite3.corrupt-")]
    assert len(aside) == 1


def test_unreadable_rows_are_dropped_rather_than_blocking_the_queue(tmp_path):
    path = tmp_path / "q.sqlite3"
    with FixQueue(path) as queue:
        queue.put(fix(1))
        queue.put(fix(2))
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE fixes SET payload = '{\"v\": 99}' WHERE id = (SELECT min(id) FROM fixes)"
        )
    with FixQueue(path) as queue:
        assert seconds(queue.peek(5)) == [2]


def test_max_rows_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        FixQueue(tmp_path / "q.sqlite3", max_rows=0)


def test_acks_from_a_non_durable_connection_still_reach_the_file(tmp_path):
    path = tmp_path / "q.sqlite3"
    with FixQueue(path) as writer, FixQueue(path, durable_acks=False) as sender:
        for second in (1, 2, 3):
            writer.put(fix(second))
        sender.ack([item.id for item in sender.peek(2)])
        assert seconds(writer.peek(5)) == [3]
    with FixQueue(path) as reopened:
        assert seconds(reopened.peek(5)) == [3]
