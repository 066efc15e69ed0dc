"""bench/floods.py end to end with tiny numbers: the site, a send and three flooders, each its
own client address behind the trusted proxy; every address refused only past each limit."""

from __future__ import annotations

import re

from tests.bench import needs_servers, run_bench

pytestmark = needs_servers("the floods benchmark")


def test_floods_benchmark_refuses_only_past_the_limits():
    output = run_bench(
        "floods.py --recipients 6000 --flooders 3 --clients 4 --members 2 --think 0",
        database=("BENCH_FLOODS_DATABASE", "kith_bench_floods_smoke"),
    )
    for kind, limit in (("magic-link request", 10), ("guessed magic link", 20),
                        ("invitation join", 10)):  # fmt: skip
        assert f"{kind}: refused only past {limit} a minute for 3 of 3 addresses" in output, output
        answers = re.search(rf"^  {kind}\s+[\d,]+\s+(.*)$", output, re.M)
        assert answers and "429: " in answers[1], output  # the flood went past the limit
        assert not re.search(r"\b(5\d\d|0): ", answers[1]), output
    assert re.search(r"^site errors\s+0\s+0$", output, re.M), output
    assert "gunicorn up" in output and "targets:" in output
