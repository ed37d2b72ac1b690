"""Motion processing on the database: the task, the store, summaries, geofence uploads."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from telematics.models import (
    DailySummary,
    Device,
    DeviceAssignment,
    Geofence,
    MotionCheckpoint,
    MotionEvent,
    MotionSettings,
    Position,
    Stop,
    Trip,
    WorkingCalendar,
)
from telematics.motion.geofence import GeofenceError
from telematics.motion_services import (
    MUNICIPALITY_BOUNDARY_ID,
    geofences_import,
    motion_config_for,
    motion_process_device,
)
from telematics.tasks import motion_rebuild, process_positions
from tests.factories import DriverFactory, MunicipalityFactory, VehicleFactory

from .conftest import FixBuilder, to_latlon

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    town = MunicipalityFactory()
    vehicle = VehicleFactory(municipality=town)
    device = Device.objects.create(municipality=town, unique_id="356307042441013", protocol="gt06")
    DeviceAssignment.objects.create(
        municipality=town,
        device=device,
        vehicle=vehicle,
        valid_from=datetime(2025, 1, 1, tzinfo=UTC),
    )
    return town, vehicle, device


def store_positions(device: Device, vehicle, fixes) -> datetime:
    Position.objects.bulk_create(
        [
            Position(
                municipality_id=device.municipality_id,
                device=device,
                vehicle=vehicle,
                fix_time=f.fix_time,
                server_time=f.server_time or f.fix_time,
                latitude=f.latitude,
                longitude=f.longitude,
                speed_kmh=f.speed_kmh,
                valid=f.valid,
                ignition=f.ignition,
                fuel_level=f.fuel_level,
                driver_tag=f.driver_tag or "",
            )
            for f in fixes
        ]
    )
    return min(f.fix_time for f in fixes)


def two_trips(driver_tag: str | None = None) -> list:
    b = FixBuilder().set(ignition=False).park(600).set(ignition=True, driver=driver_tag)
    b.drive(2000, 0, 36).set(ignition=False).park(900).set(ignition=True)
    b.drive(0, 1500, 30).set(ignition=False).park(600)
    return b.fixes


def trip_rows() -> list[tuple]:
    return list(
        Trip.objects.order_by("start_time").values_list(
            "start_time", "end_time", "distance_m", "closed", "vehicle_id"
        )
    )


def test_task_stores_trips_stops_events_and_the_daily_summary(setup) -> None:
    town, vehicle, device = setup
    driver = DriverFactory(municipality=town, tag_id="A17")
    fixes = two_trips(driver_tag="A17")
    earliest = store_positions(device, vehicle, fixes)
    last = max(f.fix_time for f in fixes)
    process_positions(device.pk, earliest.isoformat(), last.isoformat())

    trips = list(Trip.objects.order_by("start_time"))
    assert len(trips) == 2
    assert trips[0].distance_m == pytest.approx(2000, rel=0.01)
    assert trips[1].distance_m == pytest.approx(1500, rel=0.01)
    assert all(t.vehicle_id == vehicle.pk and t.driver_id == driver.pk for t in trips)
    # The street graph of Chania names where the first trip started.
    assert trips[0].start_place != ""
    assert Stop.objects.count() == 3
    kinds = set(MotionEvent.objects.values_list("type", flat=True))
    assert {"ignition_on", "ignition_off", "driver_change"} <= kinds
    summary = DailySummary.objects.get(vehicle=vehicle, day=date(2025, 3, 4))
    assert summary.distance_m == pytest.approx(3500, rel=0.01)
    assert summary.trip_count == 2
    assert summary.engine_hours_source == "ignition"
    assert MotionCheckpoint.objects.filter(device=device).exists()


def test_a_move_too_short_to_be_a_trip_is_stored_on_its_stop_and_counted_in_the_day(setup):
    _town, vehicle, device = setup
    b = FixBuilder().park(600).drive(150, 0, 18).park(900).drive(2000, 0, 40).park(600)
    store_positions(device, vehicle, b.fixes)
    motion_process_device(device_id=device.pk, earliest=None, use_streets=False)
    first = Stop.objects.order_by("start_time").first()
    assert first.moved == [["2025-03-04", pytest.approx(150, abs=3)]]
    summary = DailySummary.objects.get(vehicle=vehicle, day=date(2025, 3, 4))
    assert summary.distance_m == pytest.approx(2150, abs=5)


def test_same_range_twice_changes_nothing(setup) -> None:
    _town, vehicle, device = setup
    fixes = two_trips()
    earliest = store_positions(device, vehicle, fixes)
    motion_process_device(device_id=device.pk, earliest=earliest, use_streets=False)
    first = (trip_rows(), Stop.objects.count(), MotionEvent.objects.count())
    motion_process_device(device_id=device.pk, earliest=earliest, use_streets=False)
    assert (trip_rows(), Stop.objects.count(), MotionEvent.objects.count()) == first


def test_late_upload_gives_the_same_trips_as_in_order(setup) -> None:
    _town, vehicle, device = setup
    fixes = two_trips()
    store_positions(device, vehicle, fixes)
    motion_process_device(device_id=device.pk, earliest=None, use_streets=False)
    expected = trip_rows()
    expected_summary = list(DailySummary.objects.values_list("day", "distance_m", "trip_count"))

    Trip.objects.all().delete()
    Stop.objects.all().delete()
    MotionEvent.objects.all().delete()
    DailySummary.objects.all().delete()
    MotionCheckpoint.objects.all().delete()
    Position.objects.all().delete()
    # Live fixes first, with a hole in the middle of the first trip; the hole arrives last.
    hole = fixes[65:80]
    live = fixes[:65] + fixes[80:]
    for chunk in (live[:100], live[100:]):
        motion_process_device(
            device_id=device.pk,
            earliest=store_positions(device, vehicle, chunk),
            use_streets=False,
        )
    motion_process_device(
        device_id=device.pk, earliest=store_positions(device, vehicle, hole), use_streets=False
    )
    assert trip_rows() == expected
    assert (
        list(DailySummary.objects.values_list("day", "distance_m", "trip_count"))
        == expected_summary
    )


def test_unknown_device_is_logged_not_raised(db) -> None:
    assert motion_process_device(device_id=987654, earliest=None) is None


def test_geofence_in_the_municipality_makes_enter_and_exit_events(setup) -> None:
    town, vehicle, device = setup
    lat, lon = to_latlon(1000, 0)
    upload = {
        "type": "Feature",
        "properties": {"name": "Πράσινο σημείο", "radius": 150},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }
    geofences_import(municipality=town, data=json.dumps(upload))
    fixes = two_trips()
    store_positions(device, vehicle, fixes)
    motion_process_device(device_id=device.pk, earliest=None, use_streets=False)
    kinds = list(
        MotionEvent.objects.filter(type__startswith="geofence")
        .order_by("time")
        .values_list("type", flat=True)
    )
    assert kinds == ["geofence_enter", "geofence_exit"]


def test_malformed_geofence_upload_changes_nothing(setup) -> None:
    town, _vehicle, _device = setup
    good = {
        "type": "Feature",
        "properties": {"name": "Depot"},
        "geometry": {"type": "Point", "coordinates": [24.02, 35.51]},
    }
    good["properties"]["radius"] = 100
    bad = {
        "type": "Feature",
        "properties": {"name": "Open ring"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[24.0, 35.5], [24.01, 35.5], [24.01, 35.51], [24.0, 35.52]]],
        },
    }
    with pytest.raises(GeofenceError, match="Open ring"):
        geofences_import(
            municipality=town,
            data=json.dumps({"type": "FeatureCollection", "features": [good, bad]}),
        )
    assert Geofence.objects.count() == 0


def test_upload_far_from_the_municipality_is_rejected(setup) -> None:
    town, _vehicle, _device = setup
    swapped = {
        "type": "Feature",
        "properties": {"name": "Swapped", "radius": 100},
        "geometry": {"type": "Point", "coordinates": [35.51, 24.02]},
    }
    with pytest.raises(GeofenceError, match="swapped"):
        geofences_import(municipality=town, data=json.dumps(swapped))


def test_positions_of_a_week_ago_do_not_create_a_phantom_trip(setup) -> None:
    _town, vehicle, device = setup
    b = FixBuilder().park(600).silence(7 * 86400).move_to(8000, 0).park(600)
    store_positions(device, vehicle, b.fixes)
    motion_process_device(device_id=device.pk, earliest=None, use_streets=False)
    assert Trip.objects.count() == 0
    assert all(s.distance_m == 0.0 for s in DailySummary.objects.all())
    assert DailySummary.objects.filter(day=date(2025, 3, 4) + timedelta(days=7)).exists()


def test_category_settings_apply_alike_to_live_updates_and_full_rebuilds(setup) -> None:
    town, vehicle, device = setup
    # Both trips (2000 m and 1500 m) are shorter than this vehicle category's minimum.
    MotionSettings.objects.create(
        municipality=town, category=vehicle.category, min_trip_distance_m=5000
    )
    fixes = two_trips()
    earliest = store_positions(device, vehicle, fixes)
    process_positions(device.pk, earliest.isoformat(), max(f.fix_time for f in fixes).isoformat())
    live = trip_rows()

    motion_rebuild(device.pk)
    assert trip_rows() == live == []
    process_positions(device.pk, "not a date", "not a date either")
    assert trip_rows() == []


def test_settings_fall_back_from_category_to_municipality_to_defaults(setup) -> None:
    town, vehicle, _device = setup
    MotionSettings.objects.create(
        municipality=town, min_trip_distance_m=300, speed_limit_kmh=50, idle_min_duration_s=None
    )
    MotionSettings.objects.create(
        municipality=town, category=vehicle.category, min_trip_distance_m=5000
    )
    other = VehicleFactory(municipality=town, category="bus")
    assert vehicle.category != "bus"

    own = motion_config_for(vehicle, town)
    assert own.trips.min_trip_distance_m == 5000  # the category's row
    assert own.events.speed_limit_kmh == 50  # empty in the category's row: the municipality's
    assert own.events.idle_min_duration_s == 300.0  # empty in both: the detector's default
    assert motion_config_for(other, town).trips.min_trip_distance_m == 300
    assert motion_config_for(None, town).trips.min_trip_distance_m == 300
    assert motion_config_for(vehicle, MunicipalityFactory()).trips.min_trip_distance_m == 200.0


def test_a_calendar_row_that_cannot_be_read_is_logged_and_processing_goes_on(setup, caplog) -> None:
    town, vehicle, device = setup
    # Saved around the validation (by hand, or before it existed): one shift a day, not a list.
    bad = WorkingCalendar.objects.create(municipality=town, week=[["07:00", "15:00"]] * 7)
    store_positions(device, vehicle, two_trips())
    with caplog.at_level("WARNING", logger="telematics.motion"):
        motion_process_device(device_id=device.pk, earliest=None, use_streets=False)
    assert Trip.objects.count() == 2
    assert f"motion.calendar_unusable calendar={bad.pk} " in caplog.text


def boundary_to_1000_m_east() -> dict:
    """A square around the start; the first trip of ``two_trips`` (2000 m east) crosses its
    east edge at 1000 m and the second stays outside."""
    corners = [(-500, -500), (1000, -500), (1000, 500), (-500, 500), (-500, -500)]
    ring = [list(reversed(to_latlon(east, north))) for east, north in corners]
    return {"type": "Polygon", "coordinates": [ring]}


def test_driving_out_of_the_municipality_boundary_is_reported_without_a_boundary_geofence(
    setup,
) -> None:
    town, vehicle, device = setup
    town.boundary = {"type": "Feature", "geometry": boundary_to_1000_m_east()}
    town.save()
    store_positions(device, vehicle, two_trips())
    motion_process_device(device_id=device.pk, earliest=None, use_streets=False)

    (event,) = MotionEvent.objects.filter(type__startswith="boundary")
    assert event.type == "boundary_exit"
    assert event.facts == {"geofence": MUNICIPALITY_BOUNDARY_ID, "geofence_name": town.name}
    # Where it left: the first fix past the east edge (fixes are 100 m apart).
    assert to_latlon(1000, 0)[1] < event.longitude <= to_latlon(1101, 0)[1]
    assert not MotionEvent.objects.filter(type__startswith="geofence").exists()


def test_a_boundary_geofence_row_replaces_the_municipality_boundary_not_doubles_it(setup) -> None:
    town, vehicle, device = setup
    town.boundary = boundary_to_1000_m_east()
    town.save()
    (row,) = geofences_import(
        municipality=town,
        data={"type": "Feature", "properties": {"name": "Όρια"}, "geometry": town.boundary},
        role="boundary",
    )
    store_positions(device, vehicle, two_trips())
    motion_process_device(device_id=device.pk, earliest=None, use_streets=False)
    (event,) = MotionEvent.objects.filter(type__startswith="boundary")
    assert event.facts == {"geofence": row.pk, "geofence_name": "Όρια"}


def test_a_municipality_boundary_that_is_not_a_polygon_is_logged_and_ignored(setup, caplog) -> None:
    town, vehicle, device = setup
    town.boundary = {"type": "Polygon", "coordinates": "nonsense"}
    town.save()
    store_positions(device, vehicle, two_trips())
    with caplog.at_level("WARNING", logger="telematics.motion"):
        motion_process_device(device_id=device.pk, earliest=None, use_streets=False)
    assert Trip.objects.count() == 2
    assert not MotionEvent.objects.filter(type__startswith="boundary").exists()
    assert f"motion.boundary_unusable municipality={town.pk} " in caplog.text


def test_stops_are_named_after_the_street_they_are_on(setup) -> None:
    _town, vehicle, device = setup
    store_positions(device, vehicle, two_trips())
    motion_process_device(device_id=device.pk, earliest=None)

    trips = list(Trip.objects.order_by("start_time"))
    stops = list(Stop.objects.order_by("start_time"))
    assert len(stops) == 3
    # The first stop is on a street of Chania's graph; the other two lie east of its bounding
    # box, where no street is near enough to name.
    assert stops[0].place == "Χατζημιχάλη Γιάνναρη"
    # Each trip leaves one stop and arrives at the next: the same spots, the same names.
    assert [s.place for s in stops] == [
        trips[0].start_place,
        trips[1].start_place,
        trips[1].end_place,
    ]
