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
