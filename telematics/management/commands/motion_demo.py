"""``manage.py motion_demo``: geofences and notification rules for the demo municipalities.

Run by ``make up`` after ``seed_demo`` and ``dispatch_demo``; what it makes is described in
``telematics/demo.py``. Idempotent: a municipality that has geofences (or rules) keeps them.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from fleet.models import Municipality
from telematics.demo import seed_motion_demo


class Command(BaseCommand):
    help = "Add demo geofences (depots, school zones, transfer stations) and notification rules."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--municipality", help="slug (default: every municipality)")

    def handle(self, *args, **options) -> None:
        municipalities = Municipality.objects.order_by("slug")
        if options["municipality"]:
            municipalities = municipalities.filter(slug=options["municipality"])
        for municipality in municipalities:
            fences, rules = seed_motion_demo(municipality)
            self.stdout.write(
                f"{municipality.slug}: {fences} geofences and {rules} notification rules added"
            )
