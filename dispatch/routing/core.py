"""Exact junction-to-junction costs and paths on the *core* of the road graph.

Pure module (numpy and scipy). Most nodes of a road graph only pass traffic through: a node in
the middle of a street with one way in and one way out (or, on a two-way street, two neighbours
reached both ways). Such nodes are folded into *chains* between core nodes; what is left (the
junctions proper) is small: the unsimplified Andorra graph's ~25,000 nodes have a core of about
2,500. A node inside a chain reaches the core at the chain's end (and is reached from its
start), at a known cost.

On a core of up to ``max_table_nodes`` nodes the engine precomputes every core-to-core cost and
the predecessor on each best path (one scipy Dijkstra from every core node, once per graph,
metric and vehicle profile). A matrix is then a few vectorised table look-ups, and a path a walk
up the predecessor table. Larger cores are searched with scipy's Dijkstra per query instead.
Every cost is a sum of integer edge weights, so all of this is exact: the same totals as
networkx on the same graph.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

logger = logging.getLogger(__name__)

DEFAULT_MAX_TABLE_NODES = 3000
_U32_NONE = np.iinfo(np.uint32).max


class CoreEngine:
    """Costs by ``weight`` (and the ``other`` weight summed along the same best paths) between
    original nodes, over the edges in ``open_mask``."""

    def __init__(
        self,
        n_nodes: int,
        src: np.ndarray,
        dst: np.ndarray,
        weight: np.ndarray,
        other: np.ndarray,
        open_mask: np.ndarray,
        *,
        max_table_nodes: int = DEFAULT_MAX_TABLE_NODES,
    ) -> None:
        started = time.perf_counter()
        self.n = n_nodes
        self.max_table_nodes = max_table_nodes
        # The cheapest open edge for each (u, v); self-loops never shorten a path.
        edges = np.flatnonzero(open_mask & (src != dst))
        order = np.lexsort((other[edges], weight[edges], dst[edges], src[edges]))
        edges = edges[order]
        pair = src[edges].astype(np.int64) * n_nodes + dst[edges]
        keep = np.ones(len(edges), dtype=bool)
        keep[1:] = pair[1:] != pair[:-1]
        self.arc_edge = edges[keep]  # arc -> original edge id
        self.arc_u = src[self.arc_edge].astype(np.int64)
        self.arc_v = dst[self.arc_edge].astype(np.int64)
        self.arc_w = weight[self.arc_edge].astype(np.float64)
        self.arc_o = other[self.arc_edge].astype(np.float64)
        self._fold_chains()
        self.dist_table: np.ndarray | None = None
        self.pred: np.ndarray | None = None
        self._other_table: np.ndarray | None = None  # uint32 when it fits
        self._arc_edges: dict[int, list[int]] | None = None
        self.setup_s = time.perf_counter() - started

    # -- building the core -----------------------------------------------------------------------

    def _fold_chains(self) -> None:
        n = self.n
        u, v = self.arc_u, self.arc_v
        out_deg = np.bincount(u, minlength=n)
        in_deg = np.bincount(v, minlength=n)
        out_start = np.concatenate([[0], np.cumsum(out_deg)])  # arcs are sorted by u
        by_v = np.lexsort((u, v))
        in_start = np.concatenate([[0], np.cumsum(in_deg)])
        in_u = u[by_v]

        def first_second(start, deg, nbr):
            a = np.full(n, -1, dtype=np.int64)
            b = np.full(n, -1, dtype=np.int64)
            has1, has2 = deg >= 1, deg >= 2
            a[has1] = nbr[start[:-1][has1]]
            b[has2] = nbr[start[:-1][has2] + 1]
            return a, b

        o1, o2 = first_second(out_start, out_deg, v)
        i1, i2 = first_second(in_start, in_deg, in_u)
        one_way = (in_deg == 1) & (out_deg == 1) & (i1 != o1)
        two_way = (in_deg == 2) & (out_deg == 2) & (i1 == o1) & (i2 == o2) & (o1 != o2)
        passing = one_way | two_way
        is_core = ~passing

        chains_nodes: list[np.ndarray] = []
        chains_arcs: list[np.ndarray] = []
        member_chain = np.full((n, 2), -1, dtype=np.int64)
        member_pos = np.full((n, 2), -1, dtype=np.int64)
        arc_v_list = v.tolist()
        out_start_l = out_start.tolist()
        two_way_l = two_way.tolist()
        core_l = is_core.tolist()

        def walk(start: int) -> None:
            for a0 in range(out_start_l[start], out_start_l[start + 1]):
                nodes, arcs = [start], [a0]
                prev, cur = start, arc_v_list[a0]
                while not core_l[cur]:
                    lo = out_start_l[cur]
                    a = lo
                    if two_way_l[cur] and arc_v_list[lo] == prev:
                        a = lo + 1
                    nodes.append(cur)
                    arcs.append(a)
                    prev, cur = cur, arc_v_list[a]
                    if len(nodes) > n:  # cannot happen once a ring has a core node
                        raise RuntimeError("chain walk did not reach the core")
                nodes.append(cur)
                k = len(chains_nodes)
                chains_nodes.append(np.asarray(nodes, dtype=np.int64))
                chains_arcs.append(np.asarray(arcs, dtype=np.int64))
                for i, x in enumerate(nodes[1:-1], start=1):
                    slot = 0 if member_chain[x, 0] < 0 else 1
                    member_chain[x, slot] = k
                    member_pos[x, slot] = i

        for c in np.flatnonzero(is_core).tolist():
            walk(c)
        # A ring with no junction on it (a roundabout cut off, say) has no core node: promote one
        # of its nodes and walk again until every passing node is on a chain.
        while True:
            lost = np.flatnonzero(passing & (member_chain[:, 0] < 0))
            if len(lost) == 0:
                break
            x = int(lost[0])
            is_core[x], passing[x] = True, False
            core_l[x] = True
            walk(x)

        self.is_core = is_core
        self.core_nodes = np.flatnonzero(is_core)
        self.core_index = np.full(n, -1, dtype=np.int64)
        self.core_index[self.core_nodes] = np.arange(len(self.core_nodes))
        self.n_core = len(self.core_nodes)

        # Chains as flat arrays: arcs, and the cumulative weights at each node along each chain.
        n_chains = len(chains_nodes)
        lengths = np.array([len(a) for a in chains_arcs], dtype=np.int64)
        self.chain_arc_start = np.concatenate([[0], np.cumsum(lengths)])
        self.chain_arcs = np.concatenate(chains_arcs) if n_chains else np.zeros(0, np.int64)
        cum_w = np.cumsum(self.arc_w[self.chain_arcs]) if n_chains else np.zeros(0)
        cum_o = np.cumsum(self.arc_o[self.chain_arcs]) if n_chains else np.zeros(0)
        # cum at position i (i >= 1) of chain k = sum of its first i arcs
        first_w = np.concatenate([[0.0], cum_w])[self.chain_arc_start[:-1]]
        first_o = np.concatenate([[0.0], cum_o])[self.chain_arc_start[:-1]]
        self._cum_w = np.concatenate([[0.0], cum_w])
        self._cum_o = np.concatenate([[0.0], cum_o])
        self._chain_first_w = first_w
        self._chain_first_o = first_o
        self.chain_from = np.array([c[0] for c in chains_nodes], dtype=np.int64)
        self.chain_to = np.array([c[-1] for c in chains_nodes], dtype=np.int64)
        total_w = self._cum_w[self.chain_arc_start[1:]] - first_w
        total_o = self._cum_o[self.chain_arc_start[1:]] - first_o

        def cum_at(k: np.ndarray, pos: np.ndarray, cum: np.ndarray, first: np.ndarray):
            return cum[self.chain_arc_start[k] + pos] - first[k]

        # Ways out of / into every node: itself if core, else the ends of its chains.
        self.ex_node = np.full((n, 2), -1, dtype=np.int64)
        self.ex_w = np.full((n, 2), np.inf)
        self.ex_o = np.zeros((n, 2))
        self.en_node = np.full((n, 2), -1, dtype=np.int64)
        self.en_w = np.full((n, 2), np.inf)
        self.en_o = np.zeros((n, 2))
        self.m_cum_w = np.full((n, 2), np.nan)
        self.m_cum_o = np.full((n, 2), np.nan)
        core = self.core_nodes
        self.ex_node[core, 0] = self.core_index[core]
        self.ex_w[core, 0] = 0.0
        self.en_node[core, 0] = self.core_index[core]
        self.en_w[core, 0] = 0.0
        for slot in range(2):
            x = np.flatnonzero(member_chain[:, slot] >= 0)
            k, pos = member_chain[x, slot], member_pos[x, slot]
            at_w = cum_at(k, pos, self._cum_w, first_w)
            at_o = cum_at(k, pos, self._cum_o, first_o)
            self.m_cum_w[x, slot] = at_w
            self.m_cum_o[x, slot] = at_o
            self.ex_node[x, slot] = self.core_index[self.chain_to[k]]
            self.ex_w[x, slot] = total_w[k] - at_w
            self.ex_o[x, slot] = total_o[k] - at_o
            self.en_node[x, slot] = self.core_index[self.chain_from[k]]
            self.en_w[x, slot] = at_w
            self.en_o[x, slot] = at_o
        self.member_chain = member_chain
        self.member_pos = member_pos

        # Core arcs: each chain is one arc between its end nodes; keep the cheapest per pair.
        ok = self.chain_from != self.chain_to
        ks = np.flatnonzero(ok)
        cu = self.core_index[self.chain_from[ks]]
        cv = self.core_index[self.chain_to[ks]]
        order = np.lexsort((total_o[ks], total_w[ks], cv, cu))
        ks, cu, cv = ks[order], cu[order], cv[order]
        key = cu * max(self.n_core, 1) + cv
        keep = np.ones(len(ks), dtype=bool)
        keep[1:] = key[1:] != key[:-1]
        self.core_arc_chain = ks[keep]
        self.core_arc_key = key[keep]
        self.core_arc_o = total_o[self.core_arc_chain]
        self.core_csr = csr_matrix(
            (total_w[self.core_arc_chain], (cu[keep], cv[keep])),
            shape=(self.n_core, self.n_core),
            dtype=np.float64,
        )
        self.core_csr.sort_indices()

    # -- precomputation --------------------------------------------------------------------------

    @property
    def has_table(self) -> bool:
        return self.dist_table is not None

    # The DijkstraEngine interface, so the router can use either.
    def table(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self.table_between(sources, targets)[0]

    def path_edges(self, source: int, target: int) -> np.ndarray | None:
        return self.path(source, target)

    def build_table(self) -> bool:
        """Precompute all core-to-core costs and predecessors, if the core is small enough."""
        if self.dist_table is not None:
            return True
        if self.n_core > self.max_table_nodes or self.n_core == 0:
            return False
        started = time.perf_counter()
        dist, pred = dijkstra(self.core_csr, directed=True, return_predecessors=True)
        finite = np.isfinite(dist)
        if finite.any() and dist[finite].max() < _U32_NONE:
            table = np.full(dist.shape, _U32_NONE, dtype=np.uint32)
            table[finite] = dist[finite]
        else:
            table = dist
        pred_dtype = np.int16 if self.n_core < np.iinfo(np.int16).max else np.int32
        self.pred = np.where(pred < 0, -1, pred).astype(pred_dtype)
        self.dist_table = table
        logger.info(
            "routing.core_table nodes=%d core=%d ms=%.0f",
            self.n,
            self.n_core,
            (time.perf_counter() - started) * 1000,
        )
        return True

    def _core_rows(self, rows: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """Core-to-core costs as float64 (inf when unreachable)."""
        t = self.dist_table
        assert t is not None
        block = t[rows] if cols is None else t[np.ix_(rows, cols)]
        if block.dtype == np.uint32:
            out = block.astype(np.float64)
            out[block == _U32_NONE] = np.inf
            return out
        return block

    def _tree_sums(self, pred: np.ndarray) -> np.ndarray:
        """``other`` summed from each row's root down its predecessor tree (rows of ``pred``
        are predecessor arrays over the core), by pointer doubling: log2(depth) vectorised
        passes instead of a walk per node."""
        r, m = pred.shape
        p = pred.astype(np.int64).ravel()
        child = np.tile(np.arange(m, dtype=np.int64), r)
        has = p >= 0
        acc = np.zeros(r * m)
        acc[has] = self.core_arc_o[np.searchsorted(self.core_arc_key, p[has] * m + child[has])]
        rows = np.repeat(np.arange(r, dtype=np.int64) * m, m)
        up = np.where(has, rows + p, -1)
        while True:
            live = np.flatnonzero(up >= 0)
            if len(live) == 0:
                break
            nxt = up[live]
            acc[live] += acc[nxt]  # right-hand sides are read before anything is written
            up[live] = up[nxt]
        return acc.reshape(r, m)

    def _other_core_table(self) -> np.ndarray:
        """``other`` summed along every best core path (a second table, built on first use)."""
        if self._other_table is None:
            assert self.pred is not None
            m = self.n_core
            out = np.empty((m, m))
            step = max(1, 2_000_000 // max(m, 1))  # bounded memory per chunk of rows
            for lo in range(0, m, step):
                out[lo : lo + step] = self._tree_sums(self.pred[lo : lo + step])
            # Integer sums: uint32 holds them exactly in half the memory (up to 49 days in ms
            # or 4,294 km in mm, far beyond any municipality).
            self._other_table = out.astype(np.uint32) if out.max(initial=0) < _U32_NONE else out
        return self._other_table

    # -- queries ---------------------------------------------------------------------------------

    def table_between(
        self, sources: np.ndarray, targets: np.ndarray, *, annotate: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Costs from each original node in ``sources`` to each in ``targets`` (inf when
        unreachable), and with ``annotate`` the ``other`` weight along those best paths."""
        sources = np.asarray(sources, dtype=np.int64)
        targets = np.asarray(targets, dtype=np.int64)
        n_s, n_t = len(sources), len(targets)
        best = np.full((n_s, n_t), np.inf)
        best_o = np.full((n_s, n_t), np.nan) if annotate else None
        if n_s == 0 or n_t == 0:
            return best, best_o
        xn, xw, xo = self.ex_node[sources], self.ex_w[sources], self.ex_o[sources]
        yn, yw, yo = self.en_node[targets], self.en_w[targets], self.en_o[targets]
        us = np.unique(xn[xn >= 0])
        ut = np.unique(yn[yn >= 0])
        if self.dist_table is not None or self.build_table():
            core = self._core_rows(us, ut)
            core_o = (
                self._other_core_table()[np.ix_(us, ut)].astype(np.float64) if annotate else None
            )
        else:
            core, core_o = self._search(us, ut, annotate)
        xi = np.searchsorted(us, np.maximum(xn, 0))
        yi = np.searchsorted(ut, np.maximum(yn, 0))
        for a in range(2):
            if not (xn[:, a] >= 0).any():
                continue
            for b in range(2):
                if not (yn[:, b] >= 0).any():
                    continue
                block = core[xi[:, a][:, None], yi[:, b][None, :]]
                cost = xw[:, a, None] + block + yw[None, :, b]
                better = cost < best
                best = np.where(better, cost, best)
                if annotate:
                    oth = xo[:, a, None] + core_o[xi[:, a][:, None], yi[:, b][None, :]]
                    oth = oth + yo[None, :, b]
                    best_o = np.where(better, oth, best_o)
        # Along one chain, from an earlier node to a later one, without touching the core.
        mc_s, mc_t = self.member_chain[sources], self.member_chain[targets]
        if (mc_s >= 0).any() and (mc_t >= 0).any():
            ps, pt = self.member_pos[sources], self.member_pos[targets]
            for a in range(2):
                for b in range(2):
                    same = (mc_s[:, a, None] == mc_t[None, :, b]) & (mc_s[:, a, None] >= 0)
                    same &= ps[:, a, None] < pt[None, :, b]
                    if not same.any():
                        continue
                    cost = self.m_cum_w[targets, b][None, :] - self.m_cum_w[sources, a][:, None]
                    # Ties go to the chain, as in path(), so both report the same route.
                    better = same & (cost <= best)
                    best = np.where(better, cost, best)
                    if annotate:
                        oth = self.m_cum_o[targets, b][None, :] - self.m_cum_o[sources, a][:, None]
                        best_o = np.where(better, oth, best_o)
        # A node to itself costs nothing.
        eq = sources[:, None] == targets[None, :]
        best = np.where(eq, 0.0, best)
        if annotate:
            best_o = np.where(eq, 0.0, best_o)
        return best, best_o

    def _search(
        self, us: np.ndarray, ut: np.ndarray, annotate: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Core costs by Dijkstra from each needed core node (cores too big for a table)."""
        if len(us) == 0 or len(ut) == 0:
            return np.full((len(us), len(ut)), np.inf), None
        if not annotate:
            return dijkstra(self.core_csr, directed=True, indices=us)[:, ut], None
        dist, pred = dijkstra(self.core_csr, directed=True, indices=us, return_predecessors=True)
        return dist[:, ut], self._tree_sums(np.where(pred < 0, -1, pred))[:, ut]

    def path(self, source: int, target: int) -> np.ndarray | None:
        """Original edge ids of a best path from ``source`` to ``target``; None if none.

        Scalar code on purpose: for one pair, numpy's per-call overhead would dominate. Ties
        are broken as in :meth:`table_between` (exit/entry pairs in order, then the chain).
        """
        if source == target:
            return np.zeros(0, dtype=np.int64)
        total = np.inf
        best: tuple = ()
        rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for a in range(2):
            xc = int(self.ex_node[source, a])
            if xc < 0:
                continue
            for b in range(2):
                yc = int(self.en_node[target, b])
                if yc < 0:
                    continue
                if self.dist_table is not None or self.build_table():
                    core_cost = float(self.dist_table[xc, yc])
                    if core_cost == _U32_NONE and self.dist_table.dtype == np.uint32:
                        core_cost = np.inf
                else:
                    if xc not in rows:
                        dist, pred = dijkstra(
                            self.core_csr, directed=True, indices=xc, return_predecessors=True
                        )
                        rows[xc] = (dist, pred)
                    core_cost = float(rows[xc][0][yc])
                cost = float(self.ex_w[source, a]) + core_cost + float(self.en_w[target, b])
                if cost < total:
                    total, best = cost, ("core", a, b, xc, yc)
        for a in range(2):
            k = int(self.member_chain[source, a])
            if k < 0:
                continue
            for b in range(2):
                if int(self.member_chain[target, b]) != k:
                    continue
                i, j = int(self.member_pos[source, a]), int(self.member_pos[target, b])
                cost = float(self.m_cum_w[target, b] - self.m_cum_w[source, a])
                if i < j and cost <= total:
                    total, best = cost, ("chain", k, i, j)
        if not best or not np.isfinite(total):
            return None
        if best[0] == "chain":
            _, k, i, j = best
            return self._chain_slice(k, i, j)
        _, a, b, xc, yc = best
        parts = []
        if not self.is_core[source]:
            k = int(self.member_chain[source, a])
            parts.append(self._chain_slice(k, int(self.member_pos[source, a]), None))
        pred_row = self.pred[xc] if self.pred is not None else rows[xc][1]
        parts.append(self._core_path_edges(xc, yc, pred_row))
        if not self.is_core[target]:
            k = int(self.member_chain[target, b])
            parts.append(self._chain_slice(k, 0, int(self.member_pos[target, b])))
        return np.concatenate(parts)

    def _core_path_edges(self, a: int, b: int, pred_row: np.ndarray) -> np.ndarray:
        """Original edges of the best core path a -> b, from a's predecessor row."""
        if a == b:
            return np.zeros(0, dtype=np.int64)
        arc_edges = self._arc_edge_lists()
        m = max(self.n_core, 1)
        out: list[int] = []
        node = b
        while node != a:
            prev = pred_row.item(node)
            out.extend(reversed(arc_edges[prev * m + node]))
            node = prev
        out.reverse()
        return np.asarray(out, dtype=np.int64)

    def _arc_edge_lists(self) -> dict[int, list[int]]:
        """Each core arc's original edges as a Python list, keyed by u * n_core + v: walking
        a path is then plain dict look-ups, cheaper than numpy calls for one route."""
        if self._arc_edges is None:
            starts = self.chain_arc_start
            edges = self.arc_edge[self.chain_arcs].tolist()
            lookup = {}
            for key, k in zip(
                self.core_arc_key.tolist(), self.core_arc_chain.tolist(), strict=True
            ):
                lookup[key] = edges[starts[k] : starts[k + 1]]
            self._arc_edges = lookup
        return self._arc_edges

    def _chain_slice(self, k: int, i: int, j: int | None) -> np.ndarray:
        """Original edges of chain ``k`` from its node at position i to position j."""
        lo = self.chain_arc_start[k]
        hi = self.chain_arc_start[k + 1] if j is None else lo + j
        return self.arc_edge[self.chain_arcs[lo + i : hi]]
