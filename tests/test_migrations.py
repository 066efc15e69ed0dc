"""Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

from app import create_app
from app.migrations import all_models
from tests.conftest import SECRET


def schema_differences(engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, all_models())


def test_migrated_schema_matches_the_models(engine):
    assert schema_differences(engine) == []


def test_migrations_downgrade_and_upgrade_again_on_a_fresh_sqlite(tmp_path):
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/fresh.db",
            "instance_path": tmp_path,
            "secret_key": SECRET,
        }
    )
    engine = app.extensions["kith.db"].engine
    with app.app_context():
        upgrade()
        assert {"issues", "members", "login_tokens", "publication"} <= set(
            inspect(engine).get_table_names()
        )
        downgrade(revision="base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade()
    assert schema_differences(engine) == []
    engine.dispose()


def test_old_delivery_errors_and_bounce_diagnostics_lose_the_addresses_they_quote(tmp_path):
    """Rows written before Kith redacted SMTP answers (reliability.md P5) are redacted by the
    upgrade that follows: the migration runs again over rows made at the head."""
    from app.db import transaction
    from app.issues import service as issues
    from app.members.models import Member
    from app.sending.models import Bounce, Delivery, Send

    app = create_app(
        {"database_url": f"sqlite:///{tmp_path}/old.db", "instance_path": tmp_path,
         "secret_key": SECRET}
    )  # fmt: skip
    quoted = "550 5.1.1 <ann@example.com>: Recipient address rejected"
    with app.app_context():
        upgrade()
        with transaction() as session:
            member = Member(email="ann@example.com", status="active")
            issue = issues.save_issue(session, {"title": "Old news"})
            session.add(member)
            session.flush()
            send = Send(issue_id=issue.id, expression="all")
            session.add(send)
            session.flush()
            delivery = Delivery(send_id=send.id, issue_id=issue.id, member_id=member.id,
                                status="bounced", error=quoted)  # fmt: skip
            session.add(delivery)
            session.flush()
            bounce = Bounce(member_id=member.id, delivery_id=delivery.id, kind="hard")
            session.add(bounce)
            bounce.diagnostic, bounce.report_id = f"smtp; {quoted}", "<r1@example.org>"
            session.add(Delivery(send_id=send.id, issue_id=issue.id, error="421 try later"))
        downgrade(revision="3304fef2f369")
        upgrade()
        with transaction() as session:
            errors = sorted(session.scalars(select(Delivery.error)))
            diagnostics = list(session.scalars(select(Bounce.diagnostic)))
    assert errors == ["421 try later", "550 5.1.1 <(address)>: Recipient address rejected"]
    assert diagnostics == ["smtp; 550 5.1.1 <(address)>: Recipient address rejected"]
    app.extensions["kith.db"].engine.dispose()
