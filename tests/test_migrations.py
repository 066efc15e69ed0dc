"""Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

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
