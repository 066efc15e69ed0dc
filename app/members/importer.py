"""Importing and exporting members (the file handling itself is in ``csv_io.py``).

Import is streamed in chunks, each applied with a handful of bulk statements, so 100,000 rows
take seconds and memory stays flat. It is idempotent: addresses are compared normalized
(email-validator, lower-cased), a re-import updates and never duplicates, tags are only ever
added, and an unsubscribed, bounced or complained member stays so whatever the file says.
A bad row is rejected with its reason and never stops the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from typing import Any, NamedTuple

from flask import Flask
from psycopg.rows import namedtuple_row
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import webhooks
from app.db import bulk_insert, one_of_values, transaction, utcnow, without_flush_wait
from app.insights.models import TierChange
from app.members import audience, service, tokens
from app.members.csv_io import (
    CsvFile,
    Rejected,
    Row,
    read_chunks,
    unneutralize,
)
from app.members.models import STATUSES, SUPPRESSED, TIERS, ConsentEvent, Member, member_tags

CORE_COLUMNS = ("email", "name", "tier", "status", "tags")
_TAG_SPLIT = re.compile(r"[;,|]")


@dataclass
class ImportTotals:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    invalid: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, other: ImportTotals) -> None:
        for name in ("created", "updated", "unchanged", "skipped", "invalid"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected.extend(other.rejected)


class _Clean(NamedTuple):
    """A validated row. A tuple, because it crosses from the validating process by pickle,
    and tuples cost a tenth of what dataclasses do to unpickle."""

    line: int
    email: str
    name: str
    tier: str | None  # None: the row names none (new members get --tier, or free)
    status: str | None  # None: active for new members, unchanged for known ones
    tags: tuple[str, ...]
    fields: dict[str, str]
    written_email: str  # as the file wrote it, for the rejected-rows file

    def as_values(self) -> dict[str, str]:
        """The row again as column values, for the rejected-rows file."""
        values = {
            "email": self.written_email,
            "name": self.name,
            "tier": self.tier or "",
            "status": self.status or "",
            "tags": ";".join(self.tags),
        }
        return {**values, **self.fields}


def _clean(row: Row) -> _Clean:
    values = {key: unneutralize(value) for key, value in row.values.items()}
    if "\0extra" in values:
        raise ValueError("more values than columns (a missing quote?)")
    if any("\x00" in value for value in values.values()):
        raise ValueError("contains a NUL character")
    email = service.normalize_email(values.get("email", ""))
    tier = (values.get("tier") or "").strip().lower() or None
    if tier is not None and tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
    status = (values.get("status") or "").strip().lower() or None
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    name = (values.get("name") or "").strip()
    if len(name) > 200:
        raise ValueError("name is longer than 200 characters")
    tags = tuple(
        audience.clean_tag(tag) for tag in _TAG_SPLIT.split(values.get("tags") or "") if tag.strip()
    )
    fields = {
        key: value.strip()
        for key, value in values.items()
        if key not in CORE_COLUMNS and key and value.strip()
    }
    return _Clean(row.line, email, name, tier, status, tags, fields, values.get("email", ""))


def _tier_change(member_id: int, old: str, new: str) -> dict[str, Any]:
    """A file changing a member's tier is a tier change like any other (members.tiers)."""
    return {"member_id": member_id, "from_tier": old, "to_tier": new, "changed_at": utcnow()}


@dataclass
class Prepared:
    """A chunk after validation: clean rows (with their source row) and rejected ones."""

    valid: list[_Clean]
    invalid: list[Rejected]


def prepare(rows: list[Row]) -> Prepared:
    """Validate a chunk. Needs no database, so it can run in a worker process."""
    prepared = Prepared([], [])
    for row in rows:
        try:
            prepared.valid.append(_clean(row))
        except (ValueError, service.InvalidEmail) as error:
            prepared.invalid.append(Rejected(row.line, row.values, str(error)))
    return prepared


def prepared_chunks(csv_file: CsvFile, *, parallel: bool) -> Iterator[Prepared]:
    """The file's chunks, validated; with ``parallel``, a second process reads and validates.

    Reading and validating cost about as much as writing, so on a large file a forked
    process parses the CSV and checks the coming chunks while this one writes; only the
    validated chunks cross back, through a short queue. (Two such processes were no faster
    on two cores: they compete with the database for the same CPUs.)
    """
    if not parallel:
        yield from (prepare(chunk) for chunk in read_chunks(csv_file))
        return
    context = get_context("fork")
    results = context.Queue(maxsize=3)
    producer = context.Process(target=_produce, args=(csv_file, results), daemon=True)
    producer.start()
    try:
        while (item := results.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        producer.kill()
        producer.join()
        results.close()


def _produce(csv_file: CsvFile, results) -> None:
    """In the forked process: every chunk, validated, then None (or the exception)."""
    try:
        for chunk in read_chunks(csv_file):
            results.put(prepare(chunk))
        results.put(None)
    except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
        results.put(error)
    results.close()
    results.join_thread()


class Importer:
    """Applies chunks of one file; remembers addresses across chunks to catch duplicate rows."""

    def __init__(self, *, source: str, default_tier: str | None = None, tags: tuple[str, ...] = ()):
        self.source = source
        self.default_tier = default_tier
        self.extra_tags = tuple(audience.clean_tag(tag) for tag in tags)
        self.seen: dict[str, int] = {}

    def apply(self, session: Session, rows: list[Row]) -> ImportTotals:
        """Validate and import one chunk; the caller commits it."""
        return self.write(session, prepare(rows))

    def write(self, session: Session, prepared: Prepared) -> ImportTotals:
        """Import one validated chunk with bulk statements; the caller commits it."""
        items, totals = self.dedupe(prepared)
        self.write_items(session, items, self.tag_ids(session, items), totals)
        return totals

    def dedupe(self, prepared: Prepared) -> tuple[list[_Clean], ImportTotals]:
        """Drop rows whose address came earlier in the file (counted and reported)."""
        totals = ImportTotals(invalid=len(prepared.invalid), rejected=list(prepared.invalid))
        items: list[_Clean] = []
        for item in prepared.valid:
            first = self.seen.setdefault(item.email, item.line)
            if first == item.line:
                items.append(item)
                continue
            totals.skipped += 1
            totals.rejected.append(
                Rejected(item.line, item.as_values(), f"duplicate of line {first}")
            )
        return items, totals

    def tag_ids(self, session: Session, items: list[_Clean]) -> dict[str, int]:
        """Ids of every tag these rows carry, created where missing."""
        return audience.tag_ids(session, {tag for item in items for tag in self._tags_of(item)})

    def write_items(
        self, session: Session, items: list[_Clean], tag_ids: dict[str, int], totals: ImportTotals
    ) -> None:
        """Write deduplicated rows whose tags exist; counts go into ``totals``."""
        if not items:
            return
        without_flush_wait(session)  # each chunk is idempotent and re-importable
        existing = {row.email: row for row in self._existing(session, [i.email for i in items])}
        fresh = [item for item in items if item.email not in existing]
        known = [item for item in items if item.email in existing]
        if fresh:
            self._insert(session, fresh, tag_ids)
            webhooks.members_created(session, [item.email for item in fresh])
        changed = self._update(session, known, existing)
        changed |= self._tag(session, known, existing, tag_ids)
        totals.created += len(fresh)
        totals.updated += len(changed)
        totals.unchanged += len(known) - len(changed)

    def _existing(self, session: Session, emails: list[str]) -> list[Any]:
        """The members among ``emails`` (id, email, name, tier, status, fields)."""
        if session.connection().dialect.name == "postgresql":
            raw = session.connection().connection.driver_connection
            with raw.cursor(row_factory=namedtuple_row) as cursor:
                cursor.execute(
                    "SELECT id, email, name, tier, status, fields FROM members "
                    "WHERE email = ANY(%b::text[])",
                    (emails,),
                )
                return cursor.fetchall()
        columns = (Member.id, Member.email, Member.name, Member.tier, Member.status, Member.fields)
        return list(session.execute(select(*columns).where(Member.email.in_(emails))))

    def _tags_of(self, item: _Clean) -> set[str]:
        return set(item.tags) | set(self.extra_tags)

    def _insert(self, session: Session, items: list[_Clean], tag_ids: dict[str, int]) -> None:
        """New members, each with its consent record and its tags."""
        now = utcnow()
        rows = [
            {
                "email": item.email,
                "name": item.name,
                "tier": item.tier or self.default_tier or "free",
                "fields": item.fields,
                "role": "member",
                "status": item.status or "active",
                "source": "import",
                "created_at": now,
            }
            for item in items
        ]
        bulk_insert(session, Member.__table__, rows)
        if session.connection().dialect.name == "postgresql":
            self._link_in_postgres(session, items, now)
            return
        emails = [row["email"] for row in rows]
        ids = dict(
            session.execute(
                select(Member.email, Member.id).where(one_of_values(session, Member.email, emails))
            ).all()
        )
        consents = [self._consent(ids[item.email], item, now) for item in items]
        bulk_insert(session, ConsentEvent.__table__, consents)
        pairs = {(ids[item.email], tag_ids[tag]) for item in items for tag in self._tags_of(item)}
        bulk_insert(session, member_tags, [{"member_id": m, "tag_id": t} for m, t in sorted(pairs)])

    def _link_in_postgres(self, session: Session, items: list[_Clean], now: datetime) -> None:
        """The consent records and tags of new members, in two set-based statements.

        The server joins the new rows by address, so no ids travel back to Python: the same
        records as the portable path, at a fraction of the client's work. The arrays go in
        binary (``%b``), which psycopg encodes three times faster than as text.
        """
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute(
                "INSERT INTO consent_events (member_id, email_hash, action, source, detail, "
                "created_at) SELECT m.id, encode(sha256(convert_to(m.email, 'UTF8')), 'hex'), "
                "'import', %s, 'line ' || x.line, %s "
                "FROM unnest(%b::text[], %b::integer[]) AS x(email, line) "
                "JOIN members m ON m.email = x.email",
                (self.source, now, [item.email for item in items], [item.line for item in items]),
            )
            pairs = [(item.email, tag) for item in items for tag in sorted(self._tags_of(item))]
            if pairs:
                cursor.execute(
                    "INSERT INTO member_tags (member_id, tag_id) SELECT m.id, t.id "
                    "FROM unnest(%b::text[], %b::text[]) AS x(email, tag) "
                    "JOIN members m ON m.email = x.email JOIN tags t ON t.name = x.tag "
                    "ON CONFLICT DO NOTHING",
                    ([email for email, _ in pairs], [tag for _, tag in pairs]),
                )

    def _consent(self, member_id: int, item: _Clean, now: datetime) -> dict[str, Any]:
        """The consent record of an imported member: which file, which line."""
        return {
            "member_id": member_id,
            "email_hash": tokens.email_hash(item.email),
            "action": "import",
            "source": self.source,
            "detail": f"line {item.line}",
            "ip": None,
            "created_at": now,
        }

    def _update(self, session: Session, items: list[_Clean], existing: dict[str, Any]) -> set[str]:
        changes, consents, tier_changes = [], [], []
        for item in items:
            row, change = existing[item.email], {}
            if item.name and item.name != row.name:
                change["name"] = item.name
            if item.tier and item.tier != row.tier:
                change["tier"] = item.tier
                tier_changes.append(_tier_change(row.id, row.tier, item.tier))
            merged = {**(row.fields or {}), **item.fields}
            if merged != (row.fields or {}):
                change["fields"] = merged
            status = self._status_change(row.status, item.status)
            if status is not None:
                change["status"] = status
                if status == "active":  # the importer vouches for the pending member's consent
                    consents.append(self._consent(row.id, item, utcnow()))
            if change:
                changes.append((item.email, {"id": row.id, **change}))
        for keys in {tuple(sorted(change)) for _, change in changes}:
            batch = [change for _, change in changes if tuple(sorted(change)) == keys]
            session.execute(update(Member), batch)
        bulk_insert(session, ConsentEvent.__table__, consents)
        webhooks.members_changed(session, {c["id"]: _was(existing[e], c) for e, c in changes})
        bulk_insert(session, TierChange.__table__, tier_changes)
        return {email for email, _ in changes}

    @staticmethod
    def _status_change(current: str, wanted: str | None) -> str | None:
        """A file may suppress a member or activate a pending one; it never lifts a suppression."""
        if current in SUPPRESSED:
            return None
        if wanted in SUPPRESSED:
            return wanted
        if current == "pending" and wanted in (None, "active"):
            return "active"
        return None

    def _tag(self, session: Session, items: list[_Clean], existing, tag_ids) -> set[str]:
        """Add the file's tags to known members (never removing any); who got a new one."""
        wanted = {
            (existing[item.email].id, tag_ids[tag]) for item in items for tag in self._tags_of(item)
        }
        if not wanted:
            return set()
        present = set(
            session.execute(
                select(member_tags.c.member_id, member_tags.c.tag_id).where(
                    one_of_values(session, member_tags.c.member_id, [m for m, _ in wanted])
                )
            ).all()
        )
        missing = sorted(wanted - present)
        bulk_insert(session, member_tags, [{"member_id": m, "tag_id": t} for m, t in missing])
        emails_by_id = {row.id: email for email, row in existing.items()}
        return {emails_by_id[member_id] for member_id, _ in missing}


def _was(row: Any, change: dict[str, Any]) -> dict[str, Any]:
    """A changed member's old values (and old status, always), for its webhook event."""
    return {"status": row.status} | {key: getattr(row, key) for key in change if key != "id"}


def run_import(
    app: Flask, csv_file: CsvFile, importer: Importer, *, parallel: bool, progress=None
) -> ImportTotals:
    """Import a whole file, one committed transaction per chunk (re-running resumes it).

    With ``parallel`` a second process validates the coming chunks meanwhile. (Writing with
    two connections at once as well was no faster on two cores, so it is not done.)
    """
    totals = ImportTotals()
    for prepared in prepared_chunks(csv_file, parallel=parallel):
        with app.app_context(), transaction() as session:
            totals.add(importer.write(session, prepared))
        if progress is not None:
            progress(len(prepared.valid) + len(prepared.invalid))
    return totals
