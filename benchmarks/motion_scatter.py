"""Trips and stops when the receiver scatters while the vehicle idles.

    .venv/bin/python benchmarks/motion_scatter.py

One errand, repeated with different receivers: parked 2 minutes, 800 m east at 30 km/h, 15
minutes at rest with the engine on, 600 m north at 30 km/h, parked 5 minutes; a fix every 10 s.
While it idles, each fix is thrown off its true place by independent errors of ``sigma`` metres
per axis (white noise: the hard case, since consecutive fixes land far apart) and reports a
Doppler speed under the 5 km/h of moving. A clean receiver gives 2 trips of about 830 m and 590 m
with a 15-minute stop between them. A run counts as right when it gives 2 trips, each within
60 m of those; the extra distance is what the trips add over 1,400 m. 20 seeds per case.

A refuse truck's hop (40 m between two fixes that both report 0 km/h) looks like scatter from a
single interval; the detector tells them apart by how far this receiver lately put consecutive
fixes of a vehicle at rest (``TripConfig.scatter_window``).
"""

from __future__ import annotations

import math
import random
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from telematics.motion.pipeline import MotionProcessor  # noqa: E402
from telematics.motion.records import MotionFix  # noqa: E402
from telematics.motion.trips import Trip  # noqa: E402

LAT0, LON0 = 35.5138, 24.0180  # Chania
M_LAT = 6_371_008.8 * math.pi / 180.0
M_LON = M_LAT * math.cos(math.radians(LAT0))
SEEDS = 20


def errand(sigma: float, speed: float, seed: int) -> list[MotionFix]:
    rnd = random.Random(seed)
    t = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
    fixes: list[MotionFix] = []

    def emit(east: float, north: float, v: float) -> None:
        nonlocal t
        fixes.append(
            MotionFix(t, LAT0 + north / M_LAT, LON0 + east / M_LON, speed_kmh=v, ignition=True)
        )
        t += timedelta(seconds=10)

    for _ in range(12):
        emit(0.0, 0.0, 0.0)
    for i in range(1, 11):  # 800 m at 30 km/h (8.33 m/s): 96 s, 10 fixes
        emit(80.0 * i, 0.0, 30.0)
    for _ in range(90):
        emit(800.0 + rnd.gauss(0, sigma), rnd.gauss(0, sigma), speed)
    for i in range(1, 8):  # 600 m north
        emit(800.0, 600.0 * i / 7, 30.0)
    for _ in range(30):
        emit(800.0, 600.0, 0.0)
    return fixes


def main() -> None:
    print(__doc__.splitlines()[0])
    clean = [
        o
        for o in MotionProcessor().process(errand(0.0, 0.0, 0)).closed_outputs()
        if isinstance(o, Trip)
    ]
    print(
        f"  clean receiver: {len(clean)} trips, "
        + ", ".join(f"{t.distance_m:.0f} m" for t in clean)
    )
    for sigma in (5.0, 10.0, 15.0, 20.0, 25.0):
        cells = []
        for speed in (0.0, 3.0, 4.0):
            right = 0
            extra = []
            for seed in range(SEEDS):
                result = MotionProcessor().process(errand(sigma, speed, seed))
                trips = [o for o in result.closed_outputs() if isinstance(o, Trip)]
                trips += [o for o in result.provisional if isinstance(o, Trip)]
                extra.append(sum(t.distance_m for t in trips) - 1400.0)
                right += len(trips) == len(clean) and all(
                    abs(t.distance_m - c.distance_m) <= 60.0
                    for t, c in zip(trips, clean, strict=True)
                )
            cells.append(
                f"{speed:.0f} km/h: {right:2d}/{SEEDS} right, extra median "
                f"{statistics.median(extra):5.0f} m, max {max(extra):5.0f} m"
            )
        print(f"  sigma {sigma:2.0f} m | " + " | ".join(cells))


if __name__ == "__main__":
    main()
