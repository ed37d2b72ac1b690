"""Road time and distance from many vehicles to one job, in one search.

Pure module (numpy and scipy; no Django). ``Router.matrix`` runs one shortest-path search per
origin, which for 500 vehicles and one job costs a few hundred milliseconds. Here the search runs
once, backwards from the job over the reversed road graph, so every vehicle's time to the job
comes out of the same tree. The results are the router's own (same snapping, same ways on and off
the road, same closed roads per vehicle profile); ``tests/dispatch/test_travel.py`` checks them
against ``Router.matrix``.

It relies on the router's snapping links (``_exits``, ``_entries``, ``_direct``) and engines;
when the router grows a public many-to-one query, this module should become a call to it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import dijkstra

from dispatch.routing.router import Metric, Router, Vehicle


@dataclass(frozen=True)
class ManyToOne:
    durations_s: np.ndarray  # (n,) NaN where there is no route or a point is unusable
    lengths_m: np.ndarray


_reversed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _reversed_csr(engine):
    """The engine's graph with every edge turned round, cached per engine."""
    csr_t = _reversed.get(engine)
    if csr_t is None:
        with _lock:
            csr_t = _reversed.get(engine)
            if csr_t is None:
                csr_t = engine.csr.transpose().tocsr()
                csr_t.sort_indices()
                _reversed[engine] = csr_t
    return csr_t


def _tree_sums(pred: np.ndarray, root: int, edge_weight_into) -> np.ndarray:
    """Sum of a second weight along each node's tree path to ``root`` (pointer doubling)."""
    n = len(pred)
    acc = np.zeros(n)
    parent = pred.astype(np.int64)
    has = parent >= 0
    if has.any():
        acc[has] = edge_weight_into(np.flatnonzero(has), parent[has])
    up = np.where(has, parent, -1)
    while True:
        live = up >= 0
        if not live.any():
            break
        idx = up[live]
        new_acc = acc.copy()
        new_acc[live] += acc[idx]
        new_up = up.copy()
        new_up[live] = up[idx]
        acc, up = new_acc, new_up
    acc[root] = 0.0
    return acc


def many_to_one(
    router: Router,
    origins: Sequence[tuple[float, float]],
    destination: tuple[float, float],
    *,
    vehicle: Vehicle | None = None,
) -> ManyToOne:
    """Fastest-route time (s) and that route's length (m) from each origin to ``destination``."""
    n = len(origins)
    durations = np.full(n, np.nan)
    lengths = np.full(n, np.nan)
    if n == 0:
        return ManyToOne(durations, lengths)
    time_w = router.net.time_ms
    dist_w = router.net.length_mm
    dest = router.snap_many([destination], vehicle=vehicle)[0]
    if not dest.ok:
        return ManyToOne(durations, lengths)
    snaps = router.snap_many(origins, vehicle=vehicle)
    prof = router._profile(vehicle)
    engine = router._engine(prof, Metric.TIME)
    csr_t = _reversed_csr(engine)
    entries = router._entries(dest, prof, time_w)

    def length_into(child: np.ndarray, parent: np.ndarray) -> np.ndarray:
        # In the reversed tree a node's parent is the next junction towards the job, so the
        # road edge runs child -> parent.
        return dist_w[engine.edges_between_pairs(child, parent)]

    # Per entry junction: time from every junction to the job through it, and its length.
    to_entry_t = []
    to_entry_m = []
    for link in entries:
        dist, pred = dijkstra(csr_t, directed=True, indices=link.node, return_predecessors=True)
        sums = _tree_sums(pred, link.node, length_into)
        to_entry_t.append(dist + link.cost)
        to_entry_m.append(sums + link.rest(dist_w))
    best_t = np.full(n, np.inf)
    best_m = np.full(n, np.nan)
    for i, snap in enumerate(snaps):
        if not snap.ok:
            continue
        for x in router._exits(snap, prof, time_w):
            x_len = x.rest(dist_w)
            for t_arr, m_arr in zip(to_entry_t, to_entry_m, strict=True):
                cost = x.cost + t_arr[x.node]
                if cost < best_t[i]:
                    best_t[i] = cost
                    best_m[i] = x_len + m_arr[x.node]
        if snap.edge == dest.edge:
            cost, e, fa, fb = router._direct(snap, dest, prof, time_w)
            if cost < best_t[i]:
                best_t[i] = cost
                best_m[i] = (fb - fa) * dist_w[e]
    ok = np.isfinite(best_t)
    durations[ok] = best_t[ok] / 1000.0
    lengths[ok] = best_m[ok] / 1000.0
    return ManyToOne(durations, lengths)
