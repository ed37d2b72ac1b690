"""``kinisi-agent``: command-line flags, environment variables, logging and signals.

Every flag has an environment variable (``KINISI_AGENT_*``), the flag winning when both are set,
so the agent can run from a systemd unit with an ``EnvironmentFile``. Prefer the environment for
the token: command lines are visible to every user of the machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from telematics.agent.fix_queue import DEFAULT_MAX_ROWS
from telematics.agent.runner import MODES, Agent, AgentConfig
from telematics.agent.sender import DEFAULT_BATCH_PATH, HttpTransport

__all__ = ["build_config", "default_queue_path", "main"]

logger = logging.getLogger("telematics.agent")

ENV_PREFIX = "KINISI_AGENT_"


def default_queue_path(env: Mapping[str, str]) -> Path:
    # systemd's StateDirectory= exports STATE_DIRECTORY; otherwise the XDG state directory.
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0]) / "queue.sqlite3"
    base = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "kinisi-agent" / "queue.sqlite3"


def _number(text: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _positive_float(text: str) -> float:
    value = float(_number(text, float))
    if not value > 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _port(text: str) -> int:
    value = int(_number(text, int))
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return value


# (flag, env suffix, type, default, help)
_OPTIONS: list[tuple[str, str, object, object, str]] = [
    ("--server", "SERVER", str, None, "gateway URL, e.g. http://kinisi.example.gr:5055 (required)"),
    ("--device-id", "DEVICE_ID", str, None, "this tracker's unique id as registered (required)"),
    ("--token", "TOKEN", str, None, "device token (batch mode; better set via the environment)"),
    ("--mode", "MODE", str, "osmand", f"wire format: {' or '.join(MODES)}"),
    ("--batch-path", "BATCH_PATH", str, DEFAULT_BATCH_PATH, "path of the batch endpoint"),
    ("--batch-size", "BATCH_SIZE", _positive_int, 100, "fixes per batch request"),
    ("--interval", "INTERVAL", _positive_float, 10.0, "seconds between gpsd polls"),
    ("--queue", "QUEUE", Path, None, "queue file (default: state directory/queue.sqlite3)"),
    ("--queue-max", "QUEUE_MAX", _positive_int, DEFAULT_MAX_ROWS, "most fixes kept queued"),
    ("--gpsd-host", "GPSD_HOST", str, "127.0.0.1", "gpsd host"),
    ("--gpsd-port", "GPSD_PORT", _port, 2947, "gpsd port"),
    ("--gpsd-timeout", "GPSD_TIMEOUT", _positive_float, 5.0, "seconds to wait for gpsd"),
    ("--backoff-base", "BACKOFF_BASE", _positive_float, 1.0, "first retry delay, seconds"),
    ("--backoff-max", "BACKOFF_MAX", _positive_float, 300.0, "longest retry delay, seconds"),
    ("--http-timeout", "HTTP_TIMEOUT", _positive_float, 15.0, "seconds to wait for the server"),
    ("--battery-path", "BATTERY_PATH", Path, None, "file holding the battery percent"),
    ("--log-level", "LOG_LEVEL", str, "info", "debug, info, warning or error"),
]


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kinisi-agent",
        description="Read fixes from gpsd, queue them on disk and forward them to Kinisi.",
        epilog="Every option can also be set as an environment variable KINISI_AGENT_<NAME>.",
    )
    for flag, suffix, kind, default, help_text in _OPTIONS:
        env_name = ENV_PREFIX + suffix
        # argparse runs a string default through ``type`` too, so values from the environment
        # are checked exactly like flags.
        parser.add_argument(
            flag,
            type=kind,
            default=env.get(env_name) or default,
            help=f"{help_text} [{env_name}]",
        )
    return parser


def build_config(argv: Sequence[str], env: Mapping[str, str]) -> tuple[AgentConfig, str]:
    """Parse flags over environment; the config and the log level. Exits with status 2 on
    invalid input, printing what is wrong (argparse's convention)."""
    parser = _parser(env)
    args = parser.parse_args(list(argv))
    if not args.server:
        parser.error("the server URL is required (--server or KINISI_AGENT_SERVER)")
    if not args.device_id:
        parser.error("the device id is required (--device-id or KINISI_AGENT_DEVICE_ID)")
    level = str(args.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        parser.error(f"unknown log level: {args.log_level}")
    try:
        config = AgentConfig(
            server_url=args.server,
            device_id=args.device_id,
            token=args.token or None,
            mode=args.mode,
            batch_path=args.batch_path,
            batch_size=args.batch_size,
            interval=args.interval,
            queue_path=args.queue or default_queue_path(env),
            queue_max=args.queue_max,
            gpsd_host=args.gpsd_host,
            gpsd_port=args.gpsd_port,
            gpsd_timeout=args.gpsd_timeout,
            backoff_base=args.backoff_base,
            backoff_max=args.backoff_max,
            http_timeout=args.http_timeout,
            battery_path=args.battery_path,
        )
        # Fail on a malformed URL now rather than in the sender thread.
        HttpTransport(config.server_url)
    except ValueError as exc:
        parser.error(str(exc))
    return config, level


def main(argv: Sequence[str] | None = None) -> int:
    config, level = build_config(sys.argv[1:] if argv is None else argv, os.environ)
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # gpsd-py3 logs every poll at DEBUG; our own lines already say what happened.
    logging.getLogger("gpsd").setLevel(max(logging.INFO, getattr(logging, level)))
    agent = Agent(config)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if agent.stopping:
            # A second signal: the operator does not want to wait for a request in flight.
            # Safe, because every queue change is a committed SQLite transaction.
            logger.warning("agent.stop_forced signal=%s", name)
            os._exit(1)
        agent.request_stop(f"signal={name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return agent.run()


if __name__ == "__main__":
    sys.exit(main())
