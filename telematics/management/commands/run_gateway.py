"""``manage.py run_gateway``: the tracker gateway (OsmAnd HTTP, Teltonika, GT06, H02)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from django.core.management.base import BaseCommand

from telematics.gateway.app import run
from telematics.gateway.django_glue import celery_handoff, gateway_config


class Command(BaseCommand):
    help = "Run the tracker gateway: one asyncio process serving every tracker protocol."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", help="address to listen on (default 0.0.0.0)")
        for protocol in ("osmand", "teltonika", "gt06", "h02"):
            parser.add_argument(
                f"--{protocol}-port",
                type=int,
                dest=f"{protocol}_port",
                help=f"{protocol} port (0: any free port, -1: do not serve)",
            )
        parser.add_argument(
            "--port-file", help="write the ports actually listened on to this JSON file"
        )
        parser.add_argument(
            "--no-handoff",
            action="store_true",
            help="do not hand stored positions to the workers (benchmarks)",
        )

    def handle(self, *args, **options) -> None:
        logging.getLogger("telematics.gateway").setLevel(logging.INFO)
        overrides: dict = {}
        if options["host"]:
            overrides["host"] = options["host"]
        ports = {
            protocol: options[f"{protocol}_port"]
            for protocol in ("osmand", "teltonika", "gt06", "h02")
            if options[f"{protocol}_port"] is not None
        }
        if ports:
            overrides["ports"] = ports
        config = gateway_config(**overrides)
        port_file = options["port_file"]

        def on_ready(actual: dict[str, int]) -> None:
            if port_file:
                path = Path(port_file)
                temporary = path.with_suffix(".tmp")
                temporary.write_text(json.dumps(actual))
                temporary.replace(path)  # readers never see a half-written file

        run(
            config,
            handoff_send=None if options["no_handoff"] else celery_handoff,
            on_ready=on_ready,
        )
