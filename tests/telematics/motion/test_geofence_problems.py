"""Geofence upload problems: structured (template, values, where), English by ``str()``, every
part translatable, every template marked for ``makemessages``."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from telematics.motion import geofence as geofence_module
from telematics.motion.geofence import GeofenceError, Phrase, Problem, parse_geojson

SQUARE = [[24.0, 35.5], [24.01, 35.5], [24.01, 35.51], [24.0, 35.51], [24.0, 35.5]]
BOW_TIE = [[24.0, 35.5], [24.01, 35.51], [24.01, 35.5], [24.0, 35.51], [24.0, 35.5]]
CHANIA = (23.7, 35.2, 24.3, 35.7)


def feature(geometry, **properties):
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def polygon(*rings):
    return {"type": "Polygon", "coordinates": list(rings)}


def collection(*features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


# Uploads (checked against the Chania area) and their problems, the English text written out
# by hand: what users and logs saw before the problems became structured, word for word.
CASES = [
    (b"x" * 2048, 1024, ["the file is larger than 0 MB"]),
    ('{"type": [}', None, ["not valid JSON (line 1, column 11)"]),
    (b'"\xff"', None, ["not valid JSON"]),
    ("[" * 100_000, None, ["the JSON is nested too deeply"]),
    ("[]", None, ["expected a GeoJSON object"]),
    ('{"type": "FeatureCollection"}', None, ['a FeatureCollection needs a "features" list']),
    (
        '{"type": "Point", "coordinates": [24, 35.5]}',
        None,
        ['a bare Point is not a geofence; give a Feature with a "radius"'],
    ),
    ('{"type": "Circle"}', None, ["unsupported GeoJSON type 'Circle'"]),
    (collection(), None, ["the file contains no geofences"]),
    (
        collection(
            "not a feature",
            {"type": "Feature", "properties": [1], "geometry": None},
            feature(polygon(SQUARE), name=""),
            feature(polygon(SQUARE), name="Fast", speed_limit_kmh=400),
            feature(None, name="Bare"),
            feature({"coordinates": []}),
            feature({"type": "LineString", "coordinates": [[24, 35.5], [24.1, 35.6]]}),
        ),
        None,
        [
            'feature 1: expected an object with "type": "Feature"',
            'feature 2: "properties" must be an object',
            'feature 3: "name" must be text of 1 to 200 characters',
            "feature 4 (Fast): speed_limit_kmh must be a number between 5 and 250",
            "feature 5 (Bare): the feature has no geometry",
            'feature 6: the geometry has no "type"',
            "feature 7: a LineString cannot be a geofence; draw a polygon or a circle instead",
        ],
    ),
    (
        collection(
            feature({"type": "Point", "coordinates": [24]}, radius=50),
            feature({"type": "Point", "coordinates": [24, 35.5]}, name="Σχολείο"),
            feature({"type": "Point", "coordinates": [24, 35.5]}, radius=60000),
            feature({"type": "Point", "coordinates": ["24", 35.5]}, radius=50),
            feature({"type": "Point", "coordinates": [200, 35.5]}, radius=50),
        ),
        None,
        [
            "feature 1: a position must be [longitude, latitude]",
            'feature 2 (Σχολείο): a point is a circle only with a "radius" in metres',
            "feature 3: radius must be a number of metres between 0 and 50000",
            "feature 4: coordinates must be finite numbers, got ['24', 35.5]",
            "feature 5: [200, 35.5] is outside longitude ±180 / latitude ±90 "
            "(GeoJSON order is longitude, latitude)",
        ],
    ),
    (
        collection(
            feature(polygon()),
            feature({"type": "MultiPolygon", "coordinates": []}),
            feature({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE[:3]]]}, name="M"),
            feature(polygon(SQUARE[:-1])),
            feature(polygon([[24.0, 35.5], [24.0, 124.0], [24.01, 35.5], [24.0, 35.5]])),
            feature(polygon(BOW_TIE), name="Bow"),
            feature(polygon([[2.0, 3.0], [2.1, 3.0], [2.1, 3.1], [2.0, 3.0]]), name="Far"),
        ),
        None,
        [
            "feature 1: a polygon needs at least one ring of positions",
            "feature 2: a MultiPolygon needs coordinates",
            "feature 3 (M) polygon 2 ring 1: a ring needs at least 4 positions (3 corners, closed)",
            "feature 4 ring 1: the ring is not closed (first and last positions differ)",
            "feature 5 ring 1 position 2: [24.0, 124.0] is outside longitude ±180 / "
            "latitude ±90 (GeoJSON order is longitude, latitude)",
            "feature 6 (Bow): invalid polygon: Self-intersection[24.005 35.505]",
            "feature 7 (Far): lies entirely outside the municipality's area "
            "(are longitude and latitude swapped?)",
        ],
    ),
    (
        collection(
            feature(
                polygon(
                    [[24.0 + i * 1e-7, 35.5] for i in range(50_001)] + [[24.0, 35.6], [24.0, 35.5]]
                )
            )
        ),
        None,
        ["feature 1: 50003 vertices; at most 50000 are accepted"],
    ),
]


def rejected(data, max_bytes=None) -> GeofenceError:
    kwargs = {"max_bytes": max_bytes} if max_bytes else {}
    with pytest.raises(GeofenceError) as info:
        parse_geojson(data, expect_bbox=CHANIA, **kwargs)
    return info.value


def every_problem() -> list[Problem]:
    return [problem for data, limit, _ in CASES for problem in rejected(data, limit).problems]


def marked_templates() -> set[str]:
    """The English templates ``makemessages`` collects: literal arguments of gettext_noop."""
    tree = ast.parse(Path(geofence_module.__file__).read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "gettext_noop"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


@pytest.mark.parametrize(("data", "max_bytes", "english"), CASES)
def test_the_english_text_is_unchanged(data, max_bytes, english) -> None:
    error = rejected(data, max_bytes)
    assert [str(p) for p in error.problems] == english
    assert error.render() == english
    assert str(error) == "; ".join(english)


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)[sd]", template))


def test_every_problem_has_a_marked_template_whose_placeholders_are_its_values() -> None:
    marked = marked_templates()
    for problem in every_problem():
        for part in (Phrase(problem.template, problem.params), *problem.where):
            assert part.template in marked, part.template
            assert _placeholders(part.template) == set(part.params), part
            # No stray "%" beside the named placeholders: gettext's python-format check and
            # the "%" operator would both trip on it.
            assert "%" not in re.sub(r"%\(\w+\)[sd]", "", part.template), part.template


def test_the_cases_reach_every_marked_template() -> None:
    seen = {"%(where)s: %(problem)s"}
    for problem in every_problem():
        seen.add(problem.template)
        seen.update(part.template for part in problem.where)
    # A valid polygon always has an area; that check is a guard no upload reaches.
    assert marked_templates() - seen == {"the polygon has no area"}


def test_every_part_goes_through_the_translation() -> None:
    # A stand-in translation that marks each template it is asked for.
    def translate(template: str) -> str:
        return "»" + template

    (problem,) = rejected(
        collection(feature({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE[:3]]]}))
    ).problems
    assert problem.render(translate) == (
        "»»feature 1 »polygon 2 »ring 1: »a ring needs at least 4 positions (3 corners, closed)"
    )


def test_a_problem_is_a_frozen_hashable_value() -> None:
    problem = Problem(
        "ring %(number)d", {"number": 2}, (Phrase("feature %(number)d", {"number": 1}),)
    )
    assert problem == Problem(
        "ring %(number)d", {"number": 2}, (Phrase("feature %(number)d", {"number": 1}),)
    )
    assert len({problem, problem}) == 1
    with pytest.raises(AttributeError):
        problem.template = "other"  # type: ignore[misc]


def test_plain_strings_still_make_an_error() -> None:
    # Callers outside the parser may still raise with sentences; a bare "%" is no placeholder.
    error = GeofenceError(["100% outside", Problem("the file contains no geofences")])
    assert [str(p) for p in error.problems] == ["100% outside", "the file contains no geofences"]
    assert str(error) == "100% outside; the file contains no geofences"
    assert error.render(str.upper) == ["100% OUTSIDE", "THE FILE CONTAINS NO GEOFENCES"]
