"""Counting and selecting a segment over 1,000,000 members on PostgreSQL.

Seeds N members (default 1,000,000) with tiers, statuses, join dates, engagement dates,
a custom field and tags, then times ``segments.count`` and the selection of recipient ids
for a 4-term expression, each beside a bare ``SELECT count(*) FROM members`` in the same run.
Target: count under 300 ms with the indexes the migrations create.
Run: .venv/bin/python bench/segments.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time

from _support import migrated_app, scratch_postgres
from sqlalchemy import func, select, text

from app.db import transaction
from app.members import segments
from app.members.models import Member

EXPRESSION = "tier:paid AND tag:sourdough AND joined:>2025-06-01 AND NOT opened:>90d"

SEED = """
INSERT INTO members (email, name, role, tier, status, source, fields, created_at, last_opened_at)
SELECT 'member' || n || '@example.org', 'Member ' || n, 'member',
       (ARRAY['free','free','free','paid','invite'])[1 + n % 5],
       (ARRAY['active','active','active','active','active','active',
              'unsubscribed','bounced','pending'])[1 + n % 9],
       'import', json_build_object('city', (ARRAY['Oslo','Lyon','Porto'])[1 + n % 3]),
       now() - (n % 1000) * interval '1 day',
       CASE WHEN n % 4 = 0 THEN NULL ELSE now() - (n % 200) * interval '1 day' END
FROM generate_series(1, :rows) AS n
"""


def timed(function, repeat: int = 5) -> float:
    """Median milliseconds over ``repeat`` runs (after one warm-up)."""
    function()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    app = migrated_app(scratch_postgres())
    with app.app_context():
        start = time.perf_counter()
        with transaction() as session:
            session.execute(text(SEED), {"rows": rows})
            session.execute(
                text("INSERT INTO tags (name) VALUES ('sourdough'), ('rye'), ('spring')")
            )
            session.execute(
                text(
                    "INSERT INTO member_tags (member_id, tag_id) SELECT m.id, t.id FROM members m "
                    "JOIN tags t ON (t.name = 'sourdough' AND m.id % 3 = 0) "
                    "OR (t.name = 'rye' AND m.id % 7 = 0)"
                )
            )
        with transaction() as session:
            session.execute(text("ANALYZE"))
        print(f"seeded {rows:,} members in {time.perf_counter() - start:.1f} s")
        with transaction() as session:
            bare = timed(lambda: session.scalar(select(func.count()).select_from(Member)))
            count = timed(lambda: segments.count(session, EXPRESSION))
            matched = segments.count(session, EXPRESSION)
            condition = segments.recipients_condition(EXPRESSION)
            select_ms = timed(lambda: session.scalars(select(Member.id).where(condition)).all())
            recipients = len(session.scalars(select(Member.id).where(condition)).all())
    app.extensions["kith.db"].engine.dispose()
    print(f"expression: {EXPRESSION}")
    print(
        f"count:   {count:7.1f} ms ({matched:,} members) | bare count(*) {bare:6.1f} ms"
        f" | ratio {count / bare:.2f}×"
    )
    print(
        f"select:  {select_ms:7.1f} ms ({recipients:,} recipient ids)"
        f" | ratio to bare count {select_ms / bare:.2f}×"
    )


if __name__ == "__main__":
    main()
