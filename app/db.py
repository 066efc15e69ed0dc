"""Engine, sessions and the declarative Base.

Edges (views, jobs, CLI) open ``with transaction() as session:``; services only ``flush()``.
Pages that only read (and write at most single-statement upserts) open ``with reading()``,
autocommitted on PostgreSQL. The database is the source of truth for everything Kith knows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """A CHECK that ``column`` holds one of ``values``: the database guards enum-like strings."""
    return CheckConstraint(f"{column} IN {values!r}", name=column)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the backend stores.

    SQLite has no time zones: without this, values read back naive and compare wrongly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3, the driver Kith ships with."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """Create an engine with the per-backend settings Kith relies on."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    # Last in, first out: the connections in use stay warm and need no ping (see below).
    engine = create_engine(url, pool_use_lifo=True)
    _ping_after_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has sat unused for a while.

    ``pool_pre_ping`` pings on every checkout: a round trip per request, and under a send each
    round trip waits for a core. A connection handed back a moment ago is alive unless the
    server died in that moment, and then the request fails as it would have mid-flight, and
    the disconnect invalidates the whole pool, so the next requests reconnect.
    """

    @event.listens_for(engine.pool, "checkin")
    def _note_idle(_dbapi_connection, record) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # freshly connected, or just used
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001 - any failure means "use another connection"
            raise DisconnectionError() from error  # the pool replaces it and tries again


BEGIN = "sqlite_begin"  # an execution option: "IMMEDIATE" for writing transactions
AUTOCOMMIT = "kith_autocommit"  # in Session.info: each statement commits on its own
READING_METHODS = frozenset({"GET", "HEAD"})  # requests whose opening read is autocommitted


def _configure_sqlite(engine: Engine) -> None:
    """Make pysqlite honour BEGIN/SAVEPOINT and enable WAL and foreign keys.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; SQLAlchemy's
    documented recipe takes over so nested transactions (and rollback-per-test) work.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front (see Database.transaction).
        connection.exec_driver_sql(f"BEGIN {connection.get_execution_options().get(BEGIN, '')}")


@dataclass
class Database:
    """The per-app database handle kept in ``app.extensions["kith.db"]``."""

    engine: Engine
    session_factory: sessionmaker[Session]
    bound: Connection | None = None  # the test connection every session joins

    @classmethod
    def connect(cls, url: str) -> Database:
        engine = make_engine(url)
        return cls(engine, sessionmaker(engine, expire_on_commit=False))

    def bind_to(self, connection: Connection) -> None:
        """Run every session inside ``connection``'s open transaction (tests roll it back)."""
        self.bound = connection
        self.session_factory = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    @contextmanager
    def held(self) -> Iterator[Connection]:
        """One connection held for a long run of short transactions (a send's steps).

        No pool checkout and ping per transaction. On PostgreSQL it is in autocommit mode, so a
        one-statement transaction costs one round trip (no BEGIN, no COMMIT); on SQLite the
        caller begins each transaction. In tests, the bound connection stands in for it and
        the caller uses savepoints (``nested``).
        """
        if self.bound is not None:
            yield self.bound
            return
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    @contextmanager
    def transaction(self, *, immediate: bool = False) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error.

        ``immediate``, for a transaction that reads and then writes while other processes
        write too (a worker during a send): on SQLite a deferred transaction that read before
        another process committed cannot write any more ("database is locked", at once,
        whatever the timeout), so it takes the write lock when it begins. PostgreSQL ignores it.

        In a request, the first transaction continues the request's opening read (see
        ``opening_read``) unless it must be immediate.
        """
        session = _take_opening_read(keep=not immediate) or self.session_factory()
        if immediate:
            session.connection(execution_options={BEGIN: "IMMEDIATE"})
        with _unit_of_work(session):
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A page's reads, on PostgreSQL each committed on its own (autocommit): no BEGIN and
        no COMMIT, two round trips fewer, and under a send each round trip waits for a core.

        For views that only read, or write single statements whose effect stands alone (an
        upsert of a read marker): there is no transaction to roll back. It continues a GET
        request's opening read, which is read the same way.
        """
        session = _take_opening_read(keep=True, reading=True) or self._reading_session()
        with _unit_of_work(session):
            yield session

    def _reading_session(self) -> Session:
        session = self.session_factory()
        if self.bound is None and self.engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            session.info[AUTOCOMMIT] = True
        return session

    @contextmanager
    def opening_read(self) -> Iterator[Session]:
        """A session for what a request reads before its first transaction (flask-login
        loading the signed-in member), which that transaction then continues.

        A signed-in page so checks out one connection and sends one BEGIN and one COMMIT
        where it took two of each: three round trips fewer, each a wait for PostgreSQL's
        turn on the CPU while a send runs beside the site. Objects the caller keeps must be
        expunged (a rollback of the continuing transaction would expire them). Outside a
        request, or while a transaction is open, it is an ordinary transaction.
        """
        if not has_request_context() or g.get("kith_open_transactions"):
            with self.transaction() as session:
                yield session
            return
        _take_opening_read(keep=False)
        reads_only = request.method in READING_METHODS
        session = self._reading_session() if reads_only else self.session_factory()
        try:
            yield session
        except BaseException:
            session.close()
            raise
        g.kith_opening_read = session


def _take_opening_read(*, keep: bool, reading: bool = False) -> Session | None:
    """The request's opening read, taken over (``keep``) or closed; None if there is none.

    A transaction cannot continue an autocommitted read (a GET's): it gets its own session,
    and the round trips stay the same (its BEGIN moves after the member's read)."""
    if not has_request_context() or (session := g.pop("kith_opening_read", None)) is None:
        return None
    if keep and (reading or not session.info.get(AUTOCOMMIT)):
        return session
    session.close()
    return None


@contextmanager
def _unit_of_work(session: Session) -> Iterator[None]:
    """Commit on success, roll back on any error, close; count it as open in a request."""
    in_request = has_request_context()
    if in_request:
        g.kith_open_transactions = g.get("kith_open_transactions", 0) + 1
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if in_request:
            g.kith_open_transactions -= 1
        session.close()


def _close_opening_read(_error: BaseException | None = None) -> None:
    """A request that opened no transaction after its opening read ends it here."""
    _take_opening_read(keep=False)


def without_flush_wait(session: Session) -> None:
    """This transaction's commit need not wait for PostgreSQL's disk flush (WAL): for writes
    whose loss in a database crash costs nothing (a read marker, an idempotent import chunk),
    so that a page view does not queue for the disk behind a big send's writes."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def one_of_values(session: Session, column, values: list[Any]):
    """``column IN values`` for long lists: one array parameter on PostgreSQL, not thousands."""
    if session.connection().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows, all with the same keys, as fast as the backend allows.

    PostgreSQL gets COPY (several times faster than a multi-row INSERT, whose parameters the
    driver must parse); other backends a multi-row INSERT. Column defaults that live only in
    Python are not applied on the COPY path, so callers pass every column without a server
    default.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    encoders = [json.dumps if isinstance(table.c[name].type, JSON) else None for name in columns]
    names = ", ".join(f'"{name}"' for name in columns)
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [
                    encode(row[name]) if encode else row[name]
                    for name, encode in zip(columns, encoders, strict=True)
                ]
            )


def init_app(app: Flask, url: str) -> Database:
    database = Database.connect(url)
    app.extensions["kith.db"] = database
    app.teardown_request(_close_opening_read)
    return database


def database() -> Database:
    return current_app.extensions["kith.db"]


@contextmanager
def transaction(*, immediate: bool = False) -> Iterator[Session]:
    """One unit of work for the current app (see ``Database.transaction``)."""
    with database().transaction(immediate=immediate) as session:
        yield session


@contextmanager
def opening_read() -> Iterator[Session]:
    """The current request's opening read (see ``Database.opening_read``)."""
    with database().opening_read() as session:
        yield session


@contextmanager
def reading() -> Iterator[Session]:
    """A page's reads for the current app (see ``Database.reading``)."""
    with database().reading() as session:
        yield session
