"""Gateway configuration: one frozen dataclass, built by the management command from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

# Traccar's default ports, so a tracker already pointed at a Traccar server works unchanged.
DEFAULT_PORTS: dict[str, int] = {"osmand": 5055, "h02": 5013, "gt06": 5023, "teltonika": 5027}


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Where the gateway writes. ``vendor`` is ``postgresql`` or ``sqlite``.

    For PostgreSQL ``conninfo`` is a libpq connection string; for SQLite ``path`` is the file.
    """

    vendor: str
    conninfo: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    database: DatabaseConfig
    host: str = "0.0.0.0"  # noqa: S104 - trackers connect from outside; the operator firewalls
    # Port 0 picks an ephemeral port (tests); a protocol missing here is not served.
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    # Group commit: the writer takes whatever is queued, up to this many rows, in one transaction.
    batch_max_rows: int = 20_000
    # Writer threads, each with its own connection (PostgreSQL; SQLite has one writer anyway).
    writers: int = 2
    # Back-pressure: above this many rows waiting for the database every connection stops reading
    # until the writer has drained below half of it. Bounds memory while the database is down.
    max_pending_rows: int = 200_000
    # A connection with this many frames waiting for their commit stops reading (pipelining cap).
    max_inflight_frames: int = 8
    max_connections: int = 20_000
    # How often the live state of vehicles (and devices' last-seen) is written.
    live_state_interval: float = 0.5  # the board promises a marker moves within a second
    # How often devices' last-seen times are written (offline detection needs no more).
    device_seen_interval: float = 30.0
    # How often stored positions are handed to the workers, per device, as one time range.
    handoff_interval: float = 5.0
    # How often new or changed devices and assignments are read from the database.
    registry_refresh_interval: float = 2.0
    # An unknown id is not looked up again in the database more often than this.
    unknown_recheck_interval: float = 5.0
    # Speed at or above which a vehicle counts as moving on the live map.
    moving_speed_kmh: float = 3.0
    # A connection that sends nothing for this long is closed (trackers send keep-alives).
    idle_timeout: float = 900.0
    # HTTP: the longest request head and body the OsmAnd port accepts.
    http_max_head: int = 8192
    http_max_body: int = 1024 * 1024
    # Database retry backoff while it is unreachable.
    retry_initial: float = 0.2
    retry_max: float = 5.0
    stats_interval: float = 30.0
    gil_switch_interval: float = 0.005
    filters: dict = field(default_factory=dict)
    # Keyword arguments for each protocol's StreamSession. Teltonika's CRC is not verified, as
    # Traccar does not: devices exist whose CRC is wrong (two of Traccar's own test frames), TCP
    # already guards the bytes, and the check costs half of the decoding time.
    session_options: dict = field(default_factory=lambda: {"teltonika": {"verify_crc": False}})
