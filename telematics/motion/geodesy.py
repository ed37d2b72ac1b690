"""Distances on the Earth and a local metric projection, in plain floats for the hot loops."""

from __future__ import annotations

import math

# Mean Earth radius (IUGG). Haversine on a sphere differs from the WGS84 ellipsoid by < 0.5 %,
# the same on every segment, so relative comparisons (jitter radii, trip thresholds) are unaffected.
EARTH_RADIUS_M = 6_371_008.8
_DEG = math.pi / 180.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points given in degrees."""
    p1 = lat1 * _DEG
    p2 = lat2 * _DEG
    dp = p2 - p1
    dl = (lon2 - lon1) * _DEG
    a = math.sin(dp * 0.5) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl * 0.5) ** 2
    if a >= 1.0:
        return math.pi * EARTH_RADIUS_M
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def local_xy(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    """Equirectangular metres east/north of (lat0, lon0); fine within a few tens of km."""
    x = (lon - lon0) * _DEG * EARTH_RADIUS_M * math.cos(lat0 * _DEG)
    y = (lat - lat0) * _DEG * EARTH_RADIUS_M
    return x, y


def metres_to_degrees(metres: float, at_latitude: float) -> tuple[float, float]:
    """How many degrees of latitude and longitude span ``metres`` at a given latitude."""
    dlat = metres / (EARTH_RADIUS_M * _DEG)
    coslat = max(math.cos(at_latitude * _DEG), 1e-6)
    return dlat, dlat / coslat


def simplify_indices(xs: list[float], ys: list[float], tolerance: float) -> list[int]:
    """Douglas-Peucker on planar points; returns the indices kept (first and last always).

    Own implementation rather than shapely's ``simplify`` because the caller needs *which*
    points survive, to keep their timestamps.
    """
    n = len(xs)
    if n <= 2:
        return list(range(n))
    keep = [False] * n
    keep[0] = keep[n - 1] = True
    stack = [(0, n - 1)]
    tol2 = tolerance * tolerance
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        ax, ay = xs[i], ys[i]
        bx, by = xs[j], ys[j]
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        best = -1.0
        best_k = -1
        for k in range(i + 1, j):
            px, py = xs[k] - ax, ys[k] - ay
            if seg2 > 0.0:
                u = (px * dx + py * dy) / seg2
                if u < 0.0:
                    u = 0.0
                elif u > 1.0:
                    u = 1.0
                ex, ey = px - u * dx, py - u * dy
            else:
                ex, ey = px, py
            d2 = ex * ex + ey * ey
            if d2 > best:
                best = d2
                best_k = k
        if best > tol2:
            keep[best_k] = True
            stack.append((i, best_k))
            stack.append((best_k, j))
    return [k for k in range(n) if keep[k]]
