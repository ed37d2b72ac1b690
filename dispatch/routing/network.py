"""The road network in compact array form, and its on-disk cache.

Pure module (numpy only). The arrays are what :mod:`dispatch.routing.graph` exports from OSMnx and
what :mod:`dispatch.routing.router` routes on. They are cached to an ``.npz`` file named after the
source file's SHA-256, so a restart loads the graph without importing OSMnx, and an extract that
changes gets a new hash and is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# Bump when the arrays or the build pipeline change, so old caches are not reused.
FORMAT_VERSION = 1

NO_LIMIT = float("inf")


@dataclass(frozen=True)
class Clip:
    """Area to keep: a bounding box (south, west, north, east) and/or a boundary polygon (shapely,
    longitude/latitude)."""

    bbox: tuple[float, float, float, float] | None = None
    polygon: Any = None

    def key(self) -> str:
        parts = []
        if self.bbox is not None:
            parts.append("bbox=" + ",".join(f"{v:.7f}" for v in self.bbox))
        if self.polygon is not None:
            parts.append("polygon=" + self.polygon.wkt)
        return ";".join(parts) or "all"


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A directed road graph as flat arrays.

    Nodes are junctions (and dead ends) numbered 0..N-1. Edges are directed road stretches between
    them, numbered 0..E-1 and sorted by (src, dst); a two-way street is two edges. Weights are
    integers (milliseconds, millimetres) held in float64 so sums are exact in any order.
    """

    osm_ids: np.ndarray  # (N,) int64, OSM node ids
    lon: np.ndarray  # (N,) float64
    lat: np.ndarray  # (N,) float64
    src: np.ndarray  # (E,) int32
    dst: np.ndarray  # (E,) int32
    edge_key: np.ndarray  # (E,) int32, OSMnx multigraph key
    time_ms: np.ndarray  # (E,) float64
    length_mm: np.ndarray  # (E,) float64
    maxweight_t: np.ndarray  # (E,) float32, inf when unrestricted
    maxheight_m: np.ndarray  # (E,) float32, inf when unrestricted
    hgv_no: np.ndarray  # (E,) bool
    name_idx: np.ndarray  # (E,) int32 into names
    names: np.ndarray  # (K,) str; "" for unnamed
    class_idx: np.ndarray  # (E,) int16 into classes
    classes: np.ndarray  # (C,) str, OSM highway values
    geom_offsets: np.ndarray  # (E+1,) int64 into geom_coords
    geom_coords: np.ndarray  # (P, 2) float64 lon/lat, each edge's shape from src to dst
    source_sha256: str = ""
    clip_key: str = ""

    @property
    def n_nodes(self) -> int:
        return len(self.lon)

    @property
    def n_edges(self) -> int:
        return len(self.src)

    def edge_coords(self, edge: int) -> np.ndarray:
        return self.geom_coords[self.geom_offsets[edge] : self.geom_offsets[edge + 1]]

    def edge_name(self, edge: int) -> str:
        return str(self.names[self.name_idx[edge]])

    def save(self, path: Path) -> None:
        """Write atomically, so a reader never sees half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays["source_sha256"] = np.array(self.source_sha256)
        arrays["clip_key"] = np.array(self.clip_key)
        arrays["format_version"] = np.array(FORMAT_VERSION)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> RoadNetwork:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format_version"]) != FORMAT_VERSION:
                raise ValueError(f"{path}: cache format {int(data['format_version'])}")
            kwargs: dict[str, Any] = {}
            for f in fields(cls):
                value = data[f.name]
                kwargs[f.name] = str(value) if f.name in ("source_sha256", "clip_key") else value
        return cls(**kwargs)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(cache_dir: Path, source: Path, sha256: str, clip: Clip) -> Path:
    stem = source.name.split(".")[0]
    variant = hashlib.sha256(f"{FORMAT_VERSION}|{clip.key()}".encode()).hexdigest()[:10]
    return cache_dir / f"{stem}-{variant}-{sha256[:16]}.npz"


def load_network(
    source: Path | str,
    clip: Clip | None = None,
    *,
    cache_dir: Path | str | None = None,
    force: bool = False,
) -> RoadNetwork:
    """The network of ``source``, from the cache when it holds this exact file, else built.

    Building imports OSMnx (about a second) and takes seconds to minutes; loading a cached
    network takes milliseconds, which is why the graph module is imported only on a miss.
    ``force`` rebuilds even when the cache holds this file.
    """
    source = Path(source)
    clip = clip or Clip()
    sha = file_sha256(source)
    if cache_dir is None:  # Django passes settings.KINISI_GRAPH_DIR; scripts may not care
        cache_dir = Path(tempfile.gettempdir()) / "kinisi-graphs"
    cache_dir = Path(cache_dir)
    path = cache_path(cache_dir, source, sha, clip)
    if path.is_file() and not force:
        started = time.perf_counter()
        try:
            net = RoadNetwork.load(path)
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("routing.cache_unreadable path=%s error=%s", path, exc)
        else:
            if net.source_sha256 == sha and net.clip_key == clip.key():
                logger.info(
                    "routing.cache_hit source=%s nodes=%d edges=%d ms=%.1f",
                    source.name,
                    net.n_nodes,
                    net.n_edges,
                    (time.perf_counter() - started) * 1000,
                )
                return net
    from dispatch.routing import graph  # noqa: PLC0415 - OSMnx only on a cache miss

    started = time.perf_counter()
    net = graph.build_network(source, clip, source_sha256=sha)
    net.save(path)
    # Older builds of the same extract and clip are dead weight once the file has changed.
    for stale in cache_dir.glob(path.name.rsplit("-", 1)[0] + "-*.npz"):
        if stale != path:
            stale.unlink(missing_ok=True)
    logger.info(
        "routing.cache_built source=%s sha256=%s nodes=%d edges=%d s=%.1f path=%s",
        source.name,
        sha[:16],
        net.n_nodes,
        net.n_edges,
        time.perf_counter() - started,
        path,
    )
    return net
