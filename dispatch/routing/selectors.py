"""Routing reads for the web and the workers: routes, matrices and the street layer of a
municipality. Entry points (API views, tasks) call these; the maths is in the pure router."""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from dispatch.routing.registry import router_for
from dispatch.routing.router import Matrix, Metric, Route, Router, Vehicle

# Street layer: a vertex every metre or so is plenty for a base map and keeps Chania's layer
# around 200 kB.
STREETS_SIMPLIFY_DEG = 0.00001
STREETS_DECIMALS = 6


def vehicle_profile(
    *, vehicle=None, weight_t: float | None = None, height_m: float | None = None
) -> Vehicle | None:
    """The routing profile of a fleet vehicle (gross weight, height), overridden by explicit
    values; None means an unrestricted car."""
    weight = None
    height = None
    if vehicle is not None:
        if vehicle.gross_weight_kg:
            weight = vehicle.gross_weight_kg / 1000.0
        if vehicle.height_m:
            height = float(vehicle.height_m)
    if weight_t is not None:
        weight = weight_t
    if height_m is not None:
        height = height_m
    if not weight and not height:
        return None
    return Vehicle(weight_t=weight or 0.0, height_m=height or 0.0)


def route_plan(
    *,
    municipality,
    points: Sequence[tuple[float, float]],
    metric: Metric | str = Metric.TIME,
    vehicle: Vehicle | None = None,
) -> Route:
    return router_for(municipality).route(points, metric=metric, vehicle=vehicle)


def route_matrix(
    *,
    municipality,
    origins: Sequence[tuple[float, float]],
    destinations: Sequence[tuple[float, float]] | None = None,
    metric: Metric | str = Metric.TIME,
    vehicle: Vehicle | None = None,
) -> Matrix:
    return router_for(municipality).matrix(origins, destinations, metric=metric, vehicle=vehicle)


@dataclass(frozen=True)
class StreetLayer:
    body: bytes  # GeoJSON FeatureCollection, UTF-8
    etag: str


_layers: weakref.WeakKeyDictionary[Router, StreetLayer] = weakref.WeakKeyDictionary()
_layers_lock = threading.Lock()


def street_layer(*, municipality) -> StreetLayer:
    """The municipality's drivable streets as GeoJSON, one feature per street stretch (both
    directions of a two-way street drawn once), built once per loaded graph."""
    router = router_for(municipality)
    layer = _layers.get(router)
    if layer is None:
        with _layers_lock:
            layer = _layers.get(router)
            if layer is None:
                layer = _build_layer(router)
                _layers[router] = layer
    return layer


def _build_layer(router: Router) -> StreetLayer:
    net = router.net
    edges = router.drawn_edges()
    lines = shapely.linestrings(
        net.geom_coords,
        indices=np.repeat(np.arange(net.n_edges), np.diff(net.geom_offsets)),
    )[edges]
    lines = shapely.simplify(lines, STREETS_SIMPLIFY_DEG, preserve_topology=False)
    features = []
    for e, line in zip(edges.tolist(), lines, strict=True):
        coords = np.round(shapely.get_coordinates(line), STREETS_DECIMALS).tolist()
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "name": router.edge_names[e],
                    "class": str(net.classes[net.class_idx[e]]),
                    "oneway": bool(router.is_one_way(e)),
                },
            }
        )
    west, south = net.geom_coords.min(axis=0).tolist()
    east, north = net.geom_coords.max(axis=0).tolist()
    collection = {
        "type": "FeatureCollection",
        "bbox": [west, south, east, north],
        "attribution": "© OpenStreetMap contributors",
        "features": features,
    }
    body = json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode()
    etag = hashlib.sha256(body).hexdigest()[:32]
    return StreetLayer(body=body, etag=f'"{etag}"')


@dataclass(frozen=True)
class PlannerVehicle:
    id: int
    label: str
    weight_t: float | None
    height_m: float | None


def planner_vehicles(*, municipality) -> list[PlannerVehicle]:
    """The municipality's vehicles that can be routed as (the ones with a weight or height)."""
    from fleet.models import Vehicle as FleetVehicle  # noqa: PLC0415 - keeps this module light

    rows = (
        FleetVehicle.objects.filter(municipality=municipality)
        .exclude(gross_weight_kg__isnull=True, height_m__isnull=True)
        .order_by("plate", "machinery_plate", "pk")
        .values("pk", "plate", "machinery_plate", "make", "model", "gross_weight_kg", "height_m")
    )
    out = []
    for r in rows:
        plate = r["plate"] or r["machinery_plate"] or f"#{r['pk']}"
        out.append(
            PlannerVehicle(
                id=r["pk"],
                label=f"{plate} {r['make']} {r['model']}".strip(),
                weight_t=r["gross_weight_kg"] / 1000.0 if r["gross_weight_kg"] else None,
                height_m=float(r["height_m"]) if r["height_m"] else None,
            )
        )
    return out
