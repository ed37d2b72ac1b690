"""Benchmark: the round optimiser against best-known solutions, raw PyVRP and VROOM.

    .venv/bin/python benchmarks/optimiser.py                 # 8 instances x (5 s, 30 s)
    .venv/bin/python benchmarks/optimiser.py --quick         # 2 s on C101 and X-n101-k25
    .venv/bin/python benchmarks/optimiser.py --time 5 --instances C101,R101 --seeds 3

Every instance is solved three ways at the same time limit, one after the other:

- ``kinisi``: through ``dispatch.routing.optimiser.optimise``, the product's code path (the
  instance is turned into depots, jobs, vehicles and integer matrices, as the router would give);
- ``pyvrp``: PyVRP alone on the instance file (``pyvrp.read`` + ``pyvrp.solve``), the baseline
  the optimiser must not fall behind;
- ``vroom``: VROOM through pyvroom, on the same integer matrices.

Distances follow each set's convention: Solomon (C101, R101, RC101) Euclidean truncated to one
decimal, scaled by 10 to integers (times and service times scaled alike); X instances Euclidean
rounded to the nearest integer. The gap is (cost - BKS) / BKS in percent, on the distance. With
several seeds the median gap is shown. The machine is shared: the load average is printed
before and after, and CPU contention lowers every solver's figure alike.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyvrp
from pyvrp.stop import MaxRuntime

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from dispatch.routing.optimiser import Depot, Job, Problem, Vehicle, optimise  # noqa: E402

DATA = ROOT / "data" / "vrp"
ALL = ["C101", "R101", "RC101", "X-n101-k25", "X-n157-k13", "X-n200-k36", "X-n256-k16",
       "X-n303-k21"]  # fmt: skip
QUICK = ["C101", "X-n101-k25"]


@dataclass
class Instance:
    name: str
    solomon: bool
    capacity: int
    vehicles: int
    demand: list[int]
    windows: list[tuple[int, int]] | None
    service: list[int]
    matrix: np.ndarray  # distance = travel time, integers

    @property
    def scale(self) -> int:
        return 10 if self.solomon else 1


def read_vrplib(path: Path) -> dict:
    """Minimal VRPLIB reader: header fields and the node sections these instances use."""
    header: dict[str, str] = {}
    sections: dict[str, list[list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("_SECTION"):
            current = line
            sections[current] = []
        elif ":" in line and current is None:
            key, value = line.split(":", 1)
            header[key.strip()] = value.strip()
        elif current is not None:
            sections[current].append(line.split())
    return {"header": header, "sections": sections}


def load(name: str) -> Instance:
    raw = read_vrplib(DATA / f"{name}.vrp")
    sec = raw["sections"]
    coords = np.array([[float(x), float(y)] for _, x, y in sec["NODE_COORD_SECTION"]])
    diff = coords[:, None, :] - coords[None, :, :]
    euclid = np.sqrt((diff**2).sum(axis=2))
    solomon = "TIME_WINDOW_SECTION" in sec
    n = len(coords)
    if solomon:
        # DIMACS convention: truncate to one decimal, i.e. floor of ten times the distance.
        matrix = (10 * euclid).astype(np.int64)
        windows = [(10 * int(a), 10 * int(b)) for _, a, b in sec["TIME_WINDOW_SECTION"]]
        service = [10 * int(s) for _, s in sec["SERVICE_TIME_SECTION"]]
        vehicles = int(raw["header"]["VEHICLES"])
    else:
        matrix = np.round(euclid).astype(np.int64)
        windows = None
        service = [0] * n
        vehicles = n - 1  # unlimited in practice: one per customer, as pyvrp.read does
    return Instance(
        name=name,
        solomon=solomon,
        capacity=int(raw["header"]["CAPACITY"]),
        vehicles=vehicles,
        demand=[int(d) for _, d in sec["DEMAND_SECTION"]],
        windows=windows,
        service=service,
        matrix=matrix,
    )


@dataclass
class Outcome:
    cost: float | None  # in the instance's own units; None when no complete feasible solution
    runtime: float
    note: str = ""


def run_kinisi(inst: Instance, seconds: float, seed: int) -> Outcome:
    n = len(inst.demand)
    horizon = inst.windows[0][1] if inst.windows else None
    problem = Problem(
        depots=[Depot("depot", 0)],
        jobs=[
            Job(
                id=i,
                location=i,
                demand=inst.demand[i],
                time_window=inst.windows[i] if inst.windows else None,
                service_time=inst.service[i],
            )
            for i in range(1, n)
        ],
        vehicles=[
            Vehicle(id=k, capacity=inst.capacity, start_depot="depot", shift_end=horizon)
            for k in range(inst.vehicles)
        ],
        durations=inst.matrix,
        distances=inst.matrix,
        time_limit=seconds,
    )
    began = time.perf_counter()
    plan = optimise(problem, seed=seed)
    elapsed = time.perf_counter() - began
    if plan.unassigned:
        return Outcome(None, elapsed, f"{len(plan.unassigned)} jobs unassigned")
    return Outcome(plan.distance / inst.scale, elapsed)


def run_pyvrp(inst: Instance, seconds: float, seed: int) -> Outcome:
    began = time.perf_counter()
    data = pyvrp.read(DATA / f"{inst.name}.vrp", "dimacs" if inst.solomon else "round")
    result = pyvrp.solve(data, MaxRuntime(seconds), seed=seed, collect_stats=False, display=False)
    elapsed = time.perf_counter() - began
    if not result.is_feasible():
        return Outcome(None, elapsed, "infeasible")
    return Outcome(result.best.distance() / inst.scale, elapsed)


def run_vroom(inst: Instance, seconds: float, seed: int, threads: int) -> Outcome:
    import vroom  # the bench extra; imported late so the other solvers run without it

    del seed  # VROOM's search is deterministic
    n = len(inst.demand)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=inst.matrix.tolist())
    window = vroom.TimeWindow(*inst.windows[0]) if inst.windows else None
    for k in range(inst.vehicles):
        extra = {"time_window": window} if window else {}
        problem.add_vehicle(vroom.Vehicle(k + 1, start=0, end=0, capacity=[inst.capacity], **extra))
    for i in range(1, n):
        extra = {"time_windows": [vroom.TimeWindow(*inst.windows[i])]} if inst.windows else {}
        problem.add_job(
            vroom.Job(
                i,
                location=i,
                default_service=inst.service[i],
                delivery=[inst.demand[i]],
                **extra,
            )
        )
    began = time.perf_counter()
    solution = problem.solve(
        exploration_level=5, nb_threads=threads, timeout=timedelta(seconds=seconds)
    )
    elapsed = time.perf_counter() - began
    if solution.summary.unassigned:
        return Outcome(None, elapsed, f"{solution.summary.unassigned} jobs unassigned")
    # VROOM's cost is the travel time, which here equals the distance.
    return Outcome(solution.summary.cost / inst.scale, elapsed)


def gap(cost: float | None, bks: float) -> float | None:
    return None if cost is None else 100 * (cost - bks) / bks


def fmt(values: list[float | None], seconds: list[float]) -> str:
    done = [v for v in values if v is not None]
    took = f"({statistics.median(seconds):4.1f}s)"
    if not done:
        return f"none {took}"
    text = f"{statistics.median(done):5.2f} {took}"
    return text if len(done) == len(values) else f"{text} {len(values) - len(done)} failed"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time", default="5,30", help="time limits in seconds, comma-separated")
    parser.add_argument("--instances", default=",".join(ALL))
    parser.add_argument("--quick", action="store_true", help="2 s on C101 and X-n101-k25")
    parser.add_argument("--seeds", type=int, default=1, help="runs per solver (median shown)")
    parser.add_argument("--solvers", default="kinisi,pyvrp,vroom")
    parser.add_argument(
        "--vroom-threads",
        type=int,
        default=1,
        help="VROOM threads (default 1: the same CPU budget as PyVRP, which is single-threaded)",
    )
    args = parser.parse_args(argv)
    limits = [2.0] if args.quick else [float(t) for t in args.time.split(",")]
    names = QUICK if args.quick else [n.strip() for n in args.instances.split(",") if n.strip()]
    solvers = [s.strip() for s in args.solvers.split(",")]
    bks = json.loads((DATA / "bks.json").read_text())

    print(f"optimiser benchmark; start: {load_average()}")
    print(f"pyvrp {version('pyvrp')}", end="")
    try:
        import vroom  # noqa: F401

        print(f", pyvroom {version('pyvroom')}", end="")
    except ImportError:
        solvers = [s for s in solvers if s != "vroom"]
        print(", pyvroom not installed (pip install .[bench])", end="")
    print(f"; vroom threads {args.vroom_threads}; seeds {args.seeds}\n")

    header = f"{'instance':<12} {'BKS':>9} {'limit':>6} " + " ".join(
        f"{s + ' gap % (time)':>20}" for s in solvers
    )
    header += f" {'load1':>6}"
    print(header)
    print("-" * len(header))
    worse = []
    for name in names:
        inst = load(name)
        best = bks[name]["bks"]
        for limit in limits:
            gaps: dict[str, list[float | None]] = {s: [] for s in solvers}
            took: dict[str, list[float]] = {s: [] for s in solvers}
            notes = []
            for seed in range(1, args.seeds + 1):
                for solver in solvers:
                    if solver == "kinisi":
                        out = run_kinisi(inst, limit, seed)
                    elif solver == "pyvrp":
                        out = run_pyvrp(inst, limit, seed)
                    else:
                        out = run_vroom(inst, limit, seed, args.vroom_threads)
                    gaps[solver].append(gap(out.cost, best))
                    took[solver].append(out.runtime)
                    if out.note:
                        notes.append(f"{solver}: {out.note}")
            row = f"{name:<12} {best:>9.1f} {limit:>5.0f}s " + " ".join(
                f"{fmt(gaps[s], took[s]):>20}" for s in solvers
            )
            row += f" {os.getloadavg()[0]:6.2f}"
            print(row + (f"   [{'; '.join(notes)}]" if notes else ""), flush=True)
            if "kinisi" in gaps and "pyvrp" in gaps:
                k = [g if g is not None else math.inf for g in gaps["kinisi"]]
                p = [g if g is not None else math.inf for g in gaps["pyvrp"]]
                # Same algorithm and seed: only noise (iterations lost to a busy CPU) separates
                # the two, so a difference under half a percent is not "worse".
                if statistics.median(k) > statistics.median(p) + 0.5:
                    worse.append(f"{name} {limit:.0f}s")
    print(f"\nend: {load_average()}")
    if worse:
        print("kinisi worse than raw PyVRP by more than 0.5 points on: " + ", ".join(worse))
    elif "kinisi" in solvers and "pyvrp" in solvers:
        print("kinisi is within 0.5 points of raw PyVRP (or better) on every row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
