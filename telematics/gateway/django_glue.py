"""Builds the gateway's configuration from Django settings, and its hand-over to Celery.

The only gateway module that imports Django; the core stays runnable without it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import fields
from datetime import datetime
from typing import Any

from django.conf import settings

from telematics.gateway.config import DEFAULT_PORTS, DatabaseConfig, GatewayConfig

log = logging.getLogger("telematics.gateway")

PROCESS_RANGES_TASK = "telematics.process_position_ranges"


def database_config(alias: str = "default") -> DatabaseConfig:
    db = settings.DATABASES[alias]
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        return DatabaseConfig(vendor="sqlite", path=str(db["NAME"]))
    if "postgresql" in engine:
        from psycopg.conninfo import make_conninfo

        params: dict[str, Any] = {"dbname": db.get("NAME") or "", "application_name": "gateway"}
        for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host")):
            if db.get(key):
                params[name] = db[key]
        if db.get("PORT"):
            params["port"] = str(db["PORT"])
        for key, value in (db.get("OPTIONS") or {}).items():
            if isinstance(value, str | int):
                params[key] = value
        return DatabaseConfig(vendor="postgresql", conninfo=make_conninfo(**params))
    raise ValueError(f"the gateway does not support the database engine {engine}")


def gateway_config(**overrides: Any) -> GatewayConfig:
    """Defaults, then ``settings.KINISI_GATEWAY`` (a dict of GatewayConfig fields, with ``ports``
    a dict protocol -> port), then environment variables ``KINISI_GATEWAY_HOST`` and
    ``KINISI_<PROTOCOL>_PORT`` (0 = any free port, -1 = off) and ``KINISI_GATEWAY_<FIELD>``
    for numeric fields, then ``overrides``."""
    values: dict[str, Any] = dict(getattr(settings, "KINISI_GATEWAY", {}) or {})
    ports = dict(DEFAULT_PORTS)
    ports.update(values.pop("ports", {}) or {})
    if os.environ.get("KINISI_GATEWAY_HOST"):
        values["host"] = os.environ["KINISI_GATEWAY_HOST"]
    # Any numeric field can be tuned from the environment: KINISI_GATEWAY_BATCH_MAX_ROWS=...
    for item in fields(GatewayConfig):
        raw = os.environ.get(f"KINISI_GATEWAY_{item.name.upper()}")
        if raw and item.type in ("int", "float"):
            values[item.name] = int(raw) if item.type == "int" else float(raw)
    for protocol in DEFAULT_PORTS:
        env_value = os.environ.get(f"KINISI_{protocol.upper()}_PORT")
        if env_value:
            ports[protocol] = int(env_value)
    ports.update(overrides.pop("ports", {}) or {})
    values.update(overrides)
    values["ports"] = {p: port for p, port in ports.items() if port is not None and port >= 0}
    values.setdefault("database", database_config())
    return GatewayConfig(**values)


def celery_handoff(ranges: list[tuple[int, datetime, datetime]]) -> None:
    """Send stored ranges (device id, first and last fix time) to the workers in one message.
    ``send_task`` by name: the gateway never runs the task itself, even where settings make
    tasks eager."""
    from config.celery import app

    payload = [[device_id, start.isoformat(), end.isoformat()] for device_id, start, end in ranges]
    app.send_task(PROCESS_RANGES_TASK, args=[payload])
