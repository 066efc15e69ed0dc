"""Editor insight at scale: the issue report over 1,000,000 deliveries and the 365-day growth
dashboard, on PostgreSQL with 1,000,000 members and 5,000,000 delivery rows.

The data is made once with INSERT … SELECT over generate_series (secondary indexes dropped
during the load and rebuilt after, foreign-key triggers off for the loading session) and
kept: a marker table says it is there, so later runs only measure. The baseline, measured in
the same run, is a plain ``SELECT count(*)`` over the reported issue's deliveries.
Targets: the issue report and the growth dashboard under 1 s each. The two maintenance
computations (rollup rebuild, engagement scores) are printed too, for scale.
Run: .venv/bin/python bench/report.py   (BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1/bench_report, created if missing; --rebuild makes the data anew)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from _support import migrated_app
from sqlalchemy import create_engine, func, select, text

from app.db import normalize_url, transaction
from app.discussions import service as discussions
from app.insights import charts, engagement, growth, service
from app.issues import service as issues
from app.issues.models import Issue
from app.members import service as members
from app.sending.models import Delivery

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/bench_report")
MEMBERS = 1_000_000
ISSUES = 5  # each sent to every member: 5,000,000 deliveries
MARKER = f"v2 members={MEMBERS} issues={ISSUES}"
DAYS = 400  # members joined over this many days
BODY = "\n\n".join(
    f"Paragraph {n} with [a link](https://example.org/read/{n}) to follow." for n in range(5)
)


def ensure_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    admin = create_engine(normalize_url(f"{server}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        query = text("SELECT 1 FROM pg_database WHERE datname = :n")
        if not connection.scalar(query, {"n": name}):
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def data_present(session) -> bool:
    session.execute(text("CREATE TABLE IF NOT EXISTS bench_report_marker (marker text)"))
    return session.scalar(text("SELECT marker FROM bench_report_marker")) == MARKER


@contextmanager
def loading(session, *tables: str) -> Iterator[None]:
    """Secondary indexes and unique constraints of ``tables`` dropped while rows pour in,
    rebuilt after (far faster than maintaining them row by row); FK triggers off meanwhile."""
    saved: list[str] = []
    for table in tables:
        for name, definition in session.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype = 'u'"
            ),
            {"t": table},
        ):
            saved.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
            session.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
        for name, definition in session.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t "
                "AND indexname NOT LIKE 'pk_%'"
            ),
            {"t": table},
        ):
            saved.append(definition)
            session.execute(text(f'DROP INDEX "{name}"'))
    session.execute(text("SET session_replication_role = replica"))
    yield
    session.execute(text("SET session_replication_role = origin"))
    for statement in saved:
        session.execute(text(statement))


MEMBERS_SQL = """
INSERT INTO members (id, email, name, role, tier, status, source, fields, email_issues,
    email_replies, email_digest, session_version, soft_bounces, invites_left, created_at,
    confirmed_at, unsubscribed_at, last_bounced_at)
SELECT n, 'reader' || n || '@example.com', '', 'member',
    CASE WHEN n % 20 < 3 THEN 'paid' WHEN n % 20 = 3 THEN 'invite' ELSE 'free' END,
    s.status,
    (ARRAY['form', 'form', 'form', 'import', 'invite', 'referral'])[1 + n % 6],
    '{}', true, true, false, 1, 0, 0, s.joined,
    CASE WHEN s.status <> 'pending' THEN s.joined + interval '1 hour' END,
    CASE WHEN s.status = 'unsubscribed'
         THEN LEAST(s.joined + (n % 40) * interval '1 day', now()) END,
    CASE WHEN s.status = 'bounced'
         THEN LEAST(s.joined + (n % 60) * interval '1 day', now()) END
FROM (
    SELECT n,
        now() - (:days * (:members - n) / CAST(:members AS float)) * interval '1 day' AS joined,
        CASE WHEN n % 100 < 5 THEN 'pending' WHEN n % 100 < 12 THEN 'unsubscribed'
             WHEN n % 100 < 14 THEN 'bounced' WHEN n % 100 = 14 THEN 'complained'
             ELSE 'active' END AS status
    FROM generate_series(1, :members) AS n
) AS s
"""

DELIVERIES_SQL = """
INSERT INTO deliveries (send_id, issue_id, member_id, status, attempts, error,
    resent_after_doubt, sent_at)
SELECT s.id, s.issue_id, n,
    CASE WHEN n % 100 = 0 THEN 'bounced' WHEN n % 100 = 1 THEN 'failed'
         WHEN n % 200 = 3 THEN 'skipped' ELSE 'sent' END,
    1, '', false, s.started_at + (n % 3600) * interval '1 second'
FROM sends AS s CROSS JOIN generate_series(1, :members) AS n
"""

FOLLOW_UPS = [
    # Bounces and complaints of the bounced deliveries, and a few complaints of sent ones.
    """INSERT INTO bounces (member_id, delivery_id, kind, status_code, diagnostic, received_at)
       SELECT member_id, id, CASE WHEN member_id % 10 < 7 THEN 'hard'
              WHEN member_id % 10 < 9 THEN 'soft' ELSE 'complaint' END, '5.1.1', '',
              sent_at + interval '5 minutes'
       FROM deliveries WHERE status = 'bounced'
          OR (status = 'sent' AND member_id % 2000 = 7)""",
    # 40 % of sent copies opened, some by a machine only; 5 % clicked (see link_clicks).
    """INSERT INTO email_opens (delivery_id, issue_id, member_id, opens, machine_opens,
              clicks, first_opened_at, last_at)
       SELECT id, issue_id, member_id, CASE WHEN member_id % 50 = 0 THEN 0 ELSE 1 END,
              CASE WHEN member_id % 10 = 0 THEN 1 ELSE 0 END,
              CASE WHEN member_id % 20 = 1 THEN 1 + member_id % 3 ELSE 0 END,
              CASE WHEN member_id % 50 = 0 THEN NULL ELSE sent_at + interval '2 hours' END,
              sent_at + interval '3 hours'
       FROM deliveries WHERE status = 'sent' AND member_id % 5 < 2""",
    """INSERT INTO issue_links (issue_id, position, url)
       SELECT i.id, p, 'https://example.org/read/' || p FROM issues AS i,
              generate_series(1, 5) AS p""",
    # 5 % of sent copies clicked, on one of five links.
    """INSERT INTO link_clicks (delivery_id, position, issue_id, member_id, clicks,
              first_clicked_at, last_clicked_at)
       SELECT id, 1 + member_id % 5, issue_id, member_id, 1 + member_id % 3,
              sent_at + interval '3 hours', sent_at + interval '3 hours'
       FROM deliveries WHERE status = 'sent' AND member_id % 20 = 1""",
    # Unsubscribes, a third of them through an issue's own link.
    """INSERT INTO consent_events (member_id, email_hash, action, source, detail, created_at,
              issue_id)
       SELECT m.id, md5(m.email), 'unsubscribe', 'one-click', '', m.unsubscribed_at,
              CASE WHEN m.id % 3 = 0 THEN (SELECT min(id) FROM issues) END
       FROM members AS m WHERE m.status = 'unsubscribed'""",
    # Paid members became paid three days after joining; one in forty free members was paid
    # for a month and stopped.
    """INSERT INTO tier_changes (member_id, from_tier, to_tier, changed_at)
       SELECT id, 'free', 'paid', LEAST(created_at + interval '3 days', now()) FROM members
       WHERE tier = 'paid' OR (tier = 'free' AND id % 40 = 4)""",
    """INSERT INTO tier_changes (member_id, from_tier, to_tier, changed_at)
       SELECT id, 'paid', 'free', LEAST(created_at + interval '33 days', now()) FROM members
       WHERE tier = 'free' AND id % 40 = 4""",
    """INSERT INTO prices (plan, amount, currency, stripe_price_id, stripe_product_id, updated_at)
       VALUES ('monthly', 500, 'eur', 'price_m', 'prod', now()),
              ('yearly', 5000, 'eur', 'price_y', 'prod', now())""",
    """INSERT INTO subscriptions (stripe_subscription_id, member_id, status, price_id,
              cancel_at_period_end, updated_at)
       SELECT 'sub_' || id, id, CASE WHEN tier = 'paid' THEN 'active' ELSE 'canceled' END,
              CASE WHEN id % 2 = 0 THEN 'price_m' ELSE 'price_y' END, false, now()
       FROM members WHERE tier = 'paid' OR (tier = 'free' AND id % 40 = 4)""",
    # A year of web reads of each issue.
    """INSERT INTO issue_read_days (issue_id, day, reads)
       SELECT i.id, CAST(now() AS date) - d, 50 + (i.id * d) % 200 FROM issues AS i,
              generate_series(0, 364) AS d""",
    # 30,000 one-click votes on every issue.
    """INSERT INTO feedback_votes (issue_id, member_id, choice, created_at)
       SELECT i.id, n * 30, 1 + n % 5, now() - interval '1 day' FROM issues AS i,
              generate_series(1, 30000) AS n""",
]


def build(app) -> Issue:
    """The data set (once); returns the issue the report is about."""
    with transaction() as session:
        if data_present(session):
            return session.scalars(select(Issue).order_by(Issue.id)).first()
    started = time.perf_counter()
    print("building the data set (once; later runs reuse it)…", flush=True)
    with transaction() as session:
        session.execute(text("TRUNCATE members, issues, sends, bench_report_marker CASCADE"))
        session.execute(text("TRUNCATE prices, insight_runs, audience_days"))
        with loading(session, "members"):
            session.execute(text(MEMBERS_SQL), {"members": MEMBERS, "days": DAYS})
        session.execute(text("SELECT setval(pg_get_serial_sequence('members', 'id'), :n)"),
                        {"n": MEMBERS})  # fmt: skip
        made = []
        for n in range(ISSUES):
            issue = issues.save_issue(
                session,
                {"title": f"Issue {n + 1}", "body_markdown": BODY, "feedback_choices": 5},
            )
            issues.publish(session, issue)
            made.append(issue)
        session.execute(
            text(
                "INSERT INTO sends (issue_id, expression, status, recipients, scheduled_at, "
                "started_at, finished_at, created_at, paused_reason, connection_failures) "
                "SELECT id, 'all', 'done', :n, now() - (6 - id % 6) * interval '7 days', "
                "now() - (6 - id % 6) * interval '7 days', now(), now(), '', 0 FROM issues"
            ),
            {"n": MEMBERS},
        )
        with loading(session, "deliveries"):
            session.execute(text(DELIVERIES_SQL), {"members": MEMBERS})
        for statement in FOLLOW_UPS:
            session.execute(text(statement))
        thread = discussions.issue_thread(session, made[0])
        session.execute(
            text(
                "INSERT INTO posts (thread_id, author_id, body_markdown, body_html, source, "
                "private, status, is_answer, created_at) SELECT :t, n * 500, 'Reply', "
                "'<p>Reply</p>', 'web', n % 4 = 0, 'visible', false, now() - n * interval "
                "'1 minute' FROM generate_series(1, 2000) AS n"
            ),
            {"t": thread.id},
        )
        session.execute(text("INSERT INTO bench_report_marker VALUES (:m)"), {"m": MARKER})
    vacuum()
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    with transaction() as session:
        return session.scalars(select(Issue).order_by(Issue.id)).first()


def vacuum() -> None:
    """Fresh statistics and visibility maps, as autovacuum would leave them."""
    engine = create_engine(normalize_url(DATABASE_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def timed(work: Callable[[], object], repeat: int = 5) -> float:
    """Median seconds of ``repeat`` runs, after one warm-up run."""
    work()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    ensure_database(DATABASE_URL)
    app = migrated_app(DATABASE_URL)
    try:
        with app.app_context():
            if "--rebuild" in sys.argv:
                with transaction() as session:
                    session.execute(text("DROP TABLE IF EXISTS bench_report_marker"))
            issue = build(app)
            measure(app, issue)
    finally:
        app.extensions["kith.db"].engine.dispose()


def editor_client(app):
    """A test client signed in as an editor: the pages are measured whole, as served."""
    with transaction() as session:
        editor = members.create_editor(session, "bench-editor@example.com")
        user_id = editor.get_id()
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["_user_id"], flask_session["_fresh"] = user_id, True
    return client


def page(client, path: str) -> Callable[[], object]:
    def get() -> object:
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        return response.data

    return get


def measure(app, issue: Issue) -> None:
    with transaction() as session:
        growth.rollup(session)  # what maintenance keeps current
    client = editor_client(app)
    with transaction() as session:
        deliveries = session.scalar(select(func.count()).select_from(Delivery))
        of_issue = select(func.count()).where(Delivery.issue_id == issue.id)
        baseline = timed(lambda: session.scalar(of_issue))
        report = timed(lambda: service.issue_report(session, issue))
        dashboard = timed(lambda: charts.dashboard(growth.growth(session, 365)))
        recipients = service.issue_report(session, issue).figure("recipients").value
    report_page = timed(page(client, f"/admin/issues/{issue.slug}/report"))
    growth_page = timed(page(client, "/admin/audience/growth?days=365"))
    with transaction() as session:
        rollup = timed(lambda: growth.rollup(session), repeat=1)
    with transaction() as session:
        scores = timed(lambda: engagement.recompute(session, counting=True), repeat=1)
    print(
        f"PostgreSQL; {MEMBERS:,} members; {deliveries:,} deliveries; "
        f"the report's issue has {recipients:,}"
    )
    print(f"baseline: SELECT count(*) over the issue's deliveries   {baseline * 1000:7.0f} ms")
    for label, seconds in (
        ("issue report (all figures, clicks per link)", report),
        ("  the whole page, GET …/report", report_page),
        ("365-day growth dashboard (5 SVG charts)", dashboard),
        ("  the whole page, with its 365-row table", growth_page),
        ("maintenance: rollup rebuild, 400 days", rollup),
        ("maintenance: engagement scores, all members", scores),
    ):
        print(f"{label:<48} {seconds * 1000:7.0f} ms | ratio {seconds / baseline:6.1f}×")


if __name__ == "__main__":
    main()
