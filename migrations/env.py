"""Alembic environment: Kith's engine and metadata, taken from the running Flask app."""

from alembic import context
from flask import current_app

config = context.config
migrate = current_app.extensions["migrate"]
target_metadata = migrate.db.metadata
engine = current_app.extensions["kith.db"].engine


def run_migrations_offline() -> None:
    context.configure(
        url=engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        **migrate.configure_args,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **migrate.configure_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
