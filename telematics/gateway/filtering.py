"""The gateway's use of the motion layer's position filters (``telematics.motion.filters``).

One :class:`~telematics.motion.filters.FixFilter` per device lives in the gateway's memory and
sees the device's fixes in arrival order. After a gateway restart the memory is empty; the unique
key (device, fix time) in the database still keeps resent fixes from being stored twice.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from telematics.motion.filters import FilterConfig, FixFilter

__all__ = ["FixFilter", "filter_config"]

_SECONDS_OPTIONS = {"max_future": "max_future_s", "max_age": "max_age_s"}


def filter_config(options: dict[str, Any] | None) -> FilterConfig:
    """Build the filter configuration from plain settings values.

    Keys are FilterConfig's field names; durations may be given in seconds as ``max_future_s``
    and ``max_age_s``, and ``earliest_fix_time`` as an ISO 8601 string. ``None`` switches a
    check off. Unknown keys raise ValueError, so a typo in the settings does not pass unnoticed.
    """
    options = dict(options or {})
    known = {f.name for f in fields(FilterConfig)}
    values: dict[str, Any] = {}
    for name, seconds_key in _SECONDS_OPTIONS.items():
        if seconds_key in options:
            seconds = options.pop(seconds_key)
            values[name] = None if seconds is None else timedelta(seconds=float(seconds))
    earliest = options.get("earliest_fix_time")
    if isinstance(earliest, str):
        parsed = datetime.fromisoformat(earliest)
        options["earliest_fix_time"] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown gateway filter option(s): {', '.join(sorted(unknown))}")
    values.update(options)
    return FilterConfig(**values)
