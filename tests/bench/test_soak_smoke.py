"""bench/soak.py end to end for half a minute: gunicorn, two workers, kith inbound-smtp,
PostgreSQL, Redis and the SMTP sink all start, members sign in and reply on the web, replies
mailed to signed reply+ addresses (two of them delivered twice) are each posted exactly once,
the footprint table comes out with a verdict per metric, and no finished or failed job is kept
in Redis without an expiry. Whether the footprint stays flat is the long run's business: half
a minute is all warm-up."""

from __future__ import annotations

import os
import re

from tests.bench import needs_servers, run_bench

pytestmark = needs_servers("the soak benchmark")
METRICS = ("RSS gunicorn master", "RSS gunicorn worker 1", "RSS inbound-smtp",
           "RSS kith worker 1", "RSS kith worker 2", "PostgreSQL connections", "Redis keys",
           "RQ jobs waiting", "RQ finished (kept)", "RQ failed")  # fmt: skip


def count(output: str, pattern: str) -> int:
    match = re.search(pattern, output)
    assert match, f"no {pattern!r} in:\n{output}"
    return int(match[1].replace(",", ""))


def test_soak_benchmark_posts_every_mailed_reply_once_with_no_errors():
    output = run_bench(
        "soak.py --minutes 0.5 --replies 20 --redeliver-every 10 --sample 5 --members 4 "
        "--clients 4 --post-every 10 --topics 3 --audience 20 --web-workers 2",
        database=(
            "BENCH_SOAK_DATABASE",
            os.environ.get("BENCH_SOAK_SMOKE_DATABASE", "kith_bench_soak_smoke"),
        ),
        timeout=150,
    )

    assert count(output, r"errors: ([\d,]+)") == 0, output
    assert count(output, r"\(public ([\d,]+)") > 0 and count(output, r"member ([\d,]+)") > 0
    assert count(output, r"reply ([\d,]+)\)") > 0, "no member replied on the web"
    assert count(output, r"([\d,]+) accepted \(250\)") == 20, output
    assert count(output, r"([\d,]+) posted once") == 20, output
    assert count(output, r"([\d,]+) posted more than once") == 0, output
    assert count(output, r"([\d,]+) posted but refused") == 0, output
    assert count(output, r"([\d,]+) delivered twice") == 2, output
    assert count(output, r"([\d,]+) messages sent of") > 0, "the small send sent nothing"
    for metric in METRICS:
        row = re.search(rf"^{re.escape(metric)} .*\s(flat|GREW|FELL)$", output, re.M)
        assert row, f"no {metric!r} row with a verdict in:\n{output}"
    assert re.search(r"^targets: .*: (met|MISSED)", output, re.M), output
    kept = re.search(r"^RQ done jobs kept forever +([\d.]+) +([\d.]+) +([\d.]+) ", output, re.M)
    assert kept and float(kept[3]) == 0, output
