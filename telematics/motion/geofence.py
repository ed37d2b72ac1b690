"""Geofences: polygons and circles, GeoJSON in, fast in-memory containment out.

Coordinates follow GeoJSON: longitude first. Polygons are tested in longitude/latitude as
drawn (that is how Leaflet draws them); circles by great-circle distance to their centre, so a
500 m circle is 500 m whatever the latitude.

A circle travels in GeoJSON as a ``Point`` with a ``radius`` property in metres, the way
Leaflet's drawing tools export it.

A rejected upload lists :class:`Problem` values, not sentences: each is an English template
with named placeholders, its values and where it was found (feature, polygon, ring, position).
``str()`` gives the English text for logs; the web side renders them in the user's language
with ``Problem.render(gettext)``. The templates are marked with a local ``gettext_noop`` so
``makemessages`` collects them without this module importing Django.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, shape
from shapely.validation import explain_validity

from telematics.motion.geodesy import EARTH_RADIUS_M, metres_to_degrees

__all__ = [
    "Geofence",
    "GeofenceError",
    "GeofenceIndex",
    "ParsedGeofence",
    "Phrase",
    "Problem",
    "geofence_from_geojson",
    "parse_geojson",
]

ROLE_BOUNDARY = "boundary"

_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_MAX_VERTICES = 50_000
_MAX_RADIUS_M = 50_000.0
_EMPTY: frozenset[Any] = frozenset()


def gettext_noop(message: str) -> str:
    """Marks an English template for ``makemessages`` (one of its xgettext keywords) and gives
    it back unchanged; the translation happens when a :class:`Problem` is rendered."""
    return message


Translate = Callable[[str], str]


def _english(message: str) -> str:
    return message


_LOCATED = gettext_noop("%(where)s: %(problem)s")


@dataclass(frozen=True, slots=True)
class Phrase:
    """An English template with ``%(name)s`` placeholders and the values that fill them."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def render(self, translate: Translate = _english) -> str:
        text = translate(self.template)
        # A template without values has no placeholders, and may hold a bare "%".
        return text % dict(self.params) if self.params else text


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault in an upload: what (``template`` and ``params``) and where (``where``, the
    phrases "feature 2", "ring 1", "position 3" from outermost in). ``str()`` is the English
    text; ``render(gettext)`` the same in the active language."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    where: tuple[Phrase, ...] = ()

    def render(self, translate: Translate = _english) -> str:
        message = Phrase(self.template, self.params).render(translate)
        if not self.where:
            return message
        place = " ".join(part.render(translate) for part in self.where)
        return translate(_LOCATED) % {"where": place, "problem": message}

    def __str__(self) -> str:
        return self.render()


class GeofenceError(ValueError):
    """A GeoJSON upload that cannot become geofences. ``problems`` lists every fault found, as
    :class:`Problem` values (plain strings given by a caller become problems without values)."""

    def __init__(self, problems: Sequence[Problem | str]) -> None:
        self.problems = [p if isinstance(p, Problem) else Problem(str(p)) for p in problems]
        super().__init__("; ".join(str(p) for p in self.problems))

    def render(self, translate: Translate = _english) -> list[str]:
        """Every problem as text in the language of ``translate`` (Django's ``gettext``)."""
        return [p.render(translate) for p in self.problems]


@dataclass(frozen=True, slots=True)
class Geofence:
    """One geofence ready for containment tests.

    ``polygon`` (longitude/latitude) for polygons; ``center`` (latitude, longitude) and
    ``radius_m`` for circles. ``role`` is ``"boundary"`` for the municipality's boundary, whose
    crossings are their own event types.
    """

    id: Any
    name: str = ""
    polygon: Polygon | MultiPolygon | None = None
    center: tuple[float, float] | None = None
    radius_m: float | None = None
    speed_limit_kmh: float | None = None
    role: str = ""

    def __post_init__(self) -> None:
        if (self.polygon is None) == (self.center is None):
            raise ValueError("a geofence is either a polygon or a circle")
        if self.center is not None and (self.radius_m is None or self.radius_m <= 0):
            raise ValueError("a circle needs a positive radius")

    def envelope(self) -> Polygon:
        if self.polygon is not None:
            return self.polygon
        assert self.center is not None and self.radius_m is not None
        lat, lon = self.center
        dlat, dlon = metres_to_degrees(self.radius_m, lat)
        return box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)

    def contains(self, lat: float, lon: float) -> bool:
        if self.polygon is not None:
            return bool(self.polygon.covers(shapely.Point(lon, lat)))
        assert self.center is not None and self.radius_m is not None
        return (
            _haversine_np(np.array([lat]), np.array([lon]), self.center[0], self.center[1])[0]
            <= self.radius_m
        )


def _haversine_np(lats: np.ndarray, lons: np.ndarray, lat0: Any, lon0: Any) -> np.ndarray:
    p1 = np.radians(lats)
    p2 = np.radians(lat0)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon0) - lons)
    a = np.sin(dp * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class GeofenceIndex:
    """All of a municipality's geofences behind one STRtree.

    Polygons are in the tree as themselves, so the tree's ``covers`` predicate is the exact
    test; circles are in it as their bounding boxes and the candidates are then checked by
    distance. Points on a polygon's edge count as inside.
    """

    def __init__(self, fences: Iterable[Geofence] = ()) -> None:
        self.fences: dict[Any, Geofence] = {}
        for fence in fences:
            if fence.id in self.fences:
                raise ValueError(f"duplicate geofence id {fence.id!r}")
            self.fences[fence.id] = fence
        ordered = list(self.fences.values())
        self._ids = [f.id for f in ordered]
        self._is_circle = np.array([f.center is not None for f in ordered], dtype=bool)
        self._clat = np.array([f.center[0] if f.center else 0.0 for f in ordered])
        self._clon = np.array([f.center[1] if f.center else 0.0 for f in ordered])
        self._radius = np.array([f.radius_m or 0.0 for f in ordered])
        geoms = [f.envelope() for f in ordered]
        for g in geoms:
            shapely.prepare(g)
        # Polygons are exact in the tree; circles are their bounding boxes, refined by distance.
        self._tree = shapely.STRtree(geoms)
        self.boundary_ids = frozenset(f.id for f in ordered if f.role == ROLE_BOUNDARY)

    def __len__(self) -> int:
        return len(self.fences)

    def containing(self, lat: float, lon: float) -> frozenset[Any]:
        """Ids of the geofences that contain the point."""
        return self.containing_many([lat], [lon])[0]

    def containing_many(
        self, lats: Sequence[float] | np.ndarray, lons: Sequence[float] | np.ndarray
    ) -> list[frozenset[Any]]:
        """Ids of the containing geofences for each point; one vectorised pass for a batch."""
        n = len(lats)
        if n == 0:
            return []
        if not self.fences:
            return [_EMPTY] * n
        lat_a = np.asarray(lats, dtype=float)
        lon_a = np.asarray(lons, dtype=float)
        points = shapely.points(lon_a, lat_a)
        hits: list[set[Any] | None] = [None] * n
        pt_i, geom_i = self._tree.query(points, predicate="covered_by")
        if len(pt_i):
            circle = self._is_circle[geom_i]
            if circle.any():
                d = _haversine_np(
                    lat_a[pt_i[circle]],
                    lon_a[pt_i[circle]],
                    self._clat[geom_i[circle]],
                    self._clon[geom_i[circle]],
                )
                keep = ~circle
                keep[np.flatnonzero(circle)[d <= self._radius[geom_i[circle]]]] = True
                pt_i = pt_i[keep]
                geom_i = geom_i[keep]
            ids = self._ids
            for p, g in zip(pt_i.tolist(), geom_i.tolist(), strict=True):
                bucket = hits[p]
                if bucket is None:
                    bucket = hits[p] = set()
                bucket.add(ids[g])
        cache: dict[frozenset[Any], frozenset[Any]] = {}
        out: list[frozenset[Any]] = []
        for h in hits:
            if h is None:
                out.append(_EMPTY)
            else:
                key = frozenset(h)
                out.append(cache.setdefault(key, key))
        return out


# ----------------------------------------------------------------------------------------------
# GeoJSON


@dataclass(frozen=True, slots=True)
class ParsedGeofence:
    """One geofence from an upload, validated; ``geometry`` is normalised GeoJSON."""

    name: str
    kind: str  # "polygon" or "circle"
    geometry: dict[str, Any]
    radius_m: float | None = None
    speed_limit_kmh: float | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def to_geofence(self, id: Any, role: str = "") -> Geofence:
        return geofence_from_geojson(
            id,
            self.geometry,
            name=self.name,
            radius_m=self.radius_m,
            speed_limit_kmh=self.speed_limit_kmh,
            role=role,
        )


def geofence_from_geojson(
    id: Any,
    geometry: Mapping[str, Any],
    *,
    name: str = "",
    radius_m: float | None = None,
    speed_limit_kmh: float | None = None,
    role: str = "",
) -> Geofence:
    """Build a :class:`Geofence` from stored (already validated) GeoJSON geometry."""
    if geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        return Geofence(
            id=id,
            name=name,
            center=(float(lat), float(lon)),
            radius_m=radius_m,
            speed_limit_kmh=speed_limit_kmh,
            role=role,
        )
    geom = shape(geometry)
    if not isinstance(geom, Polygon | MultiPolygon):
        raise ValueError(f"geofence {id!r}: unsupported geometry {geom.geom_type}")
    return Geofence(id=id, name=name, polygon=geom, speed_limit_kmh=speed_limit_kmh, role=role)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


Where = tuple[Phrase, ...]


def _place(where: Where, template: str, number: int) -> Where:
    return (*where, Phrase(template, {"number": number}))


def _check_position(pos: Any, where: Where, problems: list[Problem]) -> bool:
    if not isinstance(pos, list | tuple) or len(pos) < 2:
        problems.append(
            Problem(gettext_noop("a position must be [longitude, latitude]"), where=where)
        )
        return False
    lon, lat = pos[0], pos[1]
    if not _is_number(lon) or not _is_number(lat):
        problems.append(
            Problem(
                gettext_noop("coordinates must be finite numbers, got %(got)s"),
                {"got": repr(pos[:2])},
                where,
            )
        )
        return False
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        problems.append(
            Problem(
                gettext_noop(
                    "[%(lon)s, %(lat)s] is outside longitude ±180 / latitude ±90 "
                    "(GeoJSON order is longitude, latitude)"
                ),
                {"lon": lon, "lat": lat},
                where,
            )
        )
        return False
    return True


def _check_rings(rings: Any, where: Where, problems: list[Problem]) -> int:
    """Validate a polygon's rings; return the vertex count (0 when invalid)."""
    if not isinstance(rings, list) or not rings:
        problems.append(
            Problem(gettext_noop("a polygon needs at least one ring of positions"), where=where)
        )
        return 0
    vertices = 0
    before = len(problems)
    for r, ring in enumerate(rings):
        label = _place(where, gettext_noop("ring %(number)d"), r + 1)
        if not isinstance(ring, list) or len(ring) < 4:
            problems.append(
                Problem(
                    gettext_noop("a ring needs at least 4 positions (3 corners, closed)"),
                    where=label,
                )
            )
            continue
        ok = all(
            _check_position(p, _place(label, gettext_noop("position %(number)d"), i + 1), problems)
            for i, p in enumerate(ring)
        )
        if ok and list(ring[0][:2]) != list(ring[-1][:2]):
            problems.append(
                Problem(
                    gettext_noop("the ring is not closed (first and last positions differ)"),
                    where=label,
                )
            )
        vertices += len(ring)
    return vertices if len(problems) == before else 0


def _feature_problems(
    index: int, feature: Any, problems: list[Problem], expect_bbox: tuple[float, ...] | None
) -> ParsedGeofence | None:
    where: Where = (Phrase(gettext_noop("feature %(number)d"), {"number": index + 1}),)

    def reject(template: str, **params: Any) -> None:
        problems.append(Problem(template, params, where))

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        reject(gettext_noop('expected an object with "type": "Feature"'))
        return None
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        reject(gettext_noop('"properties" must be an object'))
        return None
    name = props.get("name")
    if name is None:
        name = f"Geofence {index + 1}"
    elif not isinstance(name, str) or not name.strip() or len(name) > 200:
        reject(gettext_noop('"name" must be text of 1 to 200 characters'))
        return None
    else:
        where = (
            Phrase(
                gettext_noop("feature %(number)d (%(name)s)"), {"number": index + 1, "name": name}
            ),
        )
    limit = props.get("speed_limit_kmh")
    if limit is not None and (not _is_number(limit) or not 5 <= limit <= 250):
        reject(gettext_noop("speed_limit_kmh must be a number between 5 and 250"))
        return None
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        reject(gettext_noop("the feature has no geometry"))
        return None
    gtype = geometry.get("type")
    coords = geometry.get("coordinates")
    if gtype == "Point":
        radius = props.get("radius", props.get("radius_m"))
        if not _check_position(coords, where, problems):
            return None
        if radius is None:
            reject(gettext_noop('a point is a circle only with a "radius" in metres'))
            return None
        if not _is_number(radius) or not 0 < radius <= _MAX_RADIUS_M:
            reject(gettext_noop("radius must be a number of metres between 0 and 50000"))
            return None
        parsed = ParsedGeofence(
            name=name.strip(),
            kind="circle",
            geometry={"type": "Point", "coordinates": [coords[0], coords[1]]},
            radius_m=float(radius),
            speed_limit_kmh=float(limit) if limit is not None else None,
            properties=props,
        )
        geom = parsed.to_geofence(None).envelope()
    elif gtype in ("Polygon", "MultiPolygon"):
        polys = [coords] if gtype == "Polygon" else coords
        if not isinstance(polys, list) or not polys:
            reject(gettext_noop("a %(type)s needs coordinates"), type=gtype)
            return None
        vertices = 0
        for p, rings in enumerate(polys):
            label = (
                where
                if gtype == "Polygon"
                else _place(where, gettext_noop("polygon %(number)d"), p + 1)
            )
            n = _check_rings(rings, label, problems)
            if n == 0:
                return None
            vertices += n
        if vertices > _MAX_VERTICES:
            reject(
                gettext_noop("%(count)d vertices; at most %(limit)d are accepted"),
                count=vertices,
                limit=_MAX_VERTICES,
            )
            return None
        geom = shape({"type": gtype, "coordinates": coords})
        if not geom.is_valid:
            # GEOS explains in English only ("Self-intersection[24.005 35.505]").
            reject(gettext_noop("invalid polygon: %(reason)s"), reason=explain_validity(geom))
            return None
        if geom.area <= 0:
            reject(gettext_noop("the polygon has no area"))
            return None
        parsed = ParsedGeofence(
            name=name.strip(),
            kind="polygon",
            # Round-trip through JSON: shapely's mapping() gives tuples, storage wants lists.
            geometry=json.loads(json.dumps(shapely.geometry.mapping(geom))),
            speed_limit_kmh=float(limit) if limit is not None else None,
            properties=props,
        )
    elif gtype is None:
        reject(gettext_noop('the geometry has no "type"'))
        return None
    else:
        reject(
            gettext_noop("a %(type)s cannot be a geofence; draw a polygon or a circle instead"),
            type=gtype,
        )
        return None
    if expect_bbox is not None and not geom.intersects(box(*expect_bbox)):
        reject(
            gettext_noop(
                "lies entirely outside the municipality's area "
                "(are longitude and latitude swapped?)"
            )
        )
        return None
    return parsed


def parse_geojson(
    data: str | bytes | Mapping[str, Any],
    *,
    expect_bbox: tuple[float, float, float, float] | None = None,
    max_bytes: int = _MAX_UPLOAD_BYTES,
) -> list[ParsedGeofence]:
    """Validate an upload (FeatureCollection, Feature or bare Polygon/MultiPolygon).

    All or nothing: any fault raises :class:`GeofenceError` listing every problem found, so an
    administrator can fix the file in one go. ``expect_bbox`` (min lon, min lat, max lon,
    max lat) rejects shapes that lie nowhere near the municipality.
    """
    if isinstance(data, str | bytes):
        if len(data) > max_bytes:
            raise GeofenceError(
                [
                    Problem(
                        gettext_noop("the file is larger than %(megabytes)d MB"),
                        {"megabytes": max_bytes // (1024 * 1024)},
                    )
                ]
            )
        try:
            obj: Any = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                problem = Problem(
                    gettext_noop("not valid JSON (line %(line)d, column %(column)d)"),
                    {"line": exc.lineno, "column": exc.colno},
                )
            elif isinstance(exc, RecursionError):
                # Brackets nested thousands deep: no GeoJSON is, and json gives up on them.
                problem = Problem(gettext_noop("the JSON is nested too deeply"))
            else:
                problem = Problem(gettext_noop("not valid JSON"))
            raise GeofenceError([problem]) from None
    else:
        obj = data
    if not isinstance(obj, dict):
        raise GeofenceError([Problem(gettext_noop("expected a GeoJSON object"))])
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list):
            raise GeofenceError(
                [Problem(gettext_noop('a FeatureCollection needs a "features" list'))]
            )
    elif kind == "Feature":
        features = [obj]
    elif kind in ("Polygon", "MultiPolygon"):
        features = [{"type": "Feature", "properties": {}, "geometry": obj}]
    elif kind == "Point":
        raise GeofenceError(
            [
                Problem(
                    gettext_noop('a bare Point is not a geofence; give a Feature with a "radius"')
                )
            ]
        )
    else:
        raise GeofenceError(
            [Problem(gettext_noop("unsupported GeoJSON type %(type)s"), {"type": repr(kind)})]
        )
    if not features:
        raise GeofenceError([Problem(gettext_noop("the file contains no geofences"))])
    problems: list[Problem] = []
    parsed: list[ParsedGeofence] = []
    for i, feature in enumerate(features):
        result = _feature_problems(i, feature, problems, expect_bbox)
        if result is not None:
            parsed.append(result)
    if problems:
        raise GeofenceError(problems)
    return parsed
