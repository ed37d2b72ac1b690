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


# --- dispatch ------------------------------------------------------------------------------------
from django.utils import timezone as _tz  # noqa: E402

from dispatch import models as dispatch_models  # noqa: E402


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = dispatch_models.Job

    municipality = factory.SubFactory(MunicipalityFactory)
    kind = "bulky_waste"
    title = factory.Sequence(lambda n: f"Ογκώδη αντικείμενα {n}")
    address = "Χάληδων 20, Χανιά"
    # A point on a street of the Chania extract (Χάληδων).
    latitude, longitude = 35.5149, 24.0182
    service_minutes = 15


class ShiftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = dispatch_models.Shift

    municipality = factory.SubFactory(MunicipalityFactory)
    driver = factory.SubFactory(DriverFactory, municipality=factory.SelfAttribute("..municipality"))
    vehicle = None
    starts_at = factory.LazyFunction(lambda: _tz.now() - timedelta(hours=2))
    ends_at = factory.LazyFunction(lambda: _tz.now() + timedelta(hours=6))


class MovementOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = dispatch_models.MovementOrder

    municipality = factory.SubFactory(MunicipalityFactory)
    year = factory.LazyFunction(lambda: _tz.now().year)
    number = factory.Sequence(lambda n: n + 1)
    department = factory.SubFactory(
        DepartmentFactory, municipality=factory.SelfAttribute("..municipality")
    )
    requested_by = factory.SubFactory(
        UserFactory, municipality=factory.SelfAttribute("..municipality")
    )
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    purpose = "Μεταφορά υλικών"
    destination = "Σούδα"
    starts_at = factory.LazyFunction(lambda: _tz.now() + timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: _tz.now() + timedelta(days=1, hours=4))


class RecurrenceRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = dispatch_models.RecurrenceRule

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Αποκομιδή {n}")
    latitude, longitude = 35.5149, 24.0182
    weekdays = factory.LazyFunction(lambda: [0, 3])
    starts_on = factory.LazyFunction(lambda: date.today())
    window_start = "07:00"
    window_end = "09:00"


class UnloadSiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = dispatch_models.UnloadSite

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"ΣΜΑ {n}")
    latitude, longitude = 35.5080, 24.0330


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = dispatch_models.Plan

    municipality = factory.SubFactory(MunicipalityFactory)
    day = factory.LazyFunction(lambda: date.today())
    status = "draft"


FACTORY_FOR_MODEL.update(
    {
        dispatch_models.Job: lambda municipality: JobFactory(municipality=municipality),
        dispatch_models.Shift: lambda municipality: ShiftFactory(municipality=municipality),
        dispatch_models.MovementOrder: lambda m: MovementOrderFactory(municipality=m),
        dispatch_models.RecurrenceRule: lambda m: RecurrenceRuleFactory(municipality=m),
        dispatch_models.UnloadSite: lambda m: UnloadSiteFactory(municipality=m),
        dispatch_models.Plan: lambda municipality: PlanFactory(municipality=municipality),
    }
)


# --- Fuel and maintenance -----------------------------------------------------------------------
from datetime import UTC, datetime  # noqa: E402

from fleet.models import (  # noqa: E402
    Expense,
    FuelAnomaly,
    FuelCard,
    FuelCardProvider,
    FuelEntry,
    FuelImportRun,
    FuelStation,
    Reminder,
    RoadworthinessTest,
    ServicePlan,
    ServiceRecord,
    WorkOrder,
    WorkOrderPart,
)


class FuelStationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FuelStation

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Πρατήριο {n}")
    brand = "ΕΚΟ"
    latitude, longitude = 35.5120, 24.0300


class FuelCardProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FuelCardProvider

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Κάρτες {n}")
    columns = factory.LazyFunction(
        lambda: {
            "transaction_id": "Αρ. Συναλλαγής",
            "date": "Ημερομηνία",
            "time": "Ώρα",
            "plate": "Πινακίδα",
            "card_number": "Κάρτα",
            "litres": "Λίτρα",
            "unit_price": "Τιμή",
            "amount": "Ποσό",
            "station": "Πρατήριο",
        }
    )


class FuelCardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FuelCard

    municipality = factory.SubFactory(MunicipalityFactory)
    provider = factory.SubFactory(
        FuelCardProviderFactory, municipality=factory.SelfAttribute("..municipality")
    )
    number = factory.Sequence(lambda n: f"7077{n:012d}")
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )


class FuelImportRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FuelImportRun

    municipality = factory.SubFactory(MunicipalityFactory)
    provider = factory.SubFactory(
        FuelCardProviderFactory, municipality=factory.SelfAttribute("..municipality")
    )
    original_name = "statement.csv"
    file = factory.django.FileField(
        filename="statement.csv",
        data="Ημερομηνία;Πινακίδα;Λίτρα\n03/02/2025;ΚΗΥ-1234;50,00\n".encode(),
    )


class FuelEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FuelEntry

    municipality = factory.SubFactory(MunicipalityFactory)
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    filled_at = factory.LazyFunction(lambda: datetime(2025, 2, 3, 8, 0, tzinfo=UTC))
    litres = Decimal("80.00")
    unit_price = Decimal("1.6500")
    amount = Decimal("132.00")
    station_name = "ΕΚΟ Σούδας"


class FuelAnomalyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FuelAnomaly

    municipality = factory.SubFactory(MunicipalityFactory)
    fuel_entry = factory.SubFactory(
        FuelEntryFactory, municipality=factory.SelfAttribute("..municipality")
    )
    vehicle = factory.SelfAttribute("fuel_entry.vehicle")
    kind = "over_capacity"
    key = factory.LazyAttribute(lambda o: f"over_capacity:{o.fuel_entry.pk}")
    occurred_at = factory.SelfAttribute("fuel_entry.filled_at")
    facts = factory.LazyFunction(lambda: {"litres": 400.0, "tank_capacity_l": 300.0})


class ServicePlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServicePlan

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Σέρβις {n}")
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    category = ""
    every_km = 20000
    every_days = 365


class WorkOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkOrder

    municipality = factory.SubFactory(MunicipalityFactory)
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    title = factory.Sequence(lambda n: f"Βλάβη {n}")
    reported_at = factory.LazyFunction(lambda: datetime(2025, 2, 3, 8, 0, tzinfo=UTC))


class WorkOrderPartFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkOrderPart

    work_order = factory.SubFactory(WorkOrderFactory)
    municipality = factory.SelfAttribute("work_order.municipality")
    name = "Φίλτρο λαδιού"
    quantity = Decimal("1")
    unit_cost = Decimal("25.00")


class ServiceRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceRecord

    municipality = factory.SubFactory(MunicipalityFactory)
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    performed_on = date(2025, 1, 15)


class RoadworthinessTestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoadworthinessTest

    municipality = factory.SubFactory(MunicipalityFactory)
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    tested_on = date(2024, 10, 1)
    result = "pass"


class ExpenseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Expense

    municipality = factory.SubFactory(MunicipalityFactory)
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    kind = "insurance"
    incurred_on = date(2025, 1, 10)
    amount = Decimal("450.00")


class ReminderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reminder

    municipality = factory.SubFactory(MunicipalityFactory)
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    key = factory.LazyAttribute(lambda o: f"vehicle:{o.vehicle.pk}:insurance:")
    rule = "insurance"
    due_on = date(2025, 3, 1)


FACTORY_FOR_MODEL.update(
    {
        FuelStation: lambda municipality: FuelStationFactory(municipality=municipality),
        FuelCardProvider: lambda municipality: FuelCardProviderFactory(municipality=municipality),
        FuelCard: lambda municipality: FuelCardFactory(municipality=municipality),
        FuelImportRun: lambda municipality: FuelImportRunFactory(municipality=municipality),
        FuelEntry: lambda municipality: FuelEntryFactory(municipality=municipality),
        FuelAnomaly: lambda municipality: FuelAnomalyFactory(municipality=municipality),
        ServicePlan: lambda municipality: ServicePlanFactory(municipality=municipality),
        ServiceRecord: lambda municipality: ServiceRecordFactory(municipality=municipality),
        WorkOrder: lambda municipality: WorkOrderFactory(municipality=municipality),
        WorkOrderPart: lambda municipality: WorkOrderPartFactory(
            work_order=WorkOrderFactory(municipality=municipality)
        ),
        RoadworthinessTest: lambda municipality: RoadworthinessTestFactory(
            municipality=municipality
        ),
        Expense: lambda municipality: ExpenseFactory(municipality=municipality),
        Reminder: lambda municipality: ReminderFactory(municipality=municipality),
    }
)


# --- Reports -------------------------------------------------------------------------------------
from reports.models import FuelContract, ReportRun  # noqa: E402


class ReportRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReportRun

    municipality = factory.SubFactory(MunicipalityFactory)
    kind = "fuel"
    # A different month for each run: a run is unique per kind, period, scope and language.
    period_start = factory.Sequence(lambda n: date(2010 + n // 12, n % 12 + 1, 1))
    period = factory.LazyAttribute(lambda o: f"{o.period_start:%Y-%m}")
    period_end = factory.LazyAttribute(
        lambda o: (o.period_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    )
    scope = "all"
    language = "el"
    status = "done"
    progress = 100
    file = factory.django.FileField(filename="fuel-2025-02.pdf", data=b"%PDF-1.4\n%%EOF\n")
    data = factory.LazyFunction(
        lambda: {
            "summary": {"litres": "0"},
            "tables": [
                {
                    "key": "vehicles",
                    "title": "Fuel per vehicle",
                    "columns": [{"key": "plate", "label": "Plate", "kind": "text", "decimals": 0}],
                    "rows": [],
                    "totals": None,
                }
            ],
        }
    )


class FuelContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FuelContract

    municipality = factory.SubFactory(MunicipalityFactory)
    reference = factory.Sequence(lambda n: f"ΣΥΜ-{n}/2025")
    supplier = "ΕΚΟ ΑΒΕΕ"
    starts_on = date(2025, 1, 1)
    ends_on = date(2025, 12, 31)
    amount = Decimal("100000.00")


FACTORY_FOR_MODEL.update(
    {
        ReportRun: lambda municipality: ReportRunFactory(municipality=municipality),
        FuelContract: lambda municipality: FuelContractFactory(municipality=municipality),
    }
)


# --- telematics ---------------------------------------------------------------------------
from telematics.models import Device  # noqa: E402


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    municipality = factory.SubFactory(MunicipalityFactory)
    unique_id = factory.Sequence(lambda n: f"35000000{n:07d}")
    protocol = "teltonika"


FACTORY_FOR_MODEL[Device] = lambda municipality: DeviceFactory(municipality=municipality)


# --- motion (trips, stops, events, daily summaries, geofences) -----------------------------

from telematics.motion_models import (  # noqa: E402
    DailySummary,
    Geofence,
    MotionEvent,
    Stop,
    Trip,
)

_MOTION_T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


class _MotionOutputFactory(factory.django.DjangoModelFactory):
    municipality = factory.SubFactory(MunicipalityFactory)
    device = factory.SubFactory(DeviceFactory, municipality=factory.SelfAttribute("..municipality"))
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    emitted_at = _MOTION_T0


class TripFactory(_MotionOutputFactory):
    class Meta:
        model = Trip

    start_time = _MOTION_T0
    end_time = datetime(2026, 3, 10, 8, 20, tzinfo=UTC)
    start_lat, start_lon, end_lat, end_lon = 35.5138, 24.0180, 35.5000, 24.0400
    start_place = "Πλατεία 1866"
    end_place = "Σούδα"
    distance_m = 5200.0
    gps_distance_m = 5150.0
    distance_source = "gps"
    duration_s = 1200.0
    moving_s = 1000.0
    idle_s = 200.0
    max_speed_kmh = 52.0
    avg_speed_kmh = 15.6
    track = [[35.5138, 24.0180], [35.5000, 24.0400]]


class StopFactory(_MotionOutputFactory):
    class Meta:
        model = Stop

    start_time = datetime(2026, 3, 10, 8, 20, tzinfo=UTC)
    end_time = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    latitude, longitude = 35.5000, 24.0400
    duration_s = 2400.0


class MotionEventFactory(_MotionOutputFactory):
    class Meta:
        model = MotionEvent

    type = "overspeed"
    time = datetime(2026, 3, 10, 8, 10, tzinfo=UTC)
    latitude, longitude = 35.5100, 24.0250
    facts = factory.LazyFunction(lambda: {"max_speed_kmh": 71.0, "limit_kmh": 50.0})


class DailySummaryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DailySummary

    municipality = factory.SubFactory(MunicipalityFactory)
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    day = date(2026, 3, 10)
    distance_m = 5200.0
    trip_count = 1


class GeofenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Geofence

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Αμαξοστάσιο {n}")
    role = "depot"
    kind = "polygon"
    geometry = factory.LazyFunction(
        lambda: {
            "type": "Polygon",
            "coordinates": [
                [[24.01, 35.50], [24.03, 35.50], [24.03, 35.52], [24.01, 35.52], [24.01, 35.50]]
            ],
        }
    )


FACTORY_FOR_MODEL.update(
    {
        Trip: lambda municipality: TripFactory(municipality=municipality),
        Stop: lambda municipality: StopFactory(municipality=municipality),
        MotionEvent: lambda municipality: MotionEventFactory(municipality=municipality),
        DailySummary: lambda municipality: DailySummaryFactory(municipality=municipality),
        Geofence: lambda municipality: GeofenceFactory(municipality=municipality),
    }
)


# --- notifications -------------------------------------------------------------------------

from notifications.models import Notification, NotificationRule  # noqa: E402


class NotificationRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationRule

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Υπερβάσεις ταχύτητας {n}")
    event_types = factory.LazyFunction(lambda: ["overspeed"])
    roles = factory.LazyFunction(lambda: [Role.MANAGER])


class NotificationFactory(factory.django.DjangoModelFactory):
    """A notification for the municipality's first administrator (a notification is its
    recipient's alone; the isolation walk's administrator must be able to open their own)."""

    class Meta:
        model = Notification

    municipality = factory.SubFactory(MunicipalityFactory)
    recipient = factory.LazyAttribute(
        lambda o: (
            get_user_model()
            .objects.filter(municipality=o.municipality, role=Role.ADMIN)
            .order_by("pk")
            .first()
            or UserFactory(municipality=o.municipality, role=Role.ADMIN)
        )
    )
    rule = factory.SubFactory(
        NotificationRuleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    event_key = factory.Sequence(lambda n: f"0:overspeed:{n}")
    event_type = "overspeed"
    event_time = _MOTION_T0
    vehicle = factory.SubFactory(
        VehicleFactory, municipality=factory.SelfAttribute("..municipality")
    )
    latitude, longitude = 35.5138, 24.0180
    facts = factory.LazyFunction(lambda: {"max_speed_kmh": 72.0, "limit_kmh": 50})


FACTORY_FOR_MODEL.update(
    {
        NotificationRule: lambda municipality: NotificationRuleFactory(municipality=municipality),
        Notification: lambda municipality: NotificationFactory(municipality=municipality),
    }
)
