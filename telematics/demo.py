"""Geofences and notification rules for the demo municipalities, so that the motion layer has
something to report from the first minute of ``make up``:

* each department's depot, a circle (role "depot"): the simulated vehicles start and end their
  day there, so every working day has its depot exits and returns;
* every school mapped as an area in the municipality's OpenStreetMap extract, widened to take in
  the streets around it, as a 30 km/h zone (role "school"): the only limit the simulated
  vehicles can break (they keep to the road limits), for 20 s or more on the longer zones;
* each unloading site of the dispatch office, a circle (role "transfer_station");
* two notification rules: overspeed, leaving the municipality and fuel drops to the fleet
  manager; trackers going offline to the dispatcher. Use outside working hours is left out:
  the demo's simulated fleet drives around the clock, and would notify all night.

Geofences go through the same all-or-nothing GeoJSON import as an upload. Idempotent: a
municipality that already has geofences (or rules) is left as it is, so ``make up`` can run
this every time and an administrator's own edits are never undone.
"""

from __future__ import annotations

import bz2
import logging
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.db import transaction
from shapely.geometry import Polygon

from dispatch.models import UnloadSite
from fleet.choices import Role
from fleet.models import Department, Municipality
from notifications.models import NotificationRule
from telematics.motion.events import EventType
from telematics.motion.geodesy import EARTH_RADIUS_M
from telematics.motion_models import Geofence, GeofenceRole
from telematics.motion_services import geofences_import

log = logging.getLogger("telematics.demo")

DEPOT_RADIUS_M = 120.0
UNLOAD_SITE_RADIUS_M = 150.0
SCHOOL_ZONE_KMH = 30.0
# How far beyond a school's grounds its zone reaches: enough to take in the streets along it.
SCHOOL_ZONE_MARGIN_M = 35.0


def seed_motion_demo(municipality: Municipality) -> tuple[int, int]:
    """The demo geofences and notification rules of ``municipality``: (geofences, rules) made."""
    with transaction.atomic():
        fences = 0
        if not Geofence.objects.filter(municipality=municipality).exists():
            features = _depots(municipality) + _unload_sites(municipality)
            features += _schools(municipality)
            if features:
                collection = {"type": "FeatureCollection", "features": features}
                fences = len(geofences_import(municipality=municipality, data=collection))
        rules = 0
        if not NotificationRule.objects.filter(municipality=municipality).exists():
            rules = _rules(municipality)
    return fences, rules


def _circle(name: str, role: str, lat: float, lon: float, radius_m: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"name": name, "role": role, "radius": radius_m},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def _depots(municipality: Municipality) -> list[dict[str, Any]]:
    departments = Department.objects.filter(
        municipality=municipality, depot_lat__isnull=False, depot_lon__isnull=False
    ).order_by("code", "name")
    return [
        _circle(
            f"Αμαξοστάσιο ({d.name})",
            GeofenceRole.DEPOT,
            d.depot_lat,
            d.depot_lon,
            DEPOT_RADIUS_M,
        )
        for d in departments
    ]


def _unload_sites(municipality: Municipality) -> list[dict[str, Any]]:
    sites = UnloadSite.objects.filter(municipality=municipality).order_by("name")
    role, radius = GeofenceRole.TRANSFER_STATION, UNLOAD_SITE_RADIUS_M
    return [_circle(s.name, role, s.latitude, s.longitude, radius) for s in sites]


def _schools(municipality: Municipality) -> list[dict[str, Any]]:
    """The extract's school grounds (closed ways tagged ``amenity=school``), each widened by
    ``SCHOOL_ZONE_MARGIN_M`` and limited to ``SCHOOL_ZONE_KMH``."""
    if not municipality.osm_file:
        return []
    path = Path(municipality.osm_file)
    if not path.is_absolute():
        path = Path(settings.KINISI_OSM_DIR) / path
    try:
        grounds = school_grounds(path)
    except (OSError, ET.ParseError, EOFError) as exc:
        log.warning("demo.schools_unreadable file=%s error=%s", path, exc)
        return []
    features = []
    unnamed = 0
    for name, ring in grounds:
        zone = widen(Polygon(ring), SCHOOL_ZONE_MARGIN_M)
        unnamed += not name
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "name": f"Σχολική ζώνη: {name}" if name else f"Σχολική ζώνη {unnamed}",
                    "role": GeofenceRole.SCHOOL,
                    "speed_limit_kmh": SCHOOL_ZONE_KMH,
                },
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x, y] for x, y in zone.exterior.coords]],
                },
            }
        )
    return features


def school_grounds(path: Path) -> list[tuple[str, list[tuple[float, float]]]]:
    """(name, ring of (lon, lat)) of each closed way tagged ``amenity=school`` in an OSM XML
    file (``.osm`` or ``.osm.bz2``), in file order; the name is empty when the map has none."""
    opener = bz2.open if path.suffix == ".bz2" else open
    nodes: dict[str, tuple[float, float]] = {}
    grounds = []
    with opener(path, "rb") as stream:
        # The municipality's own map extract, which OSMnx parses too when it builds the graph.
        for _event, element in ET.iterparse(stream):  # noqa: S314
            if element.tag == "node":
                nodes[element.get("id", "")] = (
                    float(element.get("lon", "nan")),
                    float(element.get("lat", "nan")),
                )
                element.clear()
            elif element.tag == "way":
                tags = {t.get("k"): t.get("v") for t in element.iter("tag")}
                refs = [nd.get("ref", "") for nd in element.iter("nd")]
                closed = len(refs) >= 4 and refs[0] == refs[-1]
                if tags.get("amenity") == "school" and closed and all(r in nodes for r in refs):
                    name = tags.get("name:el") or tags.get("name") or ""
                    grounds.append((name, [nodes[r] for r in refs]))
                element.clear()
    return grounds


def widen(polygon: Polygon, metres: float) -> Polygon:
    """``polygon`` (longitude, latitude) grown by ``metres`` on every side, computed on a local
    plane (equirectangular about the polygon's centre), with its corners rounded."""
    lat0 = polygon.centroid.y
    scale_y = math.radians(1.0) * EARTH_RADIUS_M
    scale_x = scale_y * math.cos(math.radians(lat0))
    scale = np.array([scale_x, scale_y])
    flat = shapely.transform(polygon, lambda xy: xy * scale)
    grown = flat.buffer(metres, quad_segs=4).simplify(1.0)
    return shapely.transform(grown, lambda xy: xy / scale)


def _rules(municipality: Municipality) -> int:
    rules = [
        (
            "Υπερβάσεις ταχύτητας, έξοδος από τον δήμο, πτώση καυσίμου",
            [EventType.OVERSPEED, EventType.BOUNDARY_EXIT, EventType.FUEL_DROP],
            [Role.MANAGER],
        ),
        ("Εκτός σύνδεσης εντοπιστές", [EventType.TRACKER_OFFLINE], [Role.DISPATCHER]),
    ]
    for name, types, roles in rules:
        NotificationRule.objects.create(
            municipality=municipality,
            name=name,
            event_types=[str(t) for t in types],
            roles=[str(r) for r in roles],
            in_app=True,
            email=False,
            suppress_minutes=30,
        )
    return len(rules)
