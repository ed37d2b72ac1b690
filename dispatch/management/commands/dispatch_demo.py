"""``manage.py dispatch_demo``: today's shifts and a handful of jobs for the demo municipalities.

Idempotent: drivers already on shift today keep their shift, and a demo job (by its title) is
created only once a day, so ``make up`` can run it every time.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from dispatch import selectors, services
from dispatch.models import Job, UnloadSite
from fleet.models import Municipality

# (title, kind, offset from the centre in degrees (lat, lon), priority, vehicle category, kg)
DEMO_JOBS = [
    ("Ογκώδη: καναπές και στρώμα", "bulky_waste", (0.0039, -0.0045), 3, "", 150),
    ("Καμένος λαμπτήρας οδοφωτισμού", "repair", (-0.0005, 0.0103), 6, "basket_truck", 0),
    ("Μεταφορά καρεκλών στο ΚΑΠΗ", "transport_goods", (0.0025, -0.0117), 3, "", 300),
    ("Κλαδέματα στην πλατεία", "repair", (-0.0020, 0.0023), 3, "", 400),
    ("Σπασμένο παγκάκι", "repair", (0.0010, 0.0060), 1, "", 0),
    ("Αυτοψία λακκούβας", "inspection", (-0.0035, -0.0040), 9, "", 0),
]


class Command(BaseCommand):
    help = "Put today's demo drivers on shift and add a few demo jobs (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--municipality", help="slug (default: every municipality)")

    def handle(self, *args, **options) -> None:
        municipalities = Municipality.objects.all()
        if options["municipality"]:
            municipalities = municipalities.filter(slug=options["municipality"])
        for municipality in municipalities:
            zone = selectors.local_zone(municipality)
            today = timezone.now().astimezone(zone).date()
            shifts = services.shifts_roster_day(municipality=municipality, day=today)
            lat0 = municipality.center_lat
            lon0 = municipality.center_lon
            if lat0 is None or lon0 is None:
                self.stdout.write(f"{municipality.slug}: {len(shifts)} shifts, no centre for jobs")
                continue
            if not UnloadSite.objects.filter(municipality=municipality).exists():
                services.unload_site_create(
                    municipality=municipality,
                    name="Σταθμός μεταφόρτωσης",
                    latitude=lat0 - 0.004,
                    longitude=lon0 + 0.011,
                )
            start_of_day, _end = selectors.local_day_bounds(municipality, today)
            made = 0
            for title, kind, (dlat, dlon), priority, category, load in DEMO_JOBS:
                if Job.objects.filter(
                    municipality=municipality, title=title, created_at__gte=start_of_day
                ).exists():
                    continue
                now = timezone.now()
                services.job_create(
                    municipality=municipality,
                    kind=kind,
                    title=title,
                    latitude=lat0 + dlat,
                    longitude=lon0 + dlon,
                    priority=priority,
                    vehicle_category=category,
                    load_kg=load,
                    window_start=now,
                    window_end=now + timedelta(hours=4),
                )
                made += 1
            self.stdout.write(f"{municipality.slug}: {len(shifts)} shifts, {made} jobs")
