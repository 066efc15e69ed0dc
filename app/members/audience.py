"""The editor's view of the audience: find, add by hand, tag and untag, saved segments."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session, selectinload

from app import webhooks
from app.members import segments, service
from app.members.models import TIERS, ConsentEvent, Member, Segment, Tag, member_tags
from app.members.subscriptions import record_consent
from app.pagination import Page

TAG_LIMIT = 100


class AudienceError(ValueError):
    """An editor's request that cannot be carried out, with a message to show them."""


def clean_tag(name: str) -> str:
    tag = " ".join((name or "").split())
    if not tag or len(tag) > TAG_LIMIT:
        raise AudienceError(f"A tag needs 1 to {TAG_LIMIT} characters.")
    return tag


def tag_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    """Ids for these tag names, creating the missing ones."""
    wanted = {clean_tag(name) for name in names}
    if not wanted:
        return {}
    found = dict(session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(wanted))).all())
    for name in sorted(wanted - set(found)):
        tag = Tag(name=name)
        session.add(tag)
        session.flush()
        found[name] = tag.id
    return found


def find_members(
    session: Session, *, query: str = "", expression: str = "", number: int = 1, per_page: int = 50
) -> Page[Member]:
    """Members matching a search text and a segment expression, newest first."""
    condition = segments.where(expression) if expression.strip() else segments.where("all")
    text = query.strip().lower()
    if text:
        condition = condition & or_(
            Member.email.contains(text, autoescape=True),
            func.lower(Member.name).contains(text, autoescape=True),
        )
    total = session.scalar(select(func.count()).select_from(Member).where(condition)) or 0
    items = session.scalars(
        select(Member)
        .where(condition)
        .options(selectinload(Member.tags))
        .order_by(Member.id.desc())
        .limit(per_page)
        .offset((max(1, number) - 1) * per_page)
    ).all()
    return Page(list(items), max(1, number), total, per_page)


def add_member(
    session: Session,
    email: str,
    *,
    name: str = "",
    tier: str = "free",
    tags: Iterable[str] = (),
    editor: str,
) -> Member:
    """An editor adds someone by hand (who agreed elsewhere); recorded as such."""
    normalized = service.normalize_email(email)
    if tier not in TIERS:
        raise AudienceError(f"Choose a tier: {', '.join(TIERS)}.")
    if session.scalar(select(Member.id).where(Member.email == normalized)) is not None:
        raise AudienceError(f"{normalized} is already a member.")
    member = Member(
        email=normalized,
        name=name.strip()[:200],
        tier=tier,
        status="active",
        source="admin",
        fields={},
    )
    session.add(member)
    session.flush()
    set_tags(session, [member.id], tags, add=True)
    record_consent(session, member, "added", source="admin", detail=f"added by {editor}")
    session.flush()
    webhooks.member_created(session, member)
    return member


def forget_adder(session: Session, editor: Member) -> None:
    """Before ``editor`` is erased: the consent records of the members they added by hand name
    them by address ("added by ann@example.com"), which would outlive them; now "added by a
    former editor". The records stay: they still say the member was added, not how to reach
    who did it."""
    added = select(ConsentEvent).where(
        ConsentEvent.action == "added", ConsentEvent.detail.contains(editor.email, autoescape=True)
    )
    for event in session.scalars(added):
        event.detail = event.detail.replace(editor.email, "a former editor")
    session.flush()


def set_tags(session: Session, member_ids: list[int], names: Iterable[str], *, add: bool) -> int:
    """Add (or remove) tags on many members at once; returns how many pairs changed."""
    ids = tag_ids(session, names) if add else _existing_tag_ids(session, names)
    if not ids or not member_ids:
        return 0
    if not add:
        result = session.execute(
            delete(member_tags).where(
                member_tags.c.member_id.in_(member_ids), member_tags.c.tag_id.in_(ids.values())
            )
        )
        session.expire_all()
        return result.rowcount
    present = set(
        session.execute(
            select(member_tags.c.member_id, member_tags.c.tag_id).where(
                member_tags.c.member_id.in_(member_ids), member_tags.c.tag_id.in_(ids.values())
            )
        ).all()
    )
    rows = [
        {"member_id": member_id, "tag_id": tag_id}
        for member_id in member_ids
        for tag_id in ids.values()
        if (member_id, tag_id) not in present
    ]
    if rows:
        session.execute(insert(member_tags), rows)
    session.expire_all()
    return len(rows)


def _existing_tag_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    wanted = {clean_tag(name) for name in names}
    return dict(session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(wanted))).all())


def history(session: Session, member: Member) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.member_id == member.id)
            .order_by(ConsentEvent.id.desc())
        )
    )


def saved_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.name)))


def save_segment(session: Session, name: str, expression: str) -> Segment:
    """Save a named segment; the expression must parse (SegmentError says where it does not)."""
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise AudienceError("A segment needs a name of 1 to 100 characters.")
    segments.parse(expression)
    segment = session.scalar(select(Segment).where(Segment.name == name)) or Segment(name=name)
    segment.expression = expression.strip()
    session.add(segment)
    session.flush()
    return segment


def delete_segment(session: Session, segment_id: int) -> None:
    segment = session.get(Segment, segment_id)
    if segment is not None:
        session.delete(segment)
        session.flush()
