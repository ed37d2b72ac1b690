# ruff: noqa: S608 - SQL is built only from this module's constant table and column names;
# every value travels as a bound parameter or through COPY.
"""Database access for the gateway's hot path, without the ORM.

The gateway writes tens of thousands of positions a second; per-row ORM saves would be two orders
of magnitude too slow. Each store is used by exactly one thread (the writer or the reader) and
owns its connection. Table and column names here must follow ``telematics/models.py``.

Position rows carry ``fix_time`` and ``server_time`` as integer microseconds since the Unix
epoch (UTC): turning each into a ``datetime`` and that into text for COPY cost more than the rest
of the row. Datetimes are still accepted (tests, callers outside the gateway) and converted.

PostgreSQL: COPY into a temporary staging table (times as ``bigint``), then one ``INSERT ...
SELECT ... ON CONFLICT (device_id, fix_time) DO NOTHING`` that turns the integers into
``timestamptz`` exactly; resent positions are thereby absorbed by the unique key.
SQLite: ``executemany`` of ``INSERT OR IGNORE`` inside one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from telematics.gateway.config import DatabaseConfig

log = logging.getLogger("telematics.gateway")

POSITION_TABLE = "telematics_position"
DEVICE_TABLE = "telematics_device"
ASSIGNMENT_TABLE = "telematics_deviceassignment"
UNKNOWN_TABLE = "telematics_unknowndevice"
LIVE_TABLE = "telematics_vehiclelivestate"

# The order of the tuples the pipeline builds (see pipeline.fix_row).
POSITION_COLUMNS: tuple[str, ...] = (
    "device_id",
    "vehicle_id",
    "municipality_id",
    "fix_time",
    "server_time",
    "latitude",
    "longitude",
    "speed_kmh",
    "course",
    "altitude",
    "accuracy",
    "hdop",
    "satellites",
    "valid",
    "ignition",
    "odometer",
    "engine_hours",
    "fuel_level",
    "battery",
    "driver_tag",
    "attributes",
)
FIX_TIME_INDEX = POSITION_COLUMNS.index("fix_time")
SERVER_TIME_INDEX = POSITION_COLUMNS.index("server_time")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """Integer microseconds since the Unix epoch of an aware datetime (exact)."""
    return (moment - EPOCH) // _MICROSECOND


def from_epoch_us(value: int) -> datetime:
    """The aware UTC datetime of integer microseconds since the Unix epoch (exact)."""
    return EPOCH + timedelta(microseconds=value)


def _epoch_row(row: tuple) -> tuple:
    row = list(row)
    for index in (FIX_TIME_INDEX, SERVER_TIME_INDEX):
        if isinstance(row[index], datetime):
            row[index] = epoch_us(row[index])
    return tuple(row)


def epoch_rows(rows: Sequence[tuple]) -> Sequence[tuple]:
    """Rows with their two time columns as epoch microseconds (the gateway's own rows already
    are; rows with datetimes are converted)."""
    if all(type(row[FIX_TIME_INDEX]) is int for row in rows):
        return rows
    return [_epoch_row(row) for row in rows]


LIVE_COLUMNS: tuple[str, ...] = (
    "vehicle_id",
    "municipality_id",
    "device_id",
    "fix_time",
    "latitude",
    "longitude",
    "speed_kmh",
    "course",
    "ignition",
    "moving",
    "last_seen",
    "updated_at",
)


class StoreUnavailable(Exception):
    """The database cannot be reached or the connection broke; retry later, data is kept."""


class RowsRejected(Exception):
    """The database refused the rows themselves (a value it cannot store); retrying won't help."""


@dataclass(slots=True)
class DeviceRow:
    id: int
    unique_id: str
    protocol: str
    municipality_id: int
    active: bool
    token_hash: str


@dataclass(slots=True)
class AssignmentRow:
    device_id: int
    vehicle_id: int
    valid_from: datetime
    valid_to: datetime | None


@dataclass(slots=True)
class UnknownAttempt:
    unique_id: str
    protocol: str
    first_seen: datetime
    last_seen: datetime
    attempts: int
    remote_address: str


class Store:
    """Common interface of the two backends."""

    vendor = ""

    def connect(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def write_positions(self, rows: Sequence[tuple]) -> int:
        """Store rows (in POSITION_COLUMNS order, times as epoch microseconds or datetimes) in one
        transaction; return how many were new (the rest were duplicates)."""
        raise NotImplementedError

    def write_side_state(
        self,
        live: Sequence[tuple],
        device_seen: Sequence[tuple[int, datetime]],
        unknown: Sequence[UnknownAttempt],
        touch: Sequence[tuple[int, datetime, bool | None]] = (),
    ) -> None:
        """Upsert vehicles' live state, devices' last-seen time and unknown-device attempts;
        ``touch`` (vehicle id, seen, ignition) refreshes vehicles heard from without a fix."""
        raise NotImplementedError

    def load_devices(
        self, since: datetime | None
    ) -> tuple[list[DeviceRow], list[AssignmentRow], datetime | None]:
        """Devices (with all their assignments) changed after ``since`` (all when ``None``),
        and the newest change time seen, to pass as ``since`` next time."""
        raise NotImplementedError

    def lookup_device(self, unique_id: str) -> tuple[DeviceRow | None, list[AssignmentRow]]:
        raise NotImplementedError

    def ensure_partitions(self, around: datetime) -> None:
        """PostgreSQL only: make sure the monthly partitions around ``around`` exist."""


def open_store(config: DatabaseConfig) -> Store:
    if config.vendor == "postgresql":
        return PostgresStore(config.conninfo)
    if config.vendor == "sqlite":
        return SqliteStore(config.path)
    raise ValueError(f"unsupported database vendor {config.vendor!r}")


# --------------------------------------------------------------------------------------------
# PostgreSQL


def month_start(moment: datetime, offset: int) -> datetime:
    month_index = moment.year * 12 + moment.month - 1 + offset
    return datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"{POSITION_TABLE}_{start:%Y%m}"


def partition_ddl(start: datetime) -> str:
    """DDL for the monthly partition of the positions table that begins at ``start``
    (idempotent)."""
    end = month_start(start, 1)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(start)} PARTITION OF {POSITION_TABLE} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


# The staging table: the positions' columns, with the two times as bigint microseconds.
_STAGING_COLUMNS = tuple(
    f"{c}_us" if c in ("fix_time", "server_time") else c for c in POSITION_COLUMNS
)
_STAGING_SELECT = ", ".join(
    f"0::bigint AS {c}_us" if c in ("fix_time", "server_time") else c for c in POSITION_COLUMNS
)
_STAGING_COPY = f"COPY position_staging ({', '.join(_STAGING_COLUMNS)}) FROM STDIN"
# Whole seconds and the microseconds apart: exact over datetime's whole range (one float product
# ``us * interval '1 microsecond'`` is not, beyond 2^53 microseconds from 1970). Executed without
# parameters, so ``%`` is the modulo operator.
_STAGING_INSERT = (
    f"INSERT INTO {POSITION_TABLE} ({', '.join(POSITION_COLUMNS)}) SELECT "
    + ", ".join(
        f"to_timestamp({c}_us / 1000000) + ({c}_us % 1000000) * interval '1 microsecond'"
        if c in ("fix_time", "server_time")
        else c
        for c in POSITION_COLUMNS
    )
    + " FROM position_staging ON CONFLICT (device_id, fix_time) DO NOTHING"
)


def _rollback(conn) -> None:
    """End a failed transaction (the staging rows go with it), if the connection still can."""
    from psycopg.pq import TransactionStatus

    if conn.closed or conn.info.transaction_status in (
        TransactionStatus.IDLE,
        TransactionStatus.UNKNOWN,
    ):
        return
    with contextlib.suppress(Exception):  # a broken connection is reconnected by the caller
        conn.execute("ROLLBACK")


class PostgresStore(Store):
    vendor = "postgresql"

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn = None
        self._partitions_done: set[str] = set()

    def connect(self) -> None:
        import psycopg

        self.close()
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            # The staging table lives as long as the connection; ON COMMIT DELETE ROWS empties it
            # after every batch without a separate statement.
            # Staging tables carry only the columns we copy (no id: its sequence is drawn once,
            # by the final INSERT). ON COMMIT DELETE ROWS empties them after every batch.
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS position_staging ON COMMIT DELETE ROWS AS "
                f"SELECT {_STAGING_SELECT} FROM {POSITION_TABLE} WITH NO DATA"
            )
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS live_staging ON COMMIT DELETE ROWS AS "
                f"SELECT {', '.join(LIVE_COLUMNS)} FROM {LIVE_TABLE} WITH NO DATA"
            )
            # Synchronous commit stays on: an acknowledged position must survive a crash.
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(str(exc).strip()) from exc
        self.conn = conn
        self._partitions_done.clear()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                self.conn.close()
            self.conn = None

    def _run(self, work):
        import psycopg

        if self.conn is None or self.conn.closed:
            self.connect()
        try:
            return work(self.conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.close()
            raise StoreUnavailable(str(exc).strip()) from exc
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise RowsRejected(str(exc).strip()) from exc

    def write_positions(self, rows: Sequence[tuple]) -> int:
        rows = epoch_rows(rows)

        def work(conn) -> int:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                try:
                    with cur.copy(_STAGING_COPY) as copy:
                        write_row = copy.write_row
                        for row in rows:
                            write_row(row)
                    # The INSERT and the COMMIT in one round trip: a batch costs four round
                    # trips instead of five, and each is a wait on a busy machine. The row
                    # count is the INSERT's (the first result).
                    cur.execute(_STAGING_INSERT + "; COMMIT")
                    return cur.rowcount
                except BaseException:
                    _rollback(conn)
                    raise

        return self._run(work)

    def write_side_state(self, live, device_seen, unknown, touch=()) -> None:
        live_columns = ", ".join(LIVE_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in LIVE_COLUMNS if c not in ("vehicle_id",))

        def work(conn) -> None:
            with conn.transaction(), conn.cursor() as cur:
                if live:
                    with cur.copy(f"COPY live_staging ({live_columns}) FROM STDIN") as copy:
                        for row in live:
                            copy.write_row(row)
                    # Positions can arrive out of order (a tracker emptying its buffer): the live
                    # state only moves forward in fix time, but last_seen always advances.
                    cur.execute(
                        f"INSERT INTO {LIVE_TABLE} AS l ({live_columns}) "
                        f"SELECT {live_columns} FROM live_staging "
                        f"ON CONFLICT (vehicle_id) DO UPDATE SET {updates} "
                        f"WHERE l.fix_time IS NULL OR excluded.fix_time >= l.fix_time"
                    )
                    cur.execute(
                        f"UPDATE {LIVE_TABLE} AS l SET last_seen = s.last_seen, "
                        f"updated_at = s.updated_at FROM live_staging s "
                        f"WHERE l.vehicle_id = s.vehicle_id AND l.last_seen < s.last_seen"
                    )
                if touch:
                    cur.executemany(
                        f"UPDATE {LIVE_TABLE} SET last_seen = %s, updated_at = %s, "
                        f"ignition = COALESCE(%s, ignition) WHERE vehicle_id = %s "
                        f"AND last_seen < %s",
                        [(seen, seen, ign, vid, seen) for vid, seen, ign in touch],
                    )
                if device_seen:
                    # One statement for all devices (one UPDATE each would be a round trip each).
                    cur.execute(
                        f"UPDATE {DEVICE_TABLE} AS d SET last_seen_at = v.seen "
                        f"FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, seen) "
                        f"WHERE d.id = v.id "
                        f"AND (d.last_seen_at IS NULL OR d.last_seen_at < v.seen)",
                        ([d for d, _ in device_seen], [seen for _, seen in device_seen]),
                    )
                for attempt in unknown:
                    cur.execute(
                        f"INSERT INTO {UNKNOWN_TABLE} (unique_id, protocol, first_seen, "
                        f"last_seen, attempts, remote_address) VALUES (%s, %s, %s, %s, %s, %s) "
                        f"ON CONFLICT (unique_id) DO UPDATE SET protocol = excluded.protocol, "
                        f"last_seen = excluded.last_seen, remote_address = "
                        f"excluded.remote_address, attempts = {UNKNOWN_TABLE}.attempts "
                        f"+ excluded.attempts",
                        (
                            attempt.unique_id,
                            attempt.protocol,
                            attempt.first_seen,
                            attempt.last_seen,
                            attempt.attempts,
                            attempt.remote_address,
                        ),
                    )

        self._run(work)

    _DEVICE_SELECT = (
        f"SELECT id, unique_id, protocol, municipality_id, active, auth_token_hash, updated_at "
        f"FROM {DEVICE_TABLE}"
    )
    _ASSIGNMENT_SELECT = (
        f"SELECT device_id, vehicle_id, valid_from, valid_to FROM {ASSIGNMENT_TABLE}"
    )

    def load_devices(self, since):
        def work(conn):
            with conn.cursor() as cur:
                if since is None:
                    cur.execute(self._DEVICE_SELECT)
                else:
                    # Assignment changes touch their device's updated_at (services do it), so
                    # one column tells what to reload.
                    cur.execute(self._DEVICE_SELECT + " WHERE updated_at > %s", (since,))
                device_rows = cur.fetchall()
                ids = [r[0] for r in device_rows]
                assignments: list[AssignmentRow] = []
                if ids:
                    cur.execute(self._ASSIGNMENT_SELECT + " WHERE device_id = ANY(%s)", (ids,))
                    assignments = [AssignmentRow(*r) for r in cur.fetchall()]
            return device_rows, assignments

        device_rows, assignments = self._run(work)
        newest = max((r[6] for r in device_rows), default=since)
        return [DeviceRow(*r[:6]) for r in device_rows], assignments, newest

    def lookup_device(self, unique_id):
        def work(conn):
            with conn.cursor() as cur:
                cur.execute(self._DEVICE_SELECT + " WHERE unique_id = %s", (unique_id,))
                row = cur.fetchone()
                if row is None:
                    return None, []
                cur.execute(self._ASSIGNMENT_SELECT + " WHERE device_id = %s", (row[0],))
                return DeviceRow(*row[:6]), [AssignmentRow(*r) for r in cur.fetchall()]

        return self._run(work)

    def ensure_partitions(self, around: datetime) -> None:
        for offset in (-1, 0, 1, 2):
            start = month_start(around, offset)
            name = partition_name(start)
            if name in self._partitions_done:
                continue

            def work(conn, start=start):
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c "
                        "ON c.oid = p.partrelid WHERE c.relname = %s",
                        (POSITION_TABLE,),
                    )
                    if cur.fetchone() is None:
                        return  # not partitioned (a plain table): nothing to do
                    cur.execute(partition_ddl(start))

            try:
                self._run(work)
            except RowsRejected as exc:
                # Rows for that month already sit in the default partition; they stay readable
                # there, and the month is retried at the next start.
                log.warning("gateway.partition_skipped name=%s reason=%s", name, exc)
            self._partitions_done.add(name)


# --------------------------------------------------------------------------------------------
# SQLite


def sqlite_datetime(value: datetime | None) -> str | None:
    """Django's SQLite format for an aware datetime: UTC, naive, ``str()`` (space separator,
    microseconds only when non-zero). The unique key compares these strings, so they must match
    what the ORM writes to the byte."""
    if value is None:
        return None
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return str(value.replace(tzinfo=None))


def _parse_sqlite_datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def sqlite_epoch_us(value: int) -> str:
    """:func:`sqlite_datetime` of epoch microseconds."""
    return str(_NAIVE_EPOCH + timedelta(microseconds=value))


def _sqlite_time(value: int | datetime) -> str:
    return sqlite_epoch_us(value) if type(value) is int else sqlite_datetime(value)


def _sqlite_rows(rows: Iterable[tuple]) -> Iterable[list]:
    """Rows with their times in Django's SQLite text form. A frame's rows share one server
    time, so its text is reused while it stays the same."""
    last_server, last_text = None, None
    for row in rows:
        server = row[SERVER_TIME_INDEX]
        if server != last_server:
            last_server, last_text = server, _sqlite_time(server)
        row = list(row)
        row[FIX_TIME_INDEX] = _sqlite_time(row[FIX_TIME_INDEX])
        row[SERVER_TIME_INDEX] = last_text
        yield row


class SqliteStore(Store):
    vendor = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def connect(self) -> None:
        self.close()
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so the write lock is
            # taken up front and a busy database makes us wait (timeout) instead of failing.
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc
        self.conn = conn

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None

    def _transaction(self, work):
        if self.conn is None:
            self.connect()
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.OperationalError as exc:
            # "database is locked" past the timeout, disk full, file gone: try again later.
            self.close()
            raise StoreUnavailable(str(exc)) from exc
        except (sqlite3.IntegrityError, sqlite3.InterfaceError, OverflowError) as exc:
            raise RowsRejected(str(exc)) from exc

    def write_positions(self, rows: Sequence[tuple]) -> int:
        columns = ", ".join(POSITION_COLUMNS)
        marks = ", ".join("?" * len(POSITION_COLUMNS))
        sql = f"INSERT OR IGNORE INTO {POSITION_TABLE} ({columns}) VALUES ({marks})"

        def work(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(sql, _sqlite_rows(rows))
            return conn.total_changes - before

        return self._transaction(work)

    def write_side_state(self, live, device_seen, unknown, touch=()) -> None:
        live_columns = ", ".join(LIVE_COLUMNS)
        marks = ", ".join("?" * len(LIVE_COLUMNS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in LIVE_COLUMNS if c != "vehicle_id")
        time_columns = {LIVE_COLUMNS.index(c) for c in ("fix_time", "last_seen", "updated_at")}

        def convert(row: Iterable) -> tuple:
            return tuple(sqlite_datetime(v) if i in time_columns else v for i, v in enumerate(row))

        def work(conn: sqlite3.Connection) -> None:
            if live:
                rows = [convert(r) for r in live]
                conn.executemany(
                    f"INSERT INTO {LIVE_TABLE} ({live_columns}) VALUES ({marks}) "
                    f"ON CONFLICT (vehicle_id) DO UPDATE SET {updates} "
                    f"WHERE {LIVE_TABLE}.fix_time IS NULL "
                    f"OR excluded.fix_time >= {LIVE_TABLE}.fix_time",
                    rows,
                )
                last_seen_at = LIVE_COLUMNS.index("last_seen")
                conn.executemany(
                    f"UPDATE {LIVE_TABLE} SET last_seen = ? WHERE vehicle_id = ? AND last_seen < ?",
                    [(r[last_seen_at], r[0], r[last_seen_at]) for r in rows],
                )
            if touch:
                conn.executemany(
                    f"UPDATE {LIVE_TABLE} SET last_seen = ?, updated_at = ?, "
                    f"ignition = COALESCE(?, ignition) WHERE vehicle_id = ? AND last_seen < ?",
                    [
                        (
                            sqlite_datetime(seen),
                            sqlite_datetime(seen),
                            ign,
                            vid,
                            sqlite_datetime(seen),
                        )
                        for vid, seen, ign in touch
                    ],
                )
            if device_seen:
                conn.executemany(
                    f"UPDATE {DEVICE_TABLE} SET last_seen_at = ? "
                    f"WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)",
                    [
                        (sqlite_datetime(seen), device_id, sqlite_datetime(seen))
                        for device_id, seen in device_seen
                    ],
                )
            for attempt in unknown:
                conn.execute(
                    f"INSERT INTO {UNKNOWN_TABLE} (unique_id, protocol, first_seen, last_seen, "
                    f"attempts, remote_address) VALUES (?, ?, ?, ?, ?, ?) "
                    f"ON CONFLICT (unique_id) DO UPDATE SET protocol = excluded.protocol, "
                    f"last_seen = excluded.last_seen, remote_address = excluded.remote_address, "
                    f"attempts = {UNKNOWN_TABLE}.attempts + excluded.attempts",
                    (
                        attempt.unique_id,
                        attempt.protocol,
                        sqlite_datetime(attempt.first_seen),
                        sqlite_datetime(attempt.last_seen),
                        attempt.attempts,
                        attempt.remote_address,
                    ),
                )

        self._transaction(work)

    _DEVICE_SELECT = (
        f"SELECT id, unique_id, protocol, municipality_id, active, auth_token_hash, updated_at "
        f"FROM {DEVICE_TABLE}"
    )
    _ASSIGNMENT_SELECT = (
        f"SELECT device_id, vehicle_id, valid_from, valid_to FROM {ASSIGNMENT_TABLE}"
    )

    def _read(self, work):
        if self.conn is None:
            self.connect()
        try:
            return work(self.conn)
        except sqlite3.OperationalError as exc:
            self.close()
            raise StoreUnavailable(str(exc)) from exc

    @staticmethod
    def _device(row) -> DeviceRow:
        return DeviceRow(row[0], row[1], row[2], row[3], bool(row[4]), row[5])

    @staticmethod
    def _assignment(row) -> AssignmentRow:
        return AssignmentRow(
            row[0], row[1], _parse_sqlite_datetime(row[2]), _parse_sqlite_datetime(row[3])
        )

    def load_devices(self, since):
        def work(conn):
            if since is None:
                device_rows = conn.execute(self._DEVICE_SELECT).fetchall()
            else:
                device_rows = conn.execute(
                    self._DEVICE_SELECT + " WHERE updated_at > ?", (sqlite_datetime(since),)
                ).fetchall()
            assignments = []
            ids = [r[0] for r in device_rows]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                assignments += conn.execute(
                    self._ASSIGNMENT_SELECT + f" WHERE device_id IN ({marks})", chunk
                ).fetchall()
            return device_rows, assignments

        device_rows, assignments = self._read(work)
        newest = max(
            (_parse_sqlite_datetime(r[6]) for r in device_rows if r[6] is not None), default=since
        )
        return (
            [self._device(r) for r in device_rows],
            [self._assignment(r) for r in assignments],
            newest,
        )

    def lookup_device(self, unique_id):
        def work(conn):
            sql = self._DEVICE_SELECT + " WHERE unique_id = ?"
            row = conn.execute(sql, (unique_id,)).fetchone()
            if row is None:
                return None, []
            assignments = conn.execute(
                self._ASSIGNMENT_SELECT + " WHERE device_id = ?", (row[0],)
            ).fetchall()
            return self._device(row), [self._assignment(r) for r in assignments]

        return self._read(work)
