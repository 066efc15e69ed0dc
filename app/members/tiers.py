"""The one place a member's tier changes: Stripe (payments), invitations and editors call it.

``paid`` comes and goes with a Stripe subscription; ``invite`` is complimentary and lasts;
``free`` is everyone else. A higher tier is never lowered by a lower grant (an invited member
who redeems a free code stays invited), and a paid membership that ends falls back to the
invitation the member redeemed, if any, not straight to free.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app import webhooks
from app.insights.models import TierChange
from app.members.models import Invite, InviteRedemption, Member

RANK = {"free": 0, "invite": 1, "paid": 2}


def grant(session: Session, member: Member, tier: str) -> bool:
    """Raise ``member`` to ``tier`` if that is higher than what they have; True if it changed."""
    if RANK[tier] <= RANK[member.tier]:
        return False
    return _set(session, member, tier)


def paid_started(session: Session, member: Member) -> bool:
    return grant(session, member, "paid")


def paid_ended(session: Session, member: Member) -> bool:
    """A subscription ended (or lapsed past its grace): back to invited or free."""
    if member.tier != "paid":
        return False
    return _set(session, member, "invite" if _redeemed_invite(session, member) else "free")


def set_by_editor(session: Session, member: Member, tier: str) -> bool:
    """An editor's choice stands as given (down as well as up)."""
    if tier not in RANK:
        raise ValueError(f"unknown tier {tier!r}")
    return _set(session, member, tier)


def _set(session: Session, member: Member, tier: str) -> bool:
    """The one assignment of a tier (and its ``member.updated`` event); True if it changed."""
    was = {"tier": member.tier, "status": member.status}
    _change(session, member, tier)
    if was["tier"] == tier:
        return False
    webhooks.member_changed(session, member, was)
    return True


def _change(session: Session, member: Member, tier: str) -> None:
    """Set the tier and, if it moved, record the change (the audience charts read it)."""
    old, member.tier = member.tier, tier
    session.flush()
    if old != tier:
        session.add(TierChange(member_id=member.id, from_tier=old, to_tier=tier))
        session.flush()


def _redeemed_invite(session: Session, member: Member) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    InviteRedemption.member_id == member.id,
                    InviteRedemption.invite_id == Invite.id,
                    Invite.tier == "invite",
                )
            )
        )
    )
