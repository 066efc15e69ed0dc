"""Issues kept as files: ``content/*.md`` with YAML front matter, synced by slug.

Each file is applied in its own savepoint, so a malformed file is reported by name with the
reason and every other file still syncs. A file whose bytes did not change is left alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.issues import service
from app.issues.models import VISIBILITIES, Issue, Publication

FRONT_MATTER_KEYS = {
    "title",
    "slug",
    "subtitle",
    "excerpt",
    "visibility",
    "published_at",
    "email_only",
}


class ContentFileError(ValueError):
    """A content file cannot become an issue; the message says why."""


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.errors)} failed"
        )


def sync_directory(session: Session, directory: Path) -> SyncReport:
    """Load every ``*.md`` file of ``directory`` into issues, idempotently by slug."""
    if not directory.is_dir():
        raise ContentFileError(f"{directory} is not a directory")
    report = SyncReport()
    try:
        with session.begin_nested():
            apply_publication_file(session, directory / "publication.yml")
    except ContentFileError as error:
        report.errors.append(("publication.yml", str(error)))
    seen_slugs: dict[str, str] = {}
    for path in sorted(directory.glob("*.md")):
        try:
            with session.begin_nested():
                outcome, slug = _sync_file(session, path, seen_slugs)
        except (ContentFileError, service.IssueError) as error:
            report.errors.append((path.name, str(error)))
            continue
        except SQLAlchemyError as error:  # the savepoint is rolled back; the other files go on
            report.errors.append(
                (path.name, f"the database refused it: {error.__class__.__name__}")
            )
            continue
        seen_slugs[slug] = path.name
        getattr(report, outcome).append(path.name)
    return report


def _sync_file(session: Session, path: Path, seen_slugs: dict[str, str]) -> tuple[str, str]:
    raw = path.read_bytes()
    fields, published_at = parse_issue_file(path.name, raw)
    slug = fields["slug"]
    if slug in seen_slugs:
        raise ContentFileError(f"slug '{slug}' is also used by {seen_slugs[slug]}")
    digest = hashlib.sha256(raw).hexdigest()
    issue = session.scalar(select(Issue).where(Issue.slug == slug))
    if issue is not None and issue.source != "file":
        raise ContentFileError(
            f"slug '{slug}' belongs to an issue written in the browser; rename one of them"
        )
    if issue is not None and issue.source_digest == digest:
        return "unchanged", slug
    outcome = "created" if issue is None else "updated"
    issue = service.save_issue(session, fields, issue_id=issue.id if issue else None, source="file")
    issue.source_path = path.name
    issue.source_digest = digest
    if published_at is not None:
        service.publish(session, issue, at=published_at)
    elif issue.is_published:
        service.unpublish(session, issue)
    return outcome, slug


def apply_publication_file(session: Session, path: Path) -> None:
    """``publication.yml`` beside the issues names the publication (``name``, ``description``)."""
    if not path.exists():
        return
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ContentFileError(f"{path.name} is not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ContentFileError(f"{path.name} needs 'name:' and 'description:' keys")
    publication = session.get(Publication, 1) or Publication(id=1, content_version=0)
    name, description = str(data.get("name") or ""), str(data.get("description") or "")
    if (publication.name, publication.description) == (name, description):
        return
    publication.name, publication.description = name, description
    session.add(publication)
    session.flush()
    service.content_changed(session)


def parse_issue_file(name: str, raw: bytes) -> tuple[dict[str, Any], datetime | None]:
    """Front matter and body of one file as issue fields, or a ContentFileError saying why."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ContentFileError(f"not UTF-8 (byte {error.start})") from error
    if "\x00" in text:
        raise ContentFileError("contains a NUL character; is it really a text file?")
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ContentFileError(f"front matter is not valid YAML{where}: {problem}") from error
    except (ValueError, TypeError) as error:  # e.g. a date YAML itself cannot build: 2026-13-45
        raise ContentFileError(f"front matter is not valid: {error}") from error
    meta = post.metadata
    if not isinstance(meta, dict) or not meta:
        raise ContentFileError("no front matter: start the file with '---', title: …, '---'")
    unknown = sorted(set(meta) - FRONT_MATTER_KEYS)
    if unknown:
        raise ContentFileError(f"unknown front matter key(s): {', '.join(unknown)}")
    if not isinstance(meta.get("title"), str) or not meta["title"].strip():
        raise ContentFileError("front matter needs a 'title'")
    visibility = meta.get("visibility", "public")
    if visibility not in VISIBILITIES:
        raise ContentFileError(
            f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}"
        )
    fields = {
        "title": meta["title"],
        "slug": str(meta.get("slug") or Path(name).stem),
        "subtitle": str(meta.get("subtitle") or ""),
        "excerpt": str(meta.get("excerpt") or ""),
        "visibility": visibility,
        "email_only": _as_bool(meta.get("email_only", False)),
        "body_markdown": post.content,
    }
    return fields, _as_datetime(meta.get("published_at"))


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ContentFileError(f"email_only must be true or false, not {value!r}")


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ContentFileError(f"published_at {value} is out of range") from None
        if not 1900 <= moment.year <= 9000:
            raise ContentFileError(f"published_at {value} is out of range")
        return moment
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _as_datetime(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise ContentFileError(f"published_at must be an ISO 8601 date or time, not {value!r}")
