"""Rows per second importing members from CSV, on SQLite and PostgreSQL.

Imports N rows (default 100,000; columns email, name, tier, tags, city) through the same code
as ``kith members import`` (from 20,000 rows it validates in a second process), then imports
the same file again (every row unchanged). The baseline, measured in the same run on the same
database, is a bare bulk INSERT of the same addresses with no validation, no tags and no
consent records.
Target: at least 20,000 rows/s on PostgreSQL for a first import.
Each figure is the median of three rounds, each on a fresh database.
Run: .venv/bin/python bench/import.py [N]
"""

from __future__ import annotations

import csv
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _support import migrated_app, scratch_postgres
from sqlalchemy import insert

from app.db import transaction
from app.members import csv_io, importer
from app.members.commands import PARALLEL_FROM_ROWS
from app.members.models import Member

RUNS = 3


def write_csv(path: Path, rows: int) -> None:
    tiers, cities = ("free", "paid", "invite", ""), ("Oslo", "Lyon", "Porto", "Gent")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "tier", "tags", "city"])
        for n in range(rows):
            tags = "sourdough;rye" if n % 3 == 0 else ("spring" if n % 3 == 1 else "")
            writer.writerow(
                [
                    f"Reader.{n}@Example{n % 97}.org",
                    f"Reader {n}",
                    tiers[n % 4],
                    tags,
                    cities[n % 4],
                ]
            )


def run_import(app, path: Path) -> tuple[float, importer.ImportTotals]:
    with app.app_context():
        start = time.perf_counter()
        csv_file = csv_io.inspect_file(path)
        run = importer.Importer(source=f"import {path.name}")
        parallel = csv_file.rows > PARALLEL_FROM_ROWS
        totals = importer.run_import(app, csv_file, run, parallel=parallel)
        return time.perf_counter() - start, totals


def bare_insert(app, rows: int) -> float:
    with app.app_context():
        start = time.perf_counter()
        for first in range(0, rows, csv_io.CHUNK_ROWS):
            batch = [
                {"email": f"bare.{n}@example.org", "name": "", "status": "active", "fields": {}}
                for n in range(first, min(rows, first + csv_io.CHUNK_ROWS))
            ]
            with transaction() as session:
                session.execute(insert(Member), batch)
        return time.perf_counter() - start


def measure_once(database_url: str, path: Path, rows: int) -> tuple[float, float, float]:
    app = migrated_app(database_url)
    first, totals = run_import(app, path)
    assert totals.created == rows, totals
    again, totals = run_import(app, path)
    assert totals.unchanged == rows, totals
    bare = bare_insert(app, rows)
    app.extensions["kith.db"].engine.dispose()
    return first, again, bare


def measure(label: str, databases, path: Path, rows: int, runs: int) -> None:
    """Median of ``runs`` rounds, each on a fresh database: this machine's timings vary."""
    rounds = [measure_once(next(databases), path, rows) for _ in range(runs)]
    first, again, bare = (statistics.median(values) for values in zip(*rounds, strict=True))
    print(
        f"{label:10} first import {rows / first:8,.0f} rows/s ({first:5.2f} s) | re-import "
        f"{rows / again:8,.0f} rows/s | bare INSERT {rows / bare:8,.0f} rows/s | "
        f"first/bare {bare / first:.2f}×  (median of {runs})"
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "members.csv"
        write_csv(path, rows)
        sqlite_files = (f"sqlite:///{temp}/bench{n}.db" for n in itertools.count())
        measure("SQLite", sqlite_files, path, rows, RUNS)
        measure("PostgreSQL", (scratch_postgres() for _ in itertools.count()), path, rows, RUNS)


if __name__ == "__main__":
    main()
