"""The hand-off of stored ranges to the workers: a few messages per interval, nothing lost when
the broker refuses one."""

from __future__ import annotations

from datetime import UTC, datetime

from telematics.gateway.stats import Stats
from telematics.gateway.writer import Handoff


def _us(second: int) -> int:
    return int(datetime(2026, 3, 10, 8, 0, second, tzinfo=UTC).timestamp() * 1_000_000)


class Broker:
    """Collects the messages; refuses the ones listed in ``refuse`` (by message number)."""

    def __init__(self, refuse=()) -> None:
        self.messages: list[list[tuple[int, datetime, datetime]]] = []
        self.refuse = set(refuse)
        self.calls = 0

    def __call__(self, ranges) -> None:
        self.calls += 1
        if self.calls in self.refuse:
            raise ConnectionError("broker unreachable")
        self.messages.append(ranges)


def test_an_intervals_ranges_go_in_chunks_in_device_order() -> None:
    broker, stats = Broker(), Stats()
    handoff = Handoff(broker, 5.0, stats)
    handoff.chunk = 2
    handoff.add({7: [_us(1), _us(3)], 3: [_us(2), _us(2)], 5: [_us(0), _us(4)]})
    handoff.add({7: [_us(0), _us(9)]})  # a later frame of device 7 widens its range
    handoff.flush()
    assert [[d for d, _s, _e in m] for m in broker.messages] == [[3, 5], [7]]
    assert broker.messages[1][0][1:] == (
        datetime(2026, 3, 10, 8, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 8, 0, 9, tzinfo=UTC),
    )
    assert stats.handed_off == 3


def test_a_refused_message_keeps_its_ranges_and_the_rest_for_the_next_flush() -> None:
    broker, stats = Broker(refuse={2}), Stats()
    handoff = Handoff(broker, 5.0, stats)
    handoff.chunk = 2
    handoff.add({d: [_us(d), _us(d + 1)] for d in (1, 2, 3, 4, 5)})
    handoff.flush()
    assert [[d for d, _s, _e in m] for m in broker.messages] == [[1, 2]]
    assert stats.handed_off == 2
    handoff.add({3: [_us(0), _us(30)]})  # new data for a kept device merges with its range
    handoff.flush()
    assert [[d for d, _s, _e in m] for m in broker.messages] == [[1, 2], [3, 4], [5]]
    assert broker.messages[1][0][1:] == (
        datetime(2026, 3, 10, 8, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 8, 0, 30, tzinfo=UTC),
    )
    assert stats.handed_off == 5
