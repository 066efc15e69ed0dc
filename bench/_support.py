"""Shared set-up for benchmarks: a scratch PostgreSQL database and a migrated Kith app."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from app import create_app  # noqa: E402
from app.db import normalize_url  # noqa: E402
from app.migrations import upgrade_database  # noqa: E402

POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres")
BENCH_DATABASE = "kith_bench"


def scratch_postgres(name: str = BENCH_DATABASE) -> str:
    """A freshly created database ``name`` on the local server; never the test database."""
    admin = create_engine(normalize_url(POSTGRES_SERVER), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"


def migrated_app(database_url: str, instance: Path | None = None, **settings: Any):
    """A Kith app on ``database_url`` with the schema applied; ``settings`` as in tests."""
    instance = instance or Path(tempfile.mkdtemp(prefix="kith-bench-"))
    app = create_app(
        {"database_url": database_url, "instance_path": instance, "secret_key": "bench-" * 8,
         "redis_url": "redis://127.0.0.1:1/0", **settings}
    )  # fmt: skip
    upgrade_database(app)
    return app
