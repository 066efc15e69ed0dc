"""bench/storm.py end to end with tiny numbers: localstripe, gunicorn, PostgreSQL, Redis, two
workers sending to the SMTP sink, and signed Stripe events with duplicates and some held back.
Every answer is 2xx, every member's access equals what localstripe says, no deadlock."""

from __future__ import annotations

import re

from tests.bench import needs_servers, run_bench

pytestmark = needs_servers("the Stripe storm")


def figure(output: str, name: str) -> int:
    match = re.search(rf"^{re.escape(name)}\s+(\d+)", output, re.M)
    assert match, f"no {name!r} row in:\n{output}"
    return int(match[1])


def test_storm_benchmark_answers_2xx_and_ends_with_stripes_entitlements():
    output = run_bench(
        "storm.py --events 60 --seconds 10 --members 10 --clients 4 --with-send 200",
        database=("BENCH_STORM_DATABASE", "kith_bench_storm_smoke"),
    )
    total = re.search(r"^all\s+60\s+(\d+)\s+(\d+)", output, re.M)
    assert total and int(total[1]) > 20 and int(total[2]) > 0, output  # applied, duplicate
    assert figure(output, "non-2xx answers") == 0, output
    assert figure(output, "entitlement mismatches") == 0, output
    assert figure(output, "deadlocks (pg_stat_database)") == 0, output
    recorded = re.search(r"^events Kith recorded\s+(\d+)\s+distinct handled events sent: (\d+)",
                         output, re.M)  # fmt: skip
    assert recorded and recorded[1] == recorded[2], output
    assert re.search(r"^send beside the storm\s+[\d,]+ messages/s", output, re.M), output
    assert "targets:" in output
