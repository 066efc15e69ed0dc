"""One-click feedback from the issue email: a member's rating of an issue, and its tally.

The link's signed token (``{"m": member, "i": issue}``, purpose ``feedback``) is the only
proof of who votes, so it is checked on every use; a second vote replaces the first. A comment
sent with a vote is private feedback in the issue's thread, posted by the one write path
(``service.create_post``) under the same rules as every other post.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.discussions import service
from app.discussions.models import FeedbackVote, Post
from app.issues.models import Issue
from app.members import tokens
from app.members.models import Member


class VoteError(ValueError):
    """A feedback link that cannot be used; the message is fit to show the reader."""


@dataclass(frozen=True)
class Ballot:
    """What a feedback link offers its member: the issue, the picked choice, their last vote."""

    member: Member
    issue: Issue
    choice: int
    current: int | None

    @property
    def choices(self) -> range:
        return range(1, self.issue.feedback_choices + 1)


def open_ballot(session: Session, settings: Settings, token: str, choice: int) -> Ballot:
    """The ballot behind ``token`` for ``choice``, or VoteError saying what is wrong."""
    try:
        payload = tokens.verify(settings, "feedback", token)
    except tokens.TokenError as error:
        raise VoteError(str(error)) from error
    issue_id = payload.get("i")
    member = session.get(Member, payload["m"])
    issue = session.get(Issue, issue_id) if isinstance(issue_id, int) else None
    if member is None or issue is None:
        raise VoteError("This link no longer matches a member or an issue here.")
    if not issue.feedback_choices:
        raise VoteError("This issue no longer asks for ratings.")
    if not 1 <= choice <= issue.feedback_choices:
        raise VoteError(f"Pick a number from 1 to {issue.feedback_choices}.")
    current = session.scalar(
        select(FeedbackVote.choice).where(
            FeedbackVote.issue_id == issue.id, FeedbackVote.member_id == member.id
        )
    )
    return Ballot(member, issue, choice, current)


@dataclass(frozen=True)
class Recorded:
    ballot: Ballot
    comment: Post | None  # the private feedback post, when a comment was sent and taken


def record_vote(
    session: Session,
    settings: Settings,
    token: str,
    choice: int,
    *,
    comment: str = "",
    now: datetime | None = None,
) -> Recorded:
    """Record the vote (replacing an earlier one) and post ``comment`` as private feedback.

    A discussion that is off takes no comment: the vote counts and the comment is dropped.
    Any other refusal (``service.PostRefused``) is raised so the caller writes nothing.
    """
    ballot = open_ballot(session, settings, token, choice)
    _set_vote(session, ballot)
    post = None
    if comment.strip():
        thread = service.issue_thread(session, ballot.issue)
        try:
            post = service.create_post(
                session, ballot.member, thread, comment, private=True, now=now
            )
        except service.PostRefused as refused:
            if refused.reason != "off":
                raise
    return Recorded(ballot, post)


def _set_vote(session: Session, ballot: Ballot) -> None:
    """One vote per member and issue: two clicks at once end as one row with the last choice."""
    where = (FeedbackVote.issue_id == ballot.issue.id, FeedbackVote.member_id == ballot.member.id)
    vote = session.scalar(select(FeedbackVote).where(*where).with_for_update())
    if vote is None:
        try:
            with session.begin_nested():
                session.add(
                    FeedbackVote(
                        issue_id=ballot.issue.id, member_id=ballot.member.id, choice=ballot.choice
                    )
                )
            return
        except IntegrityError:
            vote = session.scalars(select(FeedbackVote).where(*where)).one()
    vote.choice = ballot.choice
    session.flush()


@dataclass(frozen=True)
class Results:
    """An issue's ratings: how many picked each choice, how many voted, the average."""

    choices: int
    counts: dict[int, int]
    voters: int
    average: float | None


def results(session: Session, issue: Issue) -> Results:
    rows = session.execute(
        select(FeedbackVote.choice, func.count())
        .where(FeedbackVote.issue_id == issue.id)
        .group_by(FeedbackVote.choice)
    ).all()
    found = dict(rows)
    # Votes cast before the editor offered fewer choices still show, at their own number.
    choices = max([issue.feedback_choices, *found])
    counts = {choice: found.get(choice, 0) for choice in range(1, choices + 1)}
    voters = sum(counts.values())
    average = sum(choice * count for choice, count in counts.items()) / voters if voters else None
    return Results(choices, counts, voters, average)
