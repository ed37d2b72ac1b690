"""The agent's store-and-forward queue: one SQLite file, first in, first out.

Why these choices:

* **SQLite in WAL mode** so the gpsd thread can append while the sender thread reads, each on its
  own connection, without blocking each other; ``synchronous=FULL`` for appends because
  in-vehicle computers lose power with the ignition, and a fix the agent considers queued must
  survive that. The sender's deletes need not wait for the disk (see ``durable_acks``), which
  lets a backlog drain as fast as the server answers.
* **Ids from AUTOINCREMENT** never go back, not even after the queue has been emptied and the
  agent restarted, so the id order is the order of sending and the batch format's ``seq``
  only ever grows.
* **A duplicate guard** (the time of the last queued fix, kept in the same file) because gpsd
  answers a poll with its latest fix until a new one arrives, and after a restart of the agent
  the first poll would otherwise queue a fix that was already sent.
* **Bounded size, oldest dropped first.** When the queue holds ``max_rows`` fixes, each new fix
  pushes out the oldest one. The newest positions are the ones a dispatcher needs (where is the
  vehicle now); an outage long enough to fill the queue (at one fix per 10 s, 200,000 rows are
  23 days) loses history either way, and keeping the most recent window bounds the disk use
  (roughly 200 bytes a row). Every dropped fix is counted in the file and logged.

A file that is not a SQLite database (disk corruption after a power cut) is moved aside to
``<name>.corrupt-<unix time>`` and a fresh queue is started, so the agent keeps working.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from telematics.agent.fix import AgentFix

__all__ = ["DEFAULT_MAX_ROWS", "FixQueue", "QueuedFix"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 200_000
_SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fixes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fix_time_ms INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class QueuedFix:
    id: int
    fix: AgentFix


class FixQueue:
    """One connection to the queue file. Open one per thread (sqlite3 connections are not
    shared between threads); several may be open on the same file at once."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        durable_acks: bool = True,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.path = Path(path)
        self.max_rows = max_rows
        self.durable_acks = durable_acks
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            if "not a database" not in str(exc) and "malformed" not in str(exc):
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            logger.error("agent.queue_corrupt path=%s moved_to=%s error=%s", self.path, aside, exc)
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are begun explicitly, IMMEDIATE where we write, so
        # a writer never has to upgrade a read lock (the usual source of "database is locked").
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            # FULL syncs the WAL at every commit. A connection that only deletes acknowledged
            # fixes may skip that (durable_acks=False): a delete lost in a power cut only means
            # the fix is sent again, which the server ignores as a duplicate, and the next
            # FULL commit on the file syncs the earlier deletes with it.
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable_acks else 'NORMAL'}")
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (_SCHEMA_VERSION,)
            )
            (schema,) = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        if schema != _SCHEMA_VERSION:
            conn.close()
            raise RuntimeError(f"queue {self.path} has schema {schema}, expected {_SCHEMA_VERSION}")
        return conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> FixQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def journal_mode(self) -> str:
        return self._conn.execute("PRAGMA journal_mode").fetchone()[0]

    def put(self, fix: AgentFix) -> bool:
        """Append ``fix``; ``False`` if it is the fix queued last (same fix time)."""
        time_ms = fix.time_ms
        with self._transaction():
            last = self._meta_int("last_fix_time_ms")
            if last == time_ms:
                return False
            self._conn.execute(
                "INSERT INTO fixes (fix_time_ms, payload) VALUES (?, ?)",
                (time_ms, fix.to_payload()),
            )
            self._set_meta("last_fix_time_ms", time_ms)
            (count,) = self._conn.execute("SELECT count(*) FROM fixes").fetchone()
            excess = count - self.max_rows
            if excess > 0:
                self._conn.execute(
                    "DELETE FROM fixes WHERE id IN (SELECT id FROM fixes ORDER BY id LIMIT ?)",
                    (excess,),
                )
                dropped = (self._meta_int("dropped_total") or 0) + excess
                self._set_meta("dropped_total", dropped)
        if excess > 0 and (dropped == excess or dropped % 1000 < excess):
            # First drop and then every thousandth: a long outage must not flood the log.
            logger.warning(
                "agent.queue_full max_rows=%s dropped=%s dropped_total=%s",
                self.max_rows,
                excess,
                dropped,
            )
        return True

    def peek(self, limit: int = 1) -> list[QueuedFix]:
        """The ``limit`` oldest fixes, oldest first, left in the queue."""
        while True:
            rows = self._conn.execute(
                "SELECT id, payload FROM fixes ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
            result: list[QueuedFix] = []
            for row_id, payload in rows:
                try:
                    result.append(QueuedFix(row_id, AgentFix.from_payload(payload)))
                except (ValueError, TypeError, KeyError) as exc:
                    # Only another version of the agent could have written it, and no server
                    # would accept it: drop it rather than block everything queued behind it.
                    logger.error("agent.queue_row_unreadable id=%s error=%s", row_id, exc)
                    self.ack([row_id])
                    break
            else:
                return result
            if result:
                return result

    def ack(self, ids: list[int]) -> None:
        """Delete fixes the server has acknowledged."""
        if not ids:
            return
        with self._transaction():
            self._conn.executemany("DELETE FROM fixes WHERE id = ?", [(i,) for i in ids])

    def count(self) -> int:
        (count,) = self._conn.execute("SELECT count(*) FROM fixes").fetchone()
        return count

    @property
    def dropped_total(self) -> int:
        return self._meta_int("dropped_total") or 0

    def _meta_int(self, key: str) -> int | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def _set_meta(self, key: str, value: int) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    def _transaction(self) -> _Immediate:
        return _Immediate(self._conn)


class _Immediate:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
