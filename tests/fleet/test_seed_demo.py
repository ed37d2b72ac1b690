import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from fleet.choices import Role
from fleet.models import Department, Document, Driver, DriverLicence, Municipality, User, Vehicle

pytestmark = pytest.mark.django_db

MODELS = (Municipality, Department, User, Vehicle, Driver, DriverLicence, Document)


def _snapshot():
    return {m.__name__: sorted(m.objects.values_list("pk", flat=True)) for m in MODELS} | {
        "vehicle_rows": list(Vehicle.objects.order_by("pk").values_list("plate", "updated_at")),
    }


def test_seed_demo_builds_chania_and_rethymno_and_is_idempotent(settings):
    settings.KINISI_DEMO_PASSWORD = "demo-pass-42"
    call_command("seed_demo", "--quiet-logins")
    first = _snapshot()
    call_command("seed_demo", "--quiet-logins")
    assert _snapshot() == first

    chania = Municipality.objects.get(slug="chania")
    rethymno = Municipality.objects.get(slug="rethymno")
    assert chania.name == "Δήμος Χανίων"
    assert 55 <= Vehicle.objects.filter(municipality=chania).count() <= 70
    assert 65 <= Driver.objects.filter(municipality=chania).count() <= 75
    assert 3 <= Vehicle.objects.filter(municipality=rethymno).count() <= 10
    categories = set(Vehicle.objects.filter(municipality=chania).values_list("category", flat=True))
    assert {"refuse_truck", "sweeper", "excavator", "van", "passenger_car"} <= categories
    assert Department.objects.filter(municipality=chania).count() >= 4
    assert (
        Vehicle.objects.filter(municipality=chania, kind="machinery")
        .exclude(machinery_plate="")
        .count()
        >= 4
    )

    from django.utils import timezone

    today = timezone.localdate()
    docs = Document.objects.filter(municipality=chania)
    assert docs.filter(expires_on__lt=today).count() >= 1
    assert (
        docs.filter(
            expires_on__gte=today, expires_on__lte=today.replace(year=today.year + 1)
        ).count()
        > 10
    )

    for role in Role.values:
        user = authenticate(username=role, password="demo-pass-42")
        assert user is not None and user.role == role and user.municipality == chania
        other = authenticate(username=f"rethymno-{role}", password="demo-pass-42")
        assert other is not None and other.municipality == rethymno
    assert Driver.objects.get(user__username="driver").municipality == chania
