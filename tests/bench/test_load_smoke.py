"""bench/load.py end to end with tiny numbers: gunicorn, two workers, PostgreSQL, Redis and the
SMTP sink all start, members sign in through the magic-link pages, and the table comes out
with no failed request. The figures themselves are the benchmark's business, not this test's."""

from __future__ import annotations

import re

from tests.bench import needs_servers, run_bench

pytestmark = needs_servers("the load benchmark")


def figures(output: str, name: str) -> tuple[float, float]:
    """The idle and under-load figures of one row of the table."""
    match = re.search(rf"^{re.escape(name)}\s+([\d,.]+)(?: ms)?\s+([\d,.]+)", output, re.M)
    assert match, f"no {name!r} row in:\n{output}"
    return float(match[1].replace(",", "")), float(match[2].replace(",", ""))


def test_load_benchmark_prints_its_table_with_no_errors():
    output = run_bench(
        "load.py --recipients 200 --seconds 2 --clients 4 --members 2 --think 0",
        database=("BENCH_LOAD_DATABASE", "kith_bench_load_smoke"),
    )
    assert figures(output, "site errors") == (0, 0), output
    for row in ("site requests", "  public p50", "  member p50"):
        idle, loaded = figures(output, row)
        assert idle > 0 and loaded > 0, output
    assert figures(output, "  reply p50")[0] > 0, "no member posted a reply"
    idle_rate, loaded_rate = figures(output, "send messages/s")
    assert idle_rate > 0 and loaded_rate > 0, output
    assert "targets:" in output
