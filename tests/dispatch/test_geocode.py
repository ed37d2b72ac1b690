"""Finding a place by street and number in an OSM extract (no database)."""

from pathlib import Path

from dispatch.geocode import build_index, normalise

OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
<node id="1" version="1" lat="35.5100000" lon="24.0100000"/>
<node id="2" version="1" lat="35.5100000" lon="24.0120000"/>
<node id="3" version="1" lat="35.5100000" lon="24.0140000"/>
<node id="4" version="1" lat="35.5110000" lon="24.0110000">
  <tag k="addr:street" v="Χάληδων"/><tag k="addr:housenumber" v="20"/></node>
<node id="5" version="1" lat="35.5120000" lon="24.0130000"/>
<node id="6" version="1" lat="35.5122000" lon="24.0130000"/>
<node id="7" version="1" lat="35.5122000" lon="24.0132000"/>
<node id="8" version="1" lat="35.5120000" lon="24.0132000"/>
<way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
  <tag k="highway" v="residential"/><tag k="name" v="Χάληδων"/></way>
<way id="11" version="1"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="8"/><nd ref="5"/>
  <tag k="building" v="yes"/><tag k="addr:street" v="Χάληδων"/>
  <tag k="addr:housenumber" v="22;24"/></way>
<way id="12" version="1"><nd ref="3"/><nd ref="5"/>
  <tag k="highway" v="footway"/><tag k="name" v="Μονοπάτι"/></way>
</osm>
"""


def index(tmp_path: Path):
    path = tmp_path / "town.osm"
    path.write_text(OSM, encoding="utf-8")
    return build_index(path)


def test_normalise_ignores_case_accents_and_final_sigma():
    assert normalise("ΧΆΛΗΔΩΝ") == normalise("χαληδων") == "χαληδων"
    assert normalise("Οδός  Τσουδερών") == normalise("οδοσ τσουδερων")


def test_house_number_on_a_node(tmp_path):
    (place,) = [p for p in index(tmp_path).search("χαληδων 20") if p.exact]
    assert (place.label, place.lat, place.lon) == ("Χάληδων 20", 35.511, 24.011)


def test_building_with_two_numbers_gives_its_centre_for_each(tmp_path):
    ix = index(tmp_path)
    for number in ("22", "24"):
        place = ix.search(f"ΧΑΛΗΔΩΝ {number}")[0]
        assert place.exact
        # The mean of the outline's five points (the first repeated to close it).
        assert abs(place.lat - (35.512 * 3 + 35.5122 * 2) / 5) < 1e-9
        assert abs(place.lon - (24.013 * 3 + 24.0132 * 2) / 5) < 1e-9


def test_unknown_number_falls_back_to_the_street_middle(tmp_path):
    (place,) = index(tmp_path).search("Χάληδων 99")
    assert not place.exact
    assert (place.lat, place.lon) == (35.51, 24.012)  # the middle node of the street's way


def test_footways_are_not_streets_and_nonsense_finds_nothing(tmp_path):
    ix = index(tmp_path)
    assert ix.search("Μονοπάτι") == []
    assert ix.search("") == []
    assert ix.search("Ανύπαρκτη 3") == []
