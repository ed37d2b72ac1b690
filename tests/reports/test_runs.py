"""Report runs: stored once per kind, period, scope and language; regenerated only on request;
progress while running; failures recorded; the page, the API, the exports, the command, and the
monthly beat with its e-mail."""

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab
from django.core import mail
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from fleet.choices import Role
from reports import services, tasks
from reports.models import ReportRun, ReportStatus
from tests.factories import (
    DepartmentFactory,
    FuelEntryFactory,
    ReportRunFactory,
    UserFactory,
    VehicleFactory,
)

ATHENS = ZoneInfo("Europe/Athens")
pytestmark = pytest.mark.django_db


@pytest.fixture
def refuels(municipality_a):
    dept = DepartmentFactory(municipality=municipality_a, name="Καθαριότητας")
    truck = VehicleFactory(municipality=municipality_a, department=dept, plate="ΧΝΑ-1001")
    for day, litres, amount in ((3, "80.00", "132.00"), (17, "70.50", "116.33")):
        FuelEntryFactory(
            municipality=municipality_a,
            vehicle=truck,
            filled_at=datetime(2025, 2, day, 9, tzinfo=ATHENS),
            litres=Decimal(litres),
            amount=Decimal(amount),
        )
    return truck


def _request(municipality, capture, **kw):
    kw.setdefault("kind", "fuel")
    kw.setdefault("period", "2025-02")
    kw.setdefault("language", "en")
    with capture(execute=True):
        return services.report_run_request(municipality=municipality, **kw)


def test_a_report_is_stored_once_and_regenerated_only_when_asked(
    refuels, municipality_a, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    run, queued = _request(municipality_a, capture)
    run.refresh_from_db()
    assert queued and run.status == ReportStatus.DONE and run.generations == 1
    first_file = run.file.name
    again, queued = _request(municipality_a, capture)
    again.refresh_from_db()
    assert again.pk == run.pk and not queued and again.generations == 1
    assert ReportRun.objects.count() == 1
    # Another language or another scope is another report.
    _request(municipality_a, capture, language="el")
    _request(municipality_a, capture, department=refuels.department)
    assert ReportRun.objects.count() == 3
    regenerated, queued = _request(municipality_a, capture, regenerate=True)
    regenerated.refresh_from_db()
    assert queued and regenerated.pk == run.pk and regenerated.generations == 2
    assert regenerated.file.storage.exists(regenerated.file.name)
    if regenerated.file.name != first_file:
        assert not regenerated.file.storage.exists(first_file)


def test_a_generation_delivered_twice_runs_once(
    refuels, municipality_a, django_capture_on_commit_callbacks
):
    run, _ = _request(municipality_a, django_capture_on_commit_callbacks)
    assert tasks.run_generate(run.pk) == "done"
    run.refresh_from_db()
    assert run.generations == 1


def test_progress_is_written_while_generating(
    refuels, municipality_a, django_capture_on_commit_callbacks, monkeypatch
):
    seen = {}
    real_render = services.render

    def watching(doc):
        row = ReportRun.objects.values("status", "progress", "stage").get()
        seen.update(row)
        return real_render(doc)

    monkeypatch.setattr(services, "render", watching)
    run, _ = _request(municipality_a, django_capture_on_commit_callbacks)
    assert seen == {"status": "running", "progress": 75, "stage": "drawing"}
    run.refresh_from_db()
    assert (run.status, run.progress) == ("done", 100)


def test_a_failure_is_recorded_and_a_new_request_retries(
    refuels, municipality_a, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(doc):
        raise OSError("disk full")

    monkeypatch.setattr(services, "render", broken)
    run, _ = _request(municipality_a, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.status == ReportStatus.FAILED and "disk full" in run.error
    monkeypatch.undo()
    run, queued = _request(municipality_a, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert queued and run.status == ReportStatus.DONE and run.error == ""


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"kind": "movement"}, "vehicle"),
        ({"period": "2025-02-03"}, "period"),
        ({"period": "2999-01"}, "period"),
        ({"period": "February"}, "period"),
        ({"kind": "payroll"}, "kind"),
    ],
)
def test_bad_requests_are_refused(municipality_a, kw, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.report_run_request(
            municipality=municipality_a, **{"kind": "fuel", "period": "2025-02", **kw}
        )
    assert field in exc.value.message_dict


def test_api_asks_once_reports_progress_and_serves_the_files(
    refuels, municipality_a, users_a, api_client_for, django_capture_on_commit_callbacks
):
    api = api_client_for(users_a[Role.MANAGER])
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/api/v1/reports/runs/", {"kind": "fuel", "period": "2025-02"}, format="json"
        )
    assert created.status_code == 201, created.content
    again = api.post("/api/v1/reports/runs/", {"kind": "fuel", "period": "2025-02"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    run_id = created.json()["id"]
    detail = api.get(f"/api/v1/reports/runs/{run_id}/").json()
    assert (detail["status"], detail["progress"]) == ("done", 100)
    assert detail["summary"]["litres"] == "150.50"
    pdf = api.get(f"/api/v1/reports/runs/{run_id}/pdf/")
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    exported = api.get(f"/api/v1/reports/runs/{run_id}/csv/", {"table": "vehicles"})
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Plate", "Vehicle", "Refuels", "Litres"]
    assert rows[1][0] == "ΧΝΑ-1001" and rows[1][3] == "150.50" and rows[1][4] == "248.33"
    assert rows[-1][0] == "Grand total"
    assert api.get(f"/api/v1/reports/runs/{run_id}/csv/", {"table": "nope"}).status_code == 404
    book = load_workbook(io.BytesIO(api.get(f"/api/v1/reports/runs/{run_id}/xlsx/").content))
    sheet = book["Fuel per vehicle"]
    assert sheet["A2"].value == "ΧΝΑ-1001"
    assert float(sheet["D2"].value) == 150.5 and float(sheet["E2"].value) == 248.33
    assert "Totals per department" in book.sheetnames
    with django_capture_on_commit_callbacks(execute=True):
        regenerated = api.post(f"/api/v1/reports/runs/{run_id}/regenerate/")
    assert regenerated.status_code == 202
    assert ReportRun.objects.get(pk=run_id).generations == 2


def test_auditor_reads_but_cannot_generate(municipality_a, users_a, api_client_for, web_client_for):
    run = ReportRunFactory(municipality=municipality_a)
    auditor = users_a[Role.AUDITOR]
    api = api_client_for(auditor)
    assert api.get(f"/api/v1/reports/runs/{run.pk}/").status_code == 200
    denied = api.post("/api/v1/reports/runs/", {"kind": "fuel", "period": "2025-02"})
    assert denied.status_code == 403
    web = web_client_for(auditor)
    assert web.get("/reports/").status_code == 200
    assert web.get(f"/reports/{run.pk}/pdf/").status_code == 200
    assert web.post("/reports/", {"kind": "fuel", "month": "2025-02"}).status_code == 403
    assert web.post(f"/reports/{run.pk}/regenerate/").status_code == 403
    driver = web_client_for(users_a[Role.DRIVER])
    assert driver.get("/reports/").status_code == 403


def test_reports_page_generates_and_lists(
    refuels, municipality_a, users_a, web_client_for, django_capture_on_commit_callbacks
):
    web = web_client_for(users_a[Role.MANAGER])
    page = web.get("/reports/")
    assert page.status_code == 200 and b'name="kind"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(
            "/reports/", {"kind": "fuel", "month": "2025-02", "language": "en"}, follow=False
        )
    assert response.status_code == 302
    run = ReportRun.objects.get()
    assert run.status == ReportStatus.DONE and run.requested_by == users_a[Role.MANAGER]
    listing = web.get("/reports/").content.decode()
    assert f'id="run-{run.pk}"' in listing and f"/reports/{run.pk}/pdf/" in listing
    assert f"/reports/{run.pk}/csv/?table=vehicles" in listing
    bad = web.post("/reports/", {"kind": "movement", "month": "2025-02", "language": "en"})
    assert bad.status_code == 400 and "one vehicle" in bad.content.decode()
    assert ReportRun.objects.count() == 1


def test_page_polls_unfinished_runs(municipality_a, users_a, web_client_for):
    pending = ReportRunFactory(municipality=municipality_a, status="running", progress=40)
    page = web_client_for(users_a[Role.MANAGER]).get("/reports/").content.decode()
    assert f"const ids = [{pending.pk}]" in page
    assert 'value="40"' in page


def test_command_writes_the_pdf_and_the_tables(refuels, municipality_a, tmp_path, pdf_text):
    out = tmp_path / "fuel.pdf"
    xlsx = tmp_path / "fuel.xlsx"
    call_command(
        "monthly_report",
        "fuel",
        "--month",
        "2025-02",
        "--municipality",
        municipality_a.slug,
        "--language",
        "en",
        "--out",
        str(out),
        "--xlsx",
        str(xlsx),
        stdout=io.StringIO(),
    )
    text = pdf_text(out.read_bytes())
    assert "Monthly fuel report" in text and "ΧΝΑ-1001" in text and "150.5" in text
    assert load_workbook(xlsx)["Fuel per vehicle"]["A2"].value == "ΧΝΑ-1001"
    with pytest.raises(CommandError, match="one vehicle"):
        call_command(
            "monthly_report",
            "movement",
            "--month",
            "2025-02",
            "--municipality",
            municipality_a.slug,
            "--out",
            str(out),
        )
    with pytest.raises(CommandError, match="no vehicle"):
        call_command(
            "monthly_report",
            "movement",
            "--day",
            "2025-02-03",
            "--vehicle",
            "ΖΖΖ-0000",
            "--municipality",
            municipality_a.slug,
            "--out",
            str(out),
        )


def test_beat_runs_on_the_first_of_the_month(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["reports-monthly"]
    assert entry["task"] == "reports.monthly"
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert schedule.day_of_month == {1}
    assert services.previous_month_key(datetime(2025, 3, 1).date()) == "2025-02"
    assert services.previous_month_key(datetime(2025, 1, 1).date()) == "2024-12"


def test_monthly_task_generates_and_emails_each_municipality_once(
    refuels, municipality_a, municipality_b, users_a, settings
):
    manager = UserFactory(
        municipality=municipality_a, role=Role.MANAGER, email="fleet@chania.example"
    )
    UserFactory(municipality=municipality_a, role=Role.DRIVER, email="driver@chania.example")
    UserFactory(municipality=municipality_b, role=Role.MANAGER, email="fleet@town-b.example")
    tasks.monthly("2025-02")
    assert ReportRun.objects.filter(status="done").count() == 4  # 2 kinds x 2 towns
    to_a = [m for m in mail.outbox if manager.email in m.to]
    assert len(to_a) == 1
    message = to_a[0]
    assert "driver@chania.example" not in message.to
    names = sorted(name for name, _content, _type in message.attachments)
    # In the installation's language (Greek in production, English in the tests' settings).
    language = settings.LANGUAGE_CODE
    assert names == [f"fuel-2025-02-all-{language}.pdf", f"maintenance-2025-02-all-{language}.pdf"]
    assert all(content.startswith(b"%PDF") for _n, content, _t in message.attachments)
    sent = len(mail.outbox)
    tasks.monthly("2025-02")
    assert len(mail.outbox) == sent and ReportRun.objects.count() == 4
