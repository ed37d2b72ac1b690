from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from fleet.choices import Role
from fleet.models import Document, Vehicle
from tests.factories import DocumentFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def test_vehicle_created_from_the_form(users_a, web_client_for):
    client = web_client_for(users_a[Role.MANAGER])
    response = client.post(
        "/vehicles/new/",
        {
            "kind": "vehicle",
            "plate": "kbx 4321",
            "category": "van",
            "fuel_type": "diesel",
            "meter": "km",
            "status": "available",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    vehicle = Vehicle.objects.get()
    assert vehicle.plate == "ΚΒΧ-4321"
    assert response["Location"] == f"/vehicles/{vehicle.pk}/"


def test_bad_plate_in_the_form_shows_a_greek_message(users_a, client):
    client.force_login(users_a[Role.MANAGER])
    client.cookies["django_language"] = "el"
    response = client.post(
        "/vehicles/new/",
        {
            "kind": "vehicle",
            "plate": "ΛΛΛ-1",
            "category": "van",
            "fuel_type": "diesel",
            "meter": "km",
            "status": "available",
            "tank_capacity_l": "-3",
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "δεν είναι έγκυρη ελληνική πινακίδα" in text
    assert Vehicle.objects.count() == 0


def _doc_form(vehicle, upload):
    return {
        "vehicle": vehicle.pk,
        "kind": "insurance",
        "number": "A1",
        "issued_on": "2026-01-01",
        "expires_on": "2027-01-01",
        "file": upload,
    }


def test_pdf_document_upload_is_accepted(users_a, municipality_a, web_client_for):
    vehicle = VehicleFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MANAGER])
    upload = SimpleUploadedFile("policy.pdf", b"%PDF-1.7\n1 0 obj\n%%EOF\n", "application/pdf")
    response = client.post("/documents/new/", _doc_form(vehicle, upload))
    assert response.status_code == 302
    document = Document.objects.get()
    download = client.get(f"/documents/{document.pk}/file/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("virus.exe", b"MZ\x90\x00", "Only PDF, PNG and JPEG"),
        ("fake.pdf", b"<html>not a pdf</html>", "not a valid PDF"),
    ],
)
def test_non_pdf_or_image_upload_is_refused(
    name, content, message, users_a, municipality_a, web_client_for
):
    vehicle = VehicleFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MANAGER])
    response = client.post("/documents/new/", _doc_form(vehicle, SimpleUploadedFile(name, content)))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Document.objects.count() == 0


def test_oversized_upload_is_refused(users_a, municipality_a, web_client_for, settings):
    settings.KINISI_DOCUMENT_MAX_BYTES = 1000
    vehicle = VehicleFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MANAGER])
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * 5000)
    response = client.post("/documents/new/", _doc_form(vehicle, big))
    assert response.status_code == 200
    assert "the limit is" in response.content.decode()
    assert Document.objects.count() == 0


def test_expiry_before_issue_in_the_form(users_a, municipality_a, web_client_for):
    vehicle = VehicleFactory(municipality=municipality_a)
    client = web_client_for(users_a[Role.MANAGER])
    form = _doc_form(vehicle, SimpleUploadedFile("a.pdf", b"%PDF-1.4\n"))
    form["expires_on"] = "2025-01-01"
    response = client.post("/documents/new/", form)
    assert response.status_code == 200
    assert "cannot be before the issue date" in response.content.decode()


def test_vehicle_list_search_finds_any_plate_spelling(users_a, municipality_a, web_client_for):
    VehicleFactory(municipality=municipality_a, plate="ΚΗΥ-1234")
    VehicleFactory(municipality=municipality_a, plate="ΡΕΑ-5555")
    client = web_client_for(users_a[Role.DISPATCHER])
    text = client.get("/vehicles/", {"q": "khy1234"}).content.decode()
    assert "ΚΗΥ-1234" in text
    assert "ΡΕΑ-5555" not in text


def test_dashboard_counts_and_expiring(users_a, municipality_a, web_client_for):
    today = timezone.localdate()
    VehicleFactory.create_batch(2, municipality=municipality_a, status="available")
    VehicleFactory(municipality=municipality_a, status="in_maintenance")
    soon = DocumentFactory(
        municipality=municipality_a, number="SOON-1", expires_on=today + timedelta(days=10)
    )
    DocumentFactory(
        municipality=municipality_a, number="LATER-1", expires_on=today + timedelta(days=200)
    )
    response = web_client_for(users_a[Role.MANAGER]).get("/")
    dashboard = response.context["dashboard"]
    counts = {value: n for value, _label, n in dashboard.vehicles_by_status}
    # Each DocumentFactory also makes its own vehicle (available): 2 + 2 = 4.
    assert counts["available"] == 4
    assert counts["in_maintenance"] == 1
    owners = [item.owner for item in dashboard.expiring]
    assert str(soon.vehicle) in owners
    assert all(item.expires_on <= today + timedelta(days=30) for item in dashboard.expiring)


def test_pages_render_in_greek_by_default(users_a, client, settings):
    settings.LANGUAGE_CODE = "el"  # the project's default; the test suite runs in English
    client.force_login(users_a[Role.MANAGER])
    # Greek first: a browser that prefers English still gets Greek until the user switches.
    text = client.get("/vehicles/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "Οχήματα και μηχανήματα έργου" in text


def test_driver_is_sent_to_the_drivers_page(users_a, web_client_for):
    response = web_client_for(users_a[Role.DRIVER]).get("/")
    assert response.status_code == 302
    assert response["Location"] == "/me/"


def test_switching_to_english_sticks(users_a, client, settings):
    settings.LANGUAGE_CODE = "el"
    client.force_login(users_a[Role.MANAGER])
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/vehicles/"})
    assert response.status_code == 302
    assert "Vehicles and machinery" in client.get("/vehicles/").content.decode()
