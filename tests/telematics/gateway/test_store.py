"""The gateway's store and writer against the real test database: rows the database refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telematics.gateway.django_glue import database_config, gateway_config
from telematics.gateway.stats import Stats
from telematics.gateway.store import RowsRejected, epoch_us, open_store
from telematics.gateway.writer import Handoff, LiveState, Writer
from telematics.models import Position

from .conftest import stored_positions

T0 = datetime(2025, 3, 4, 5, 6, 7, 250_000, tzinfo=UTC)


def row(fleet, second: int, *, bad: str = "") -> tuple:
    """A gateway row (store.POSITION_COLUMNS order, times in epoch microseconds). ``bad``:
    ``satellites`` gives a count no integer column holds (refused by both databases while the
    rows are sent), ``municipality`` a NULL where the table wants a value (refused by
    PostgreSQL when the staged rows are inserted)."""
    device = fleet.devices[fleet.ids("teltonika")[0]]
    vehicle = fleet.vehicles[fleet.ids("teltonika")[0]]
    when = epoch_us(T0 + timedelta(seconds=second))
    return (
        device.id,
        vehicle.id,
        None if bad == "municipality" else device.municipality_id,
        when,
        when,
        35.5,
        24.0 + second / 1000,
        30.0,
        90.0,
        12.0,
        None,
        None,
        10**20 if bad == "satellites" else 9,
        True,
        True,
        1000.0 + second,
        None,
        None,
        None,
        "",
        '{"io9": 3}',
    )


@pytest.fixture
def store(fleet):
    store = open_store(database_config())
    yield store
    store.close()


def refused_then_stored(fleet, store, bad: str) -> None:
    with pytest.raises(RowsRejected):
        store.write_positions([row(fleet, 0), row(fleet, 1, bad=bad)])
    # Nothing of the refused batch is stored, and nothing of it lingers to join the next one.
    assert Position.objects.count() == 0
    assert store.write_positions([row(fleet, 2), row(fleet, 3)]) == 2
    assert store.write_positions([row(fleet, 3), row(fleet, 4)]) == 1  # 3 is a duplicate
    stored = stored_positions(fleet.devices[fleet.ids("teltonika")[0]])
    assert [p.fix_time for p in stored] == [T0 + timedelta(seconds=s) for s in (2, 3, 4)]
    assert stored[0].attributes == {"io9": 3} and stored[0].odometer == 1002.0


def test_a_batch_refused_while_sent_leaves_nothing_behind(fleet, store):
    refused_then_stored(fleet, store, "satellites")


@pytest.mark.postgres_only
def test_a_batch_refused_at_insert_leaves_nothing_behind(fleet, store):
    # The rows reach the staging table and the INSERT fails: the transaction must be rolled
    # back, staged rows included, before the next batch.
    refused_then_stored(fleet, store, "municipality")


def test_the_writer_stores_the_rest_of_a_batch_and_counts_the_refused_row(fleet):
    stats = Stats()
    config = gateway_config()
    writer = Writer(
        config,
        open_store(config.database),
        lambda jobs: None,
        stats,
        Handoff(None, 5.0, stats),
        LiveState(config, None, stats),
    )
    try:
        rows = [row(fleet, s, bad="satellites" if s == 2 else "") for s in range(5)]
        assert writer._write_splitting(rows) == 4
    finally:
        writer.store.close()
    assert stats.rejected["database"] == 1
    stored = stored_positions(fleet.devices[fleet.ids("teltonika")[0]])
    assert [p.fix_time for p in stored] == [T0 + timedelta(seconds=s) for s in (0, 1, 3, 4)]
