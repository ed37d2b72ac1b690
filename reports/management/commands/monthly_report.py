"""``python manage.py monthly_report fuel --month 2025-02 --out fuel.pdf``

Generates (or regenerates) the stored report in this process, without a worker, and writes its
PDF (and optionally its tables as XLSX or CSV) to files.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from fleet.models import Department, Municipality, Vehicle
from reports import exports, services
from reports.generators.fmt import Period
from reports.models import ReportKind


class Command(BaseCommand):
    help = "Generate a monthly report (fuel, maintenance) or a movement sheet as a PDF file."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=ReportKind.values)
        parser.add_argument("--month", help="YYYY-MM (default: the previous month)")
        parser.add_argument("--day", help="YYYY-MM-DD: a movement sheet for one day")
        parser.add_argument("--municipality", help="slug, name or id (needed if there are several)")
        parser.add_argument("--department", help="name, code or id: one department only")
        parser.add_argument("--vehicle", help="plate or id (movement sheets)")
        parser.add_argument("--language", choices=["el", "en"], default="el")
        parser.add_argument("--out", required=True, help="where to write the PDF")
        parser.add_argument("--xlsx", help="also write the tables as XLSX here")
        parser.add_argument("--csv", help="also write the first table as CSV here")

    def handle(self, *args, kind: str, **options):
        municipality = self._municipality(options["municipality"])
        department = self._department(municipality, options["department"])
        vehicle = self._vehicle(municipality, options["vehicle"])
        text = options["day"] or options["month"] or services.previous_month_key()
        try:
            period = Period.parse(text)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            run, pdf = services.report_pdf(
                municipality=municipality,
                kind=kind,
                period=period,
                department=department,
                vehicle=vehicle,
                language=options["language"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        except RuntimeError as exc:
            raise CommandError(f"the report failed: {exc}") from None
        out = Path(options["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(pdf)
        if options["xlsx"]:
            Path(options["xlsx"]).write_bytes(exports.to_xlsx(run.data, tz=municipality.timezone))
        if options["csv"]:
            Path(options["csv"]).write_bytes(exports.to_csv(run.data))
        summary = ", ".join(f"{k}={v}" for k, v in (run.data.get("summary") or {}).items())
        self.stdout.write(
            self.style.SUCCESS(f"{run.get_kind_display()} {run.period} -> {out} ({len(pdf)} bytes)")
        )
        if summary:
            self.stdout.write(summary)

    def _municipality(self, value: str | None) -> Municipality:
        if value:
            q = Q(slug=value) | Q(name=value)
            if value.isdigit():
                q |= Q(pk=int(value))
            found = Municipality.objects.filter(q).first()
            if found is None:
                raise CommandError(f"no municipality {value!r}")
            return found
        towns = list(Municipality.objects.all()[:2])
        if len(towns) != 1:
            raise CommandError("give --municipality (slug, name or id)")
        return towns[0]

    def _department(self, municipality: Municipality, value: str | None) -> Department | None:
        if not value:
            return None
        q = Q(name=value) | Q(code=value)
        if value.isdigit():
            q |= Q(pk=int(value))
        found = Department.objects.filter(q, municipality=municipality).first()
        if found is None:
            raise CommandError(f"no department {value!r} in {municipality}")
        return found

    def _vehicle(self, municipality: Municipality, value: str | None) -> Vehicle | None:
        if not value:
            return None
        q = Q(plate=value) | Q(machinery_plate=value)
        if value.isdigit():
            q |= Q(pk=int(value))
        found = Vehicle.objects.filter(q, municipality=municipality).first()
        if found is None:
            raise CommandError(f"no vehicle {value!r} in {municipality}")
        return found
