from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from fleet.choices import Role
from fleet.demo import seed_all
from fleet.models import Document, Driver, Vehicle


class Command(BaseCommand):
    help = "Create the demo municipalities (Chania, Rethymno) with fleet, drivers and users."

    def add_arguments(self, parser):
        parser.add_argument(
            "--quiet-logins", action="store_true", help="Do not print the demo logins."
        )

    def handle(self, *args, quiet_logins: bool = False, **options):
        password = settings.KINISI_DEMO_PASSWORD
        towns = seed_all(password=password, today=timezone.localdate())
        for slug, municipality in towns.items():
            self.stdout.write(
                f"{municipality.name} ({slug}): "
                f"{Vehicle.objects.filter(municipality=municipality).count()} vehicles, "
                f"{Driver.objects.filter(municipality=municipality).count()} drivers, "
                f"{Document.objects.filter(municipality=municipality).count()} documents"
            )
        if not quiet_logins:
            roles = ", ".join(Role.values)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo logins (password: {password}):\n"
                    f"  Δήμος Χανίων:   {roles}\n"
                    f"  Δήμος Ρεθύμνης: " + ", ".join(f"rethymno-{r}" for r in Role.values) + "\n"
                    "  installation superuser (Django admin): root"
                )
            )
