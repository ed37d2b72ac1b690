"""Find a place by street name and number in the municipality's own OSM extract.

Pure module (pyosmium; no Django, no network). Addresses come from ``addr:street`` +
``addr:housenumber`` tags on nodes and buildings; streets from named drivable ways. Matching
ignores case, accents and final sigma, so "χαληδων 20", "ΧΑΛΗΔΩΝ 20" and "Χάληδων 20" agree.
A number the extract does not hold falls back to the street itself (its middle), flagged as such.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

_NUMBER = re.compile(r"^(?P<street>.*?)[\s,]+(?P<number>\d+[A-Za-zΑ-Ωα-ω]?)\s*$")
_DRIVABLE = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "pedestrian",
        "road",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.casefold())
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(bare.replace("ς", "σ").split())


@dataclass(frozen=True)
class Place:
    label: str
    lat: float
    lon: float
    exact: bool  # True: the house number was found; False: the street only


@dataclass
class AddressIndex:
    addresses: list[tuple[str, str, str, float, float]]  # (norm street, number, label, lat, lon)
    streets: dict[str, tuple[str, float, float]]  # norm name -> (name, lat, lon)

    def search(self, query: str, limit: int = 10) -> list[Place]:
        query = (query or "").strip()
        if not query:
            return []
        match = _NUMBER.match(query)
        street_q = normalise(match["street"] if match else query)
        number = normalise(match["number"]) if match else ""
        if not street_q:
            return []
        found: list[Place] = []
        if number:
            for norm, num, label, lat, lon in self.addresses:
                if num == number and street_q in norm:
                    found.append(Place(label, lat, lon, True))
        # Streets whose name starts with the query first, then those containing it.
        streets = sorted(
            (
                (not norm.startswith(street_q), name, lat, lon)
                for norm, (name, lat, lon) in self.streets.items()
                if street_q in norm
            ),
        )
        for _rank, name, lat, lon in streets:
            if len(found) >= limit:
                break
            label = f"{name} {match['number']}" if number else name
            if not any(p.exact and p.label.startswith(name) for p in found):
                found.append(Place(label, lat, lon, not number))
        return found[:limit]


def build_index(path: Path | str) -> AddressIndex:
    import osmium  # noqa: PLC0415 - only when an index is built

    addresses: list[tuple[str, str, str, float, float]] = []
    street_points: dict[str, tuple[str, list[tuple[float, float]]]] = {}
    for obj in osmium.FileProcessor(str(path)).with_locations():
        tags = obj.tags
        street = tags.get("addr:street")
        number = tags.get("addr:housenumber")
        name = tags.get("name")
        is_road = obj.is_way() and tags.get("highway") in _DRIVABLE and name
        if not ((street and number) or is_road):
            continue
        if obj.is_node():
            points = [(obj.location.lat, obj.location.lon)] if obj.location.valid() else []
        elif obj.is_way():
            points = [(n.lat, n.lon) for n in obj.nodes if n.location.valid()]
        else:
            continue
        if not points:
            continue
        if street and number:
            lat = sum(p[0] for p in points) / len(points)
            lon = sum(p[1] for p in points) / len(points)
            for part in number.replace(";", ",").split(","):
                part = part.strip()
                if part:
                    addresses.append(
                        (normalise(street), normalise(part), f"{street} {part}", lat, lon)
                    )
        if is_road:
            entry = street_points.setdefault(normalise(name), (name, []))
            entry[1].extend(points)
    streets = {}
    for norm, (name, points) in street_points.items():
        # The middle point of the street's nodes (in file order), which lies on the street.
        lat, lon = points[len(points) // 2]
        streets[norm] = (name, lat, lon)
    return AddressIndex(addresses, streets)
