"""Invitations: codes that let a new person join, or a member redeem, a tier and tags.

A code is long and random, so it cannot be guessed; the web edge adds rate limits so it cannot
be brute-forced either. Every redemption is a row in ``InviteRedemption`` (once per member and
invite), and ``uses`` only moves through a conditional UPDATE, so two people racing for the
last use of an invite never both get it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import utcnow
from app.members import audience, service, subscriptions, tiers
from app.members.models import TIERS, Invite, InviteRedemption, LoginToken, Member
from app.redaction import without_addresses

CODE_BYTES = 24  # 32 URL-safe characters: 192 random bits
MAX_CODE_LENGTH = 64


class InviteError(ValueError):
    """An invitation that cannot be made or used; the message says why, for the reader."""


UNKNOWN = "This invitation does not exist. Check the link you were sent."


def create(
    session: Session,
    *,
    tier: str = "invite",
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    tags: Iterable[str] = (),
    note: str = "",
    created_by: Member | None = None,
) -> Invite:
    """A new invitation; ``max_uses`` None means any number of people may use it."""
    if tier not in TIERS:
        raise InviteError(f"Unknown tier {tier!r}: use one of {', '.join(TIERS)}.")
    if max_uses is not None and max_uses < 1:
        raise InviteError("An invitation needs at least one use (or no limit).")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise InviteError("The expiry must be a date and time in the future, with a time zone.")
    try:
        clean_tags = sorted({audience.clean_tag(tag) for tag in tags})
    except audience.AudienceError as error:
        raise InviteError(str(error)) from error
    invite = Invite(
        code=secrets.token_urlsafe(CODE_BYTES), tier=tier, tags=clean_tags, max_uses=max_uses,
        uses=0, expires_at=expires_at, note=note.strip()[:200],
        created_by_id=created_by.id if created_by else None,
    )  # fmt: skip
    session.add(invite)
    session.flush()
    return invite


def parse_expiry(text: str | None) -> datetime | None:
    """An ISO 8601 date or date and time; without a zone it is taken as UTC. Empty: never."""
    if not text or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise InviteError(f"{text!r} is not an ISO 8601 date, e.g. 2026-12-31T23:59.") from error
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def create_for_friend(session: Session, member: Member) -> Invite:
    """A member spends one of their ``invites_left`` on a single-use invitation.

    The count moves in a conditional UPDATE, so two clicks at once cannot spend one twice.
    """
    spent = session.execute(
        update(Member)
        .where(Member.id == member.id, Member.invites_left > 0)
        .values(invites_left=Member.invites_left - 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not spent:
        raise InviteError("You have no invitations left to give.")
    session.refresh(member, ["invites_left"])
    return create(session, max_uses=1, created_by=member, note=f"from {member.email}")


def allow_friends(session: Session, email: str, count: int) -> Member:
    """An editor lets the member at ``email`` invite ``count`` friends (replacing the count)."""
    if not 0 <= count <= 1000:
        raise InviteError("The number of friends must be between 0 and 1000.")
    member = service.find_by_email(session, email)
    if member is None:
        raise InviteError(f"No member has the address {email!r}.")
    member.invites_left = count
    session.flush()
    return member


def revoke(session: Session, invite_id: int) -> Invite:
    """Stop an invitation from being used; past redemptions keep what they granted."""
    invite = session.get(Invite, invite_id)
    if invite is None:
        raise InviteError("There is no such invitation.")
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()
        session.flush()
    return invite


def find(session: Session, code: str) -> Invite | None:
    if not code or len(code) > MAX_CODE_LENGTH:
        return None
    return session.scalar(select(Invite).where(Invite.code == code))


def state(invite: Invite) -> str:
    """``active``, ``revoked``, ``expired`` or ``used up``: what the admin list shows."""
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at is not None and invite.expires_at <= utcnow():
        return "expired"
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return "used up"
    return "active"


REASONS = {
    "revoked": "This invitation was withdrawn.",
    "expired": "This invitation has expired.",
    "used up": "This invitation has already been used as many times as it allows.",
}


def usable(session: Session, code: str) -> Invite:
    """The invitation behind ``code``, or InviteError saying why it cannot be used."""
    invite = find(session, code)
    if invite is None:
        raise InviteError(UNKNOWN)
    if (current := state(invite)) != "active":
        raise InviteError(REASONS[current])
    return invite


def already_redeemed(session: Session, invite: Invite, member: Member) -> bool:
    return (
        session.scalar(
            select(InviteRedemption.id).where(
                InviteRedemption.invite_id == invite.id, InviteRedemption.member_id == member.id
            )
        )
        is not None
    )


@dataclass(frozen=True)
class Redemption:
    invite: Invite
    newly: bool  # False: this member had redeemed it before, nothing changed


def redeem(session: Session, code: str, member: Member, ip: str | None) -> Redemption:
    """Give ``member`` what the invitation grants, counting one use; once per member.

    The use and the redemption row are written together in a savepoint: if the last use was
    taken meanwhile, or the same member redeems at the same moment elsewhere, neither stays.
    """
    invite = find(session, code)
    if invite is None:
        raise InviteError(UNKNOWN)
    if already_redeemed(session, invite, member):
        return Redemption(invite, newly=False)
    usable(session, code)
    if member.status == "pending":
        raise InviteError("Confirm your email address first, then use the invitation.")
    try:
        with session.begin_nested():
            _claim_use(session, invite)
            session.add(InviteRedemption(invite_id=invite.id, member_id=member.id, ip=ip))
            session.flush()
    except IntegrityError:
        return Redemption(invite, newly=False)  # the same member, at the same moment
    session.refresh(invite, ["uses"])
    tiers.grant(session, member, invite.tier)
    audience.set_tags(session, [member.id], invite.tags, add=True)
    return Redemption(invite, newly=True)


def _claim_use(session: Session, invite: Invite) -> None:
    now = utcnow()
    claimed = session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.revoked_at.is_(None),
            or_(Invite.expires_at.is_(None), Invite.expires_at > now),
            or_(Invite.max_uses.is_(None), Invite.uses < Invite.max_uses),
        )
        .values(uses=Invite.uses + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise InviteError(REASONS["used up"])


def join(
    session: Session, code: str, *, email: str, name: str = "", ip: str | None
) -> subscriptions.SignupOutcome:
    """A new person asks to join by invitation: double opt-in, then the invite is redeemed.

    The answer never says whether the address was known. A known, confirmed address gets a
    sign-in link that leads back to the invitation, where a signed-in member redeems it.
    Raises InviteError (unusable code) or InvalidEmail.
    """
    invite = usable(session, code)
    known = service.find_by_email(session, email) is not None
    outcome = subscriptions.subscribe(
        session, email, name=name, ip=ip, source=f"invite:{invite.id}"
    )
    if not known and outcome.member_id is not None:
        session.get(Member, outcome.member_id).source = "invite"
    if outcome.login_nonce is not None:
        session.get(LoginToken, outcome.login_nonce).next_path = join_path(invite.code)
    session.flush()
    return outcome


def join_path(code: str) -> str:
    return f"/join/{code}"


def join_url(settings: Settings, invite: Invite) -> str:
    return settings.url(join_path(invite.code))


def confirm_url(settings: Settings, member: Member, invite: Invite) -> str:
    """A confirmation link that also redeems: ``/join/<code>/confirm/<token>``."""
    return subscriptions.link(settings, "confirm", member, f"{join_path(invite.code)}/confirm")


@dataclass(frozen=True)
class InviteRow:
    invite: Invite
    state: str
    redemptions: int


def list_invites(session: Session, *, limit: int = 200) -> list[InviteRow]:
    """Newest first, with each one's state and number of redemptions."""
    counts = (
        select(InviteRedemption.invite_id, func.count().label("n"))
        .group_by(InviteRedemption.invite_id)
        .subquery()
    )
    rows = session.execute(
        select(Invite, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.invite_id == Invite.id)
        .order_by(Invite.created_at.desc(), Invite.id.desc())
        .limit(limit)
    ).all()
    return [InviteRow(invite, state(invite), count) for invite, count in rows]


def redemptions(
    session: Session, invite_id: int
) -> tuple[Invite, list[tuple[InviteRedemption, Member | None]]]:
    """An invitation and who redeemed it when (a deleted member shows as None)."""
    invite = session.get(Invite, invite_id)
    if invite is None:
        raise InviteError("There is no such invitation.")
    rows = session.execute(
        select(InviteRedemption, Member)
        .outerjoin(Member, Member.id == InviteRedemption.member_id)
        .where(InviteRedemption.invite_id == invite_id)
        .order_by(InviteRedemption.redeemed_at.desc())
    ).all()
    return invite, [(redemption, member) for redemption, member in rows]


def given_by(session: Session, member: Member) -> list[Invite]:
    """The invitations a member made for friends, newest first."""
    return list(
        session.scalars(
            select(Invite)
            .where(Invite.created_by_id == member.id)
            .order_by(Invite.created_at.desc(), Invite.id.desc())
        )
    )


def forget_giver(session: Session, member: Member) -> None:
    """Before ``member`` is erased: the notes of the invitations they gave name them by
    address ("from ann@example.com"), which would outlive them; now "from a former member"."""
    for invite in given_by(session, member):
        invite.note = without_addresses(invite.note, "a former member")
    session.flush()
