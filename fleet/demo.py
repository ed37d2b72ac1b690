"""The demo municipalities: Δήμος Χανίων (about 60 vehicles) and a small Δήμος Ρεθύμνης.

Deterministic (a fixed random seed) and idempotent: every row is looked up by its natural key and
created only if missing, so a second run changes nothing.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import translation

from fleet.choices import DocumentKind, FuelType, Meter, Role, VehicleCategory, VehicleKind
from fleet.models import Department, Document, Driver, Municipality, User, Vehicle
from fleet.services import register as services

C = VehicleCategory

# (category, count, make, model, fuel, tank l, gross kg, norm, meter)
_CHANIA_FLEET = {
    "Καθαριότητας": [
        (C.REFUSE_TRUCK, 16, "Mercedes-Benz", "Econic 2630", FuelType.DIESEL, 300, 26000, 55, "km"),
        (C.REFUSE_TRUCK, 4, "Iveco", "Eurocargo 120", FuelType.DIESEL, 200, 12000, 38, "km"),
        (C.SWEEPER, 5, "Bucher", "CityCat 5006", FuelType.DIESEL, 150, 11000, 6.5, "hours"),
        (C.TIPPER, 2, "MAN", "TGM 18.290", FuelType.DIESEL, 250, 18000, 32, "km"),
        (C.PICKUP, 3, "Toyota", "Hilux", FuelType.DIESEL, 80, 3200, 9.5, "km"),
        (C.WATER_TANKER, 1, "Iveco", "Trakker", FuelType.DIESEL, 300, 19000, 40, "km"),
    ],
    "Πρασίνου": [
        (C.PICKUP, 4, "Nissan", "Navara", FuelType.DIESEL, 80, 3000, 10, "km"),
        (C.TIPPER, 2, "Isuzu", "NPR 75", FuelType.DIESEL, 120, 7500, 18, "km"),
        (C.TRACTOR, 1, "New Holland", "T5.100", FuelType.DIESEL, 150, 5000, 7, "hours"),
        (C.WATER_TANKER, 2, "Mercedes-Benz", "Atego 1318", FuelType.DIESEL, 200, 13000, 30, "km"),
    ],
    "Τεχνικών Υπηρεσιών": [
        (C.EXCAVATOR, 2, "JCB", "3CX", FuelType.DIESEL, 160, 8000, 8, "hours"),
        (C.LOADER, 2, "Caterpillar", "908M", FuelType.DIESEL, 120, 6500, 7.5, "hours"),
        (C.GRADER, 1, "Komatsu", "GD555", FuelType.DIESEL, 300, 15000, 14, "hours"),
        (C.CRANE_TRUCK, 1, "Volvo", "FL 250", FuelType.DIESEL, 200, 16000, 35, "km"),
        (C.VAN, 3, "Ford", "Transit", FuelType.DIESEL, 80, 3500, 10.5, "km"),
        (C.TIPPER, 2, "Mitsubishi", "Fuso Canter", FuelType.DIESEL, 100, 6500, 16, "km"),
    ],
    "Ηλεκτροφωτισμού": [
        (C.BASKET_TRUCK, 2, "Iveco", "Daily 70C", FuelType.DIESEL, 100, 7000, 15, "km"),
        (C.VAN, 2, "Renault", "Master", FuelType.DIESEL, 80, 3500, 10, "km"),
    ],
    "Διοικητικών Υπηρεσιών": [
        (C.PASSENGER_CAR, 4, "Toyota", "Yaris Hybrid", FuelType.HYBRID, 36, 1500, 4.5, "km"),
        (C.PASSENGER_CAR, 1, "Nissan", "Leaf", FuelType.ELECTRIC, 0, 1600, 0, "km"),
        (C.BUS, 2, "Mercedes-Benz", "Sprinter 516", FuelType.DIESEL, 100, 5000, 14, "km"),
        (C.MOTORCYCLE, 3, "Honda", "PCX 125", FuelType.PETROL, 8, 300, 2.5, "km"),
    ],
}

_RETHYMNO_FLEET = {
    "Καθαριότητας": [
        (C.REFUSE_TRUCK, 3, "Mercedes-Benz", "Atego 1524", FuelType.DIESEL, 200, 15000, 40, "km"),
        (C.PICKUP, 1, "Toyota", "Hilux", FuelType.DIESEL, 80, 3200, 9.5, "km"),
    ],
    "Τεχνικών Υπηρεσιών": [
        (C.LOADER, 1, "JCB", "437", FuelType.DIESEL, 200, 13000, 9, "hours"),
        (C.VAN, 1, "Fiat", "Ducato", FuelType.DIESEL, 90, 3500, 10, "km"),
    ],
}

_FIRST = [
    "Γιώργος",
    "Νίκος",
    "Μανώλης",
    "Γιάννης",
    "Κώστας",
    "Δημήτρης",
    "Μιχάλης",
    "Στέλιος",
    "Αντώνης",
    "Παύλος",
    "Βασίλης",
    "Σταύρος",
    "Μαρία",
    "Ελένη",
    "Κατερίνα",
    "Ευτυχία",
    "Αλέξανδρος",
    "Ιωσήφ",
    "Χαράλαμπος",
    "Ζαχαρίας",
]
_LAST = [
    "Παπαδάκης",
    "Μαρκάκης",
    "Βλαχάκης",
    "Κουκουράκης",
    "Τσαγκαράκης",
    "Ψαρουδάκης",
    "Σπανουδάκης",
    "Δασκαλάκης",
    "Χατζηδάκης",
    "Λιονάκης",
    "Μαυρογιάννης",
    "Φραγκιαδάκης",
    "Καλογεράκης",
    "Πετράκης",
    "Αρχοντάκης",
    "Ζερβάκης",
    "Μπαντουβάς",
    "Κριτσωτάκης",
]

_MACHINERY = {C.EXCAVATOR, C.LOADER, C.GRADER, C.TRACTOR}
_HEAVY = {C.REFUSE_TRUCK, C.SWEEPER, C.TIPPER, C.WATER_TANKER, C.CRANE_TRUCK, C.BASKET_TRUCK}


@dataclass(frozen=True)
class DemoTown:
    name: str
    name_en: str
    slug: str
    osm_file: str
    bbox: tuple[float, float, float, float]
    plate_prefixes: tuple[str, ...]
    fleet: dict
    drivers: int
    user_prefix: str


CHANIA = DemoTown(
    "Δήμος Χανίων",
    "Municipality of Chania",
    "chania",
    "chania.osm.bz2",
    (35.5033, 24.0059, 35.5187, 24.0395),
    ("ΚΗΙ", "ΧΝΗ"),
    _CHANIA_FLEET,
    70,
    "",
)
RETHYMNO = DemoTown(
    "Δήμος Ρεθύμνης",
    "Municipality of Rethymno",
    "rethymno",
    "rethymno.osm.bz2",
    (35.3615, 24.4685, 35.3708, 24.4878),
    ("ΡΕΑ",),
    _RETHYMNO_FLEET,
    6,
    "rethymno-",
)


def seed_all(*, password: str, today: date) -> dict[str, Municipality]:
    towns = {
        town.slug: seed_town(town, password=password, today=today) for town in (CHANIA, RETHYMNO)
    }
    # The installation's operator: belongs to no municipality, uses the Django admin.
    if not User.objects.filter(username="root").exists():
        User.objects.create_superuser("root", "root@example.org", password, role=Role.ADMIN)
    return towns


@transaction.atomic
def seed_town(town: DemoTown, *, password: str, today: date) -> Municipality:
    rng = random.Random(town.slug)
    south, west, north, east = town.bbox
    municipality, _ = Municipality.objects.get_or_create(
        slug=town.slug,
        defaults={
            "name": town.name,
            "name_en": town.name_en,
            "osm_file": town.osm_file,
            "bbox_south": south,
            "bbox_west": west,
            "bbox_north": north,
            "bbox_east": east,
            "center_lat": round((south + north) / 2, 5),
            "center_lon": round((west + east) / 2, 5),
        },
    )
    departments = {}
    for index, name in enumerate(sorted(town.fleet.keys() | {"Διοικητικών Υπηρεσιών"})):
        departments[name], _ = Department.objects.get_or_create(
            municipality=municipality,
            name=f"Διεύθυνση {name}",
            defaults={
                "code": f"D{index + 1}",
                "depot_lat": round(rng.uniform(south, north), 5),
                "depot_lon": round(rng.uniform(west, east), 5),
            },
        )
    vehicles = _seed_vehicles(town, municipality, departments, rng, today)
    drivers = _seed_drivers(town, municipality, departments, rng, today)
    _seed_documents(municipality, vehicles, drivers, rng, today)
    _seed_users(town, municipality, departments, drivers, password)
    return municipality


def _seed_vehicles(town, municipality, departments, rng, today) -> list[Vehicle]:
    vehicles = []
    serial = 0
    for dept_name, rows in sorted(town.fleet.items()):
        for category, count, make, model, fuel, tank, gross, norm, meter in rows:
            for _ in range(count):
                serial += 1
                machinery = category in _MACHINERY
                prefix = town.plate_prefixes[serial % len(town.plate_prefixes)]
                plate = "" if machinery else f"{prefix}-{1000 + serial * 37 % 9000}"
                me_plate = f"ΜΕ-{100000 + serial * 811 % 899999}" if machinery else ""
                existing = Vehicle.objects.filter(
                    municipality=municipality,
                    **({"machinery_plate": me_plate} if machinery else {"plate": plate}),
                ).first()
                year = rng.randint(2004, 2023)
                if existing:
                    vehicles.append(existing)
                    continue
                vehicles.append(
                    services.vehicle_create(
                        municipality=municipality,
                        department=departments[dept_name],
                        kind=VehicleKind.MACHINERY if machinery else VehicleKind.VEHICLE,
                        plate=plate,
                        machinery_plate=me_plate,
                        vin=f"WDB{rng.randrange(10**13, 10**14)}",
                        category=category,
                        make=make,
                        model=model,
                        year=year,
                        fuel_type=fuel,
                        tank_capacity_l=Decimal(tank) if tank else None,
                        meter=Meter.HOURS if meter == "hours" else Meter.ODOMETER,
                        odometer_km=None
                        if meter == "hours"
                        else Decimal(rng.randint(20, 400) * 1000),
                        engine_hours=Decimal(rng.randint(800, 9000)) if meter == "hours" else None,
                        gross_weight_kg=gross,
                        height_m=Decimal("3.60") if category in _HEAVY else Decimal("2.00"),
                        seats=17
                        if category == C.BUS
                        else (5 if category == C.PASSENGER_CAR else 2),
                        payload_kg=max(gross // 3, 100),
                        first_registration=date(year, rng.randint(1, 12), rng.randint(1, 28)),
                        acquisition_date=date(year, rng.randint(1, 12), rng.randint(1, 28)),
                        acquisition_cost=Decimal(rng.randint(15, 250) * 1000),
                        consumption_norm=Decimal(str(norm)) if norm else None,
                        has_tachograph=category in _HEAVY and gross > 3500,
                    )
                )
    return vehicles


def _seed_drivers(town, municipality, departments, rng, today) -> list[Driver]:
    drivers = []
    dept_list = sorted(departments.values(), key=lambda d: d.code)
    for n in range(1, town.drivers + 1):
        employee_number = f"{town.slug[:2].upper()}{n:04d}"
        existing = Driver.objects.filter(
            municipality=municipality, employee_number=employee_number
        ).first()
        if existing:
            drivers.append(existing)
            continue
        dept = dept_list[n % len(dept_list)]
        heavy = n % 3 != 0
        expiry = today + timedelta(days=rng.randint(60, 3650))
        licences = [{"category": "B", "expires_on": expiry}]
        if heavy:
            licences += [
                {"category": "C", "expires_on": expiry},
                {"category": "CE", "expires_on": expiry},
            ]
        if n % 10 == 0:
            licences.append({"category": "D", "expires_on": expiry})
        operator = n % 7 == 0
        drivers.append(
            services.driver_create(
                municipality=municipality,
                department=dept,
                first_name=rng.choice(_FIRST),
                last_name=rng.choice(_LAST),
                employee_number=employee_number,
                phone=f"69{rng.randrange(10**7, 10**8)}",
                licence_number=f"{rng.randrange(10**8, 10**9)}",
                pei_expiry=today + timedelta(days=rng.randint(-20, 1500)) if heavy else None,
                operator_licence_specialty="Χειριστής εκσκαφέα" if operator else "",
                operator_licence_group="Ομάδα Α" if operator else "",
                operator_licence_expiry=today + timedelta(days=rng.randint(100, 2000))
                if operator
                else None,
                tag_id=f"{town.slug[:1].upper()}{rng.randrange(16**9, 16**10):010X}",
                licences=licences,
            )
        )
    return drivers


def _seed_documents(municipality, vehicles, drivers, rng, today) -> None:
    # Most documents are comfortably valid; a few expire within 30 days and two have expired,
    # so the dashboard and the compliance pages have something to show.
    for index, vehicle in enumerate(vehicles):
        for kind, days in (
            (DocumentKind.INSURANCE, 365),
            (DocumentKind.KTEO, 730),
            (DocumentKind.ROAD_TAX, 365),
        ):
            number = f"{kind[:3].upper()}-{vehicle.pk:05d}"
            if Document.objects.filter(vehicle=vehicle, kind=kind, number=number).exists():
                continue
            if kind == DocumentKind.INSURANCE and index in (3, 17):
                expires = today - timedelta(days=5 + index)
            elif index % 9 == 0:
                expires = today + timedelta(days=rng.randint(3, 28))
            else:
                expires = today + timedelta(days=rng.randint(45, days))
            services.document_create(
                municipality=municipality,
                vehicle=vehicle,
                kind=kind,
                number=number,
                issued_on=expires - timedelta(days=days),
                expires_on=expires,
            )
    for driver in drivers[::10]:
        number = f"LIC-{driver.pk:05d}"
        if not Document.objects.filter(driver=driver, number=number).exists():
            lic = driver.licences.order_by("expires_on").first()
            services.document_create(
                municipality=municipality,
                driver=driver,
                kind=DocumentKind.LICENCE,
                number=number,
                expires_on=lic.expires_on if lic else None,
            )


def _seed_users(town, municipality, departments, drivers, password) -> None:
    with translation.override("el"):
        role_names = {role: str(Role(role).label) for role in Role.values}
    for role in Role.values:
        username = f"{town.user_prefix}{role}"
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "municipality": municipality,
                "role": role,
                "first_name": role_names[role],
                "email": f"{username}@example.org",
            },
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        if role == Role.DRIVER and drivers:
            driver = drivers[0]
            if driver.user_id is None:
                services.driver_update(driver=driver, user=user)
