from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Fleet manager")
    DISPATCHER = "dispatcher", _("Dispatcher")
    MECHANIC = "mechanic", _("Mechanic")
    DRIVER = "driver", _("Driver")
    AUDITOR = "auditor", _("Auditor")


class VehicleKind(models.TextChoices):
    VEHICLE = "vehicle", _("Road vehicle")
    MACHINERY = "machinery", _("Machinery")


class VehicleCategory(models.TextChoices):
    REFUSE_TRUCK = "refuse_truck", _("Refuse truck")
    SWEEPER = "sweeper", _("Sweeper")
    TIPPER = "tipper", _("Tipper")
    CRANE_TRUCK = "crane_truck", _("Crane truck")
    WATER_TANKER = "water_tanker", _("Water tanker")
    PICKUP = "pickup", _("Pickup")
    VAN = "van", _("Van")
    BUS = "bus", _("Bus")
    PASSENGER_CAR = "passenger_car", _("Passenger car")
    MOTORCYCLE = "motorcycle", _("Motorcycle")
    EXCAVATOR = "excavator", _("Excavator")
    LOADER = "loader", _("Loader")
    GRADER = "grader", _("Grader")
    TRACTOR = "tractor", _("Tractor")
    BASKET_TRUCK = "basket_truck", _("Basket truck")
    OTHER = "other", _("Other")


MACHINERY_CATEGORIES = frozenset(
    {
        VehicleCategory.EXCAVATOR,
        VehicleCategory.LOADER,
        VehicleCategory.GRADER,
        VehicleCategory.TRACTOR,
    }
)


class FuelType(models.TextChoices):
    DIESEL = "diesel", _("Diesel")
    PETROL = "petrol", _("Petrol")
    LPG = "lpg", _("LPG")
    CNG = "cng", _("CNG")
    ELECTRIC = "electric", _("Electric")
    HYBRID = "hybrid", _("Hybrid")


class Meter(models.TextChoices):
    ODOMETER = "km", _("Odometer (km)")
    HOURS = "hours", _("Engine hours")
    BOTH = "both", _("Odometer and engine hours")


class VehicleStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    ON_JOB = "on_job", _("On job")
    IN_MAINTENANCE = "in_maintenance", _("In maintenance")
    OUT_OF_SERVICE = "out_of_service", _("Out of service")
    RETIRED = "retired", _("Retired")


class LicenceCategory(models.TextChoices):
    AM = "AM", "AM"
    A = "A", "A"
    B = "B", "B"
    BE = "BE", "BE"
    C1 = "C1", "C1"
    C = "C", "C"
    CE = "CE", "CE"
    D1 = "D1", "D1"
    D = "D", "D"
    DE = "DE", "DE"


class DocumentKind(models.TextChoices):
    INSURANCE = "insurance", _("Insurance")
    KTEO = "kteo", _("Roadworthiness test (KTEO)")
    ROAD_TAX = "road_tax", _("Road tax")
    REGISTRATION = "registration", _("Registration certificate")
    TACHOGRAPH = "tachograph", _("Tachograph calibration")
    LICENCE = "licence", _("Driving licence")
    PEI = "pei", _("Certificate of professional competence (PEI)")
    OPERATOR_LICENCE = "operator_licence", _("Machinery operator licence")
    OTHER = "other", _("Other")
