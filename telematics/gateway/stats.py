"""Counters of the gateway, logged periodically and read by tests and the benchmark."""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    """Plain counters. The loop writes its own; writer threads update theirs under ``lock``."""

    def __init__(self) -> None:
        # Held by writer threads when they update their counters (there may be several).
        self.lock = threading.Lock()
        self.connections = 0
        self.connections_open = 0
        self.frames = 0
        self.fixes_received = 0
        self.stored = 0
        self.duplicates = 0
        self.batches = 0
        self.rejected: Counter[str] = Counter()
        self.frames_rejected: Counter[str] = Counter()
        self.unknown_devices = 0
        self.db_outages = 0
        self.live_updates = 0
        self.handed_off = 0

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected[reason] += count

    def as_dict(self) -> dict:
        return {
            "connections": self.connections,
            "connections_open": self.connections_open,
            "frames": self.frames,
            "fixes_received": self.fixes_received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "batches": self.batches,
            "rejected": dict(self.rejected),
            "frames_rejected": dict(self.frames_rejected),
            "unknown_devices": self.unknown_devices,
            "db_outages": self.db_outages,
            "live_updates": self.live_updates,
            "handed_off": self.handed_off,
        }

    def log_line(self) -> str:
        rejected = ",".join(f"{k}:{v}" for k, v in sorted(self.rejected.items())) or "0"
        bad_frames = ",".join(f"{k}:{v}" for k, v in sorted(self.frames_rejected.items())) or "0"
        return (
            f"gateway.stats connections_open={self.connections_open} frames={self.frames} "
            f"fixes={self.fixes_received} stored={self.stored} duplicates={self.duplicates} "
            f"batches={self.batches} rejected={rejected} bad_frames={bad_frames} "
            f"unknown={self.unknown_devices} db_outages={self.db_outages}"
        )
