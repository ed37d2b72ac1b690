"""Fixtures for the report tests: reading a PDF's text back, and the Chania street graph."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHANIA = REPO / "data" / "osm" / "chania.osm.bz2"
# The bbox MunicipalityFactory gives every test municipality.
CHANIA_BBOX = (35.5033, 24.0059, 35.5187, 24.0395)


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed; CI installs it")
    return path


@pytest.fixture
def pdf_text(tmp_path):
    """The text of a PDF as pdftotext lays it out (-layout keeps table rows on one line)."""

    def read(pdf: bytes, *, layout: bool = True) -> str:
        tool = _poppler("pdftotext")
        source = tmp_path / "read.pdf"
        source.write_bytes(pdf)
        args = [tool, "-enc", "UTF-8"] + (["-layout"] if layout else []) + [str(source), "-"]
        return subprocess.run(args, check=True, capture_output=True).stdout.decode("utf-8")

    return read


@pytest.fixture
def pdf_fonts(tmp_path):
    """``pdffonts`` rows: (name, embedded) for every font the PDF uses."""

    def read(pdf: bytes) -> list[tuple[str, bool]]:
        tool = _poppler("pdffonts")
        source = tmp_path / "fonts.pdf"
        source.write_bytes(pdf)
        out = subprocess.run([tool, str(source)], check=True, capture_output=True).stdout
        rows = []
        for line in out.decode().splitlines()[2:]:
            parts = line.split()
            # name type [encoding...] emb sub uni object ID: "emb" is the 5th field from the end.
            rows.append((parts[0], parts[-5] == "yes"))
        return rows

    return read


@pytest.fixture(scope="session")
def chania_graph_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("report-graphs")


@pytest.fixture(scope="session")
def chania_router_session(chania_graph_dir):
    """The Chania router, built once per session and kept by the registry's in-process cache,
    so ``router_for`` finds it for any test municipality (they all share this bbox)."""
    from django.conf import settings

    from dispatch.routing.network import Clip
    from dispatch.routing.registry import GraphSource, router_for_source

    old = settings.KINISI_GRAPH_DIR
    settings.KINISI_GRAPH_DIR = chania_graph_dir
    try:
        return router_for_source(GraphSource(path=CHANIA, clip=Clip(bbox=CHANIA_BBOX)))
    finally:
        settings.KINISI_GRAPH_DIR = old


@pytest.fixture
def chania_router(chania_router_session, settings, chania_graph_dir):
    settings.KINISI_GRAPH_DIR = chania_graph_dir
    return chania_router_session
