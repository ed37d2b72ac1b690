"""Benchmark: importing a 50,000-row fuel-card statement, CSV and XLSX.

    .venv/bin/python benchmarks/fuel_import.py                 # 3 runs of each format
    .venv/bin/python benchmarks/fuel_import.py --rows 5000 --runs 1   # quick

What runs: a fresh SQLite database (the embedded default, in a temp directory) migrated once and
copied for every run; one municipality with 300 vehicles (plates and fuel cards) and one card
provider with its column mapping saved. The statement is what Greek providers send: Windows-1253,
``;`` between fields, decimal commas and thousands dots (``1.050,00``), dates as dd/mm/yyyy, a
title line above the header, plates spelt every way (``khy 1234``, ``ΚΗΥ-1234``), some rows by
card number only; 1 % of rows are bad (unknown plate, negative amount, impossible date, litres
that are not a number) and 0.5 % repeat an earlier transaction. The XLSX carries the same rows
with real date and number cells.

Each run is its own process (so its peak memory is its own): Django starts, the file is uploaded
as an import run, then ``fleet.services.fuel.fuel_import_execute`` parses, matches, de-duplicates
and writes every good row in one transaction, exactly as the Celery task does. Figures: wall time
of the import and its CPU time (the 2 cores are shared with other work, so wall time includes
waiting for a core), the process's peak resident memory (everything: Python, Django, the rows)
and what it was before the import, and the per-row report (counts by reason, the first lines).
Targets (issue 7): under 30 s and under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LETTERS = "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
LATIN = "ABEZHIKMNOPTYX"
HEADER = [
    "Α/Α Συναλλαγής",
    "Ημερομηνία",
    "Ώρα",
    "Αρ. Κυκλοφορίας",
    "Αρ. Κάρτας",
    "Προϊόν",
    "Λίτρα",
    "Τιμή Μονάδας",
    "Αξία",
    "Πρατήριο",
    "Χιλιόμετρα",
]
MAPPING = {
    "transaction_id": "Α/Α Συναλλαγής",
    "date": "Ημερομηνία",
    "time": "Ώρα",
    "plate": "Αρ. Κυκλοφορίας",
    "card_number": "Αρ. Κάρτας",
    "product": "Προϊόν",
    "litres": "Λίτρα",
    "unit_price": "Τιμή Μονάδας",
    "amount": "Αξία",
    "station": "Πρατήριο",
    "odometer": "Χιλιόμετρα",
}
STATIONS = ["ΕΚΟ Σούδας", "Shell Κουνουπιδιανών", "BP Χαλέπας", "Avin Μουρνιών", "Δεξαμενή Δήμου"]
VEHICLES = 300


def plates() -> list[str]:
    return [
        f"{LETTERS[i % 14]}{LETTERS[(i // 14) % 14]}{LETTERS[(i // 196) % 14]}-{1000 + i}"
        for i in range(VEHICLES)
    ]


def cards() -> list[str]:
    return [f"7077{i:012d}" for i in range(VEHICLES)]


def _greek_number(value: float, decimals: int = 2) -> str:
    text = f"{value:,.{decimals}f}"  # 1,050.00
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def statement_rows(n: int, seed: int = 7):
    """Rows of the statement as Python values (dates as datetimes), with the bad ones marked."""
    from datetime import datetime, timedelta

    rng = random.Random(seed)
    all_plates, all_cards = plates(), cards()
    start = datetime(2025, 1, 1, 6, 0)
    rows = []
    for i in range(n):
        v = rng.randrange(VEHICLES)
        when = start + timedelta(minutes=i * 2 + rng.randrange(0, 2))
        litres = round(rng.uniform(20, 280), 2)
        price = round(rng.uniform(1.55, 1.75), 3)
        plate = all_plates[v]
        style = rng.random()
        if style < 0.25:  # typed on a Latin keyboard, lower case, no hyphen
            letters, digits = plate.split("-")
            plate = letters.translate(str.maketrans(LETTERS, LATIN)).lower() + " " + digits
        card = ""
        if style > 0.85:  # the card decides
            plate, card = "", all_cards[v]
        rows.append(
            {
                "tx": f"TX{i:08d}",
                "when": when,
                "plate": plate,
                "card": card,
                "litres": litres,
                "price": price,
                "amount": round(litres * price, 2),
                "station": rng.choice(STATIONS),
                "km": 10000 + v * 1000 + i // VEHICLES * 150,
                "bad": "",
            }
        )
    for i in rng.sample(range(n), n // 100):
        kind = rng.choice(["unknown_plate", "negative", "bad_date", "bad_number"])
        rows[i]["bad"] = kind
        if kind == "unknown_plate":
            rows[i]["plate"], rows[i]["card"] = "ΧΧΧ-9999", ""
        elif kind == "negative":
            rows[i]["amount"] = -rows[i]["amount"]
    for i in rng.sample(range(1, n), n // 200):
        source = rows[rng.randrange(0, i)]
        if not rows[i]["bad"] and not source["bad"]:
            rows[i] = {**source, "dup": True}  # the same transaction again
    return rows


def write_csv(rows, path: Path) -> None:
    with path.open("w", encoding="cp1253", newline="") as out:
        out.write("ΚΑΤΑΣΤΑΣΗ ΚΙΝΗΣΕΩΝ ΚΑΡΤΩΝ ΚΑΥΣΙΜΟΥ - ΙΑΝΟΥΑΡΙΟΣ 2025\r\n")
        out.write(";".join(HEADER) + "\r\n")
        for r in rows:
            day = r["when"].strftime("%d/%m/%Y")
            litres = _greek_number(r["litres"])
            if r["bad"] == "bad_date":
                day = "31/02/2025"
            if r["bad"] == "bad_number":
                litres = "—"
            out.write(
                ";".join(
                    [
                        r["tx"],
                        day,
                        r["when"].strftime("%H:%M"),
                        r["plate"],
                        r["card"],
                        "Diesel",
                        litres,
                        _greek_number(r["price"], 3),
                        _greek_number(r["amount"]),
                        r["station"],
                        _greek_number(r["km"], 0),
                    ]
                )
                + "\r\n"
            )


def write_xlsx(rows, path: Path) -> None:
    from openpyxl import Workbook

    # A normal (not write-only) workbook keeps text in the shared-strings table, as Excel and the
    # providers' exports do; write-only mode would inline every string, which reads slower.
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Κινήσεις"
    sheet.append(["ΚΑΤΑΣΤΑΣΗ ΚΙΝΗΣΕΩΝ ΚΑΡΤΩΝ ΚΑΥΣΙΜΟΥ"])
    sheet.append(HEADER)
    for r in rows:
        when = "31/02/2025" if r["bad"] == "bad_date" else r["when"]
        litres = "—" if r["bad"] == "bad_number" else r["litres"]
        sheet.append(
            [
                r["tx"],
                when,
                None,
                r["plate"],
                r["card"] or None,
                "Diesel",
                litres,
                r["price"],
                r["amount"],
                r["station"],
                r["km"],
            ]
        )
    workbook.save(path)


# --- The measured process ---------------------------------------------------------------------


def _status_mb(key: str) -> float:
    # /proc rather than getrusage: Linux carries ru_maxrss across exec, so a child started by a
    # big parent would report the parent's peak; VmHWM belongs to this process image alone.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(db: Path, statement: Path, var: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ["KINISI_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import logging

    logging.disable(logging.INFO)
    from django.core.files.uploadedfile import SimpleUploadedFile

    from fleet.models import FuelCardProvider, FuelEntry, Municipality
    from fleet.services import fuel as services

    municipality = Municipality.objects.get(slug="bench")
    provider = FuelCardProvider.objects.get(municipality=municipality)
    upload = SimpleUploadedFile(statement.name, statement.read_bytes())
    run = services.fuel_import_upload(municipality=municipality, provider=provider, upload=upload)
    del upload
    baseline = _status_mb("VmRSS")
    started, cpu_started = time.perf_counter(), time.process_time()
    run = services.fuel_import_execute(run_id=run.pk)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak = _status_mb("VmHWM")
    reasons: dict[str, int] = {}
    for error in run.errors:
        reasons[error["code"]] = reasons.get(error["code"], 0) + 1
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "peak_mb": peak,
                "baseline_mb": baseline,
                "status": run.status,
                "error": run.error_message,
                "rows": run.rows_total,
                "imported": run.rows_imported,
                "duplicates": run.rows_duplicate,
                "failed": run.rows_failed,
                "reasons": reasons,
                "first_errors": run.errors[:4],
                "entries": FuelEntry.objects.count(),
            },
            ensure_ascii=False,
        )
    )


def prepare_template(workdir: Path) -> Path:
    """A migrated database with the bench municipality, to copy for each run."""
    db = workdir / "template.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "KINISI_VAR_DIR": str(workdir / "var")}
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        check=True,
        env=env,
        cwd=ROOT,
    )
    code = f"""
import django, os
django.setup()
from decimal import Decimal
from fleet.models import Municipality
from fleet.services import register, fuel
m = Municipality.objects.create(name="Δήμος Δοκιμής", slug="bench")
plates = {plates()!r}
cards = {cards()!r}
provider = fuel.fuel_provider_create(municipality=m, name="Κάρτες", columns={MAPPING!r})
for i, plate in enumerate(plates):
    v = register.vehicle_create(municipality=m, plate=plate, category="refuse_truck",
                                tank_capacity_l=Decimal("300"), consumption_norm=Decimal("55"))
    fuel.fuel_card_create(municipality=m, number=cards[i], vehicle=v, provider=provider)
for name in {STATIONS!r}:
    fuel.fuel_station_create(municipality=m, name=name)
"""
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        cwd=ROOT,
    )
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=3, metavar=("DB", "FILE", "VAR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*(Path(p) for p in args.child))
        return
    workdir = Path(tempfile.mkdtemp(prefix="kinisi-fuel-bench-"))
    try:
        print(f"preparing: {args.rows} rows, {VEHICLES} vehicles, database template …", flush=True)
        rows = statement_rows(args.rows)
        expected_bad = sum(1 for r in rows if r["bad"] and not r.get("dup"))
        expected_dup = sum(1 for r in rows if r.get("dup"))
        files = {"csv": workdir / "statement.csv", "xlsx": workdir / "statement.xlsx"}
        write_csv(rows, files["csv"])
        write_xlsx(rows, files["xlsx"])
        template = prepare_template(workdir)
        for kind, path in files.items():
            results = []
            for n in range(args.runs):
                db = workdir / f"run-{kind}-{n}.sqlite3"
                shutil.copy(template, db)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(db), str(path), str(workdir / "var")],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
                db.unlink()
            last = results[-1]
            size = path.stat().st_size / 1e6
            print(f"\n{kind.upper()} ({size:.1f} MB, {args.rows} rows), {args.runs} runs")
            print(
                "  import time  s: median {:.2f}  (runs: {})".format(
                    statistics.median(r["seconds"] for r in results),
                    ", ".join(f"{r['seconds']:.2f}" for r in results),
                )
            )
            print(
                "  CPU time     s: median {:.2f}  (the machine is shared: wall time includes "
                "waiting for a core)".format(statistics.median(r["cpu_seconds"] for r in results))
            )
            print(
                "  peak RSS    MB: median {:.0f}  (whole process; {:.0f} before the import)".format(
                    statistics.median(r["peak_mb"] for r in results),
                    statistics.median(r["baseline_mb"] for r in results),
                )
            )
            print(
                f"  rows {last['rows']}: imported {last['imported']}, duplicates skipped "
                f"{last['duplicates']} (planted {expected_dup}), rows with errors "
                f"{last['failed']} (planted {expected_bad}); entries in the database "
                f"{last['entries']}; status {last['status']} {last['error']}"
            )
            print("  errors by reason:", json.dumps(last["reasons"], ensure_ascii=False))
            for error in last["first_errors"]:
                print(
                    f"    line {error['line']}: {error['code']} {error['field']}={error['value']!r}"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
