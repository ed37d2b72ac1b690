"""factory_boy factories for every model, and the registry the URL walk uses.

When you add a model that a URL addresses by id, add its factory to ``FACTORY_FOR_MODEL`` so the
municipality-isolation test can create one in another municipality.
"""

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from fleet.choices import DocumentKind, Role, VehicleCategory
from fleet.models import Department, Document, Driver, DriverLicence, Municipality, Vehicle

PASSWORD = "test-pass-123"  # noqa: S105


class MunicipalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Municipality

    name = factory.Sequence(lambda n: f"Δήμος Δοκιμής {n}")
    name_en = factory.Sequence(lambda n: f"Test Municipality {n}")
    slug = factory.Sequence(lambda n: f"test-{n}")
    osm_file = "chania.osm.bz2"
    bbox_south, bbox_west, bbox_north, bbox_east = 35.5033, 24.0059, 35.5187, 24.0395
    center_lat, center_lon = 35.511, 24.0227


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Διεύθυνση {n}")
    depot_lat, depot_lon = 35.512, 24.02


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    municipality = factory.SubFactory(MunicipalityFactory)
    role = Role.ADMIN
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


_PLATE_LETTERS = "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"


def _plate(n: int) -> str:
    letters = "".join(_PLATE_LETTERS[(n // 14**i) % 14] for i in range(3))
    return f"{letters}-{1000 + n % 9000}"


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    municipality = factory.SubFactory(MunicipalityFactory)
    department = factory.SubFactory(
        DepartmentFactory, municipality=factory.SelfAttribute("..municipality")
    )
    plate = factory.Sequence(_plate)
    category = VehicleCategory.REFUSE_TRUCK
    make = "Mercedes-Benz"
    model = "Econic"
    year = 2018
    tank_capacity_l = Decimal("300")
    gross_weight_kg = 26000
    consumption_norm = Decimal("55")


class DriverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Driver

    municipality = factory.SubFactory(MunicipalityFactory)
    department = factory.SubFactory(
        DepartmentFactory, municipality=factory.SelfAttribute("..municipality")
    )
    first_name = "Γιώργος"
    last_name = factory.Sequence(lambda n: f"Παπαδάκης{n}")
    employee_number = factory.Sequence(lambda n: f"E{n:05d}")
    tag_id = factory.Sequence(lambda n: f"TAG{n:08d}")


class DriverLicenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DriverLicence

    driver = factory.SubFactory(DriverFactory)
    municipality = factory.SelfAttribute("driver.municipality")
    category = "C"
    expires_on = factory.LazyFunction(lambda: date.today() + timedelta(days=900))


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    municipality = factory.SubFactory(MunicipalityFactory)
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    kind = DocumentKind.INSURANCE
    number = factory.Sequence(lambda n: f"INS-{n}")
    issued_on = factory.LazyFunction(lambda: date.today() - timedelta(days=100))
    expires_on = factory.LazyFunction(lambda: date.today() + timedelta(days=265))
    file = factory.django.FileField(filename="scan.pdf", data=b"%PDF-1.4\n%%EOF\n")


# model -> callable(municipality) returning a saved instance owned by that municipality.
FACTORY_FOR_MODEL: dict = {
    Municipality: lambda municipality: municipality,
    Department: lambda municipality: DepartmentFactory(municipality=municipality),
    Vehicle: lambda municipality: VehicleFactory(municipality=municipality),
    Driver: lambda municipality: DriverFactory(municipality=municipality),
    Document: lambda municipality: DocumentFactory(municipality=municipality),
}
