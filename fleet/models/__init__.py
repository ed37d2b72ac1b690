from fleet.models.register import (
    Department,
    Document,
    Driver,
    DriverLicence,
    Municipality,
    User,
    Vehicle,
)

__all__ = ["Department", "Document", "Driver", "DriverLicence", "Municipality", "User", "Vehicle"]
from fleet.models.fuel import (  # noqa: E402
    FuelAnomaly,
    FuelCard,
    FuelCardProvider,
    FuelEntry,
    FuelImportRun,
    FuelStation,
)
from fleet.models.maintenance import (  # noqa: E402
    Expense,
    Reminder,
    RoadworthinessTest,
    ServicePlan,
    ServiceRecord,
    WorkOrder,
    WorkOrderPart,
)

__all__ += [
    "Expense",
    "FuelAnomaly",
    "FuelCard",
    "FuelCardProvider",
    "FuelEntry",
    "FuelImportRun",
    "FuelStation",
    "Reminder",
    "RoadworthinessTest",
    "ServicePlan",
    "ServiceRecord",
    "WorkOrder",
    "WorkOrderPart",
]
