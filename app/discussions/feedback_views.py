"""The issue email's one-click feedback links: ``/feedback/<token>/<choice>``.

A GET records nothing (mail scanners follow links): it shows the choice with a button, and a
small script submits it for a person's browser. The POST records; its signed, per-member
token is the authentication, so it needs neither a session nor a CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from app.db import transaction
from app.discussions import service, votes
from app.sending.messages import FEEDBACK_FACES
from app.web.security import csrf, limiter

bp = Blueprint("feedback_links", __name__)

TOKEN_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
REFUSED_STATUS = {"too-long": 400, "empty": 400, "rate-limited": 429}


def _settings():
    return current_app.extensions["kith.settings"]


def _page(ballot: votes.Ballot, *, status: int = 200, **context):
    faces = FEEDBACK_FACES.get(ballot.issue.feedback_choices, ())
    page = render_template("discussions/feedback_vote.html", ballot=ballot, faces=faces, **context)
    return page, status, TOKEN_PAGE_HEADERS


def _invalid(reason: str):
    page = render_template("discussions/feedback_invalid.html", reason=reason)
    return page, 400, TOKEN_PAGE_HEADERS


@bp.get("/feedback/<token>/<int:choice>")
def vote_page(token: str, choice: int):
    try:
        with transaction() as session:
            ballot = votes.open_ballot(session, _settings(), token, choice)
    except votes.VoteError as error:
        return _invalid(str(error))
    # After the POST: "done" says what was sent; the vote itself must be there to thank for.
    done = request.args.get("done", "")
    recorded = done in ("vote", "comment") and ballot.current == choice
    return _page(
        ballot, token=token, recorded=recorded, commented=done == "comment", autosubmit=not done
    )


@bp.post("/feedback/<token>/<int:choice>")
@csrf.exempt
@limiter.limit("30 per minute")
def vote(token: str, choice: int):
    comment = request.form.get("comment", "")
    try:
        with transaction(immediate=True) as session:
            recorded = votes.record_vote(session, _settings(), token, choice, comment=comment)
    except votes.VoteError as error:
        return _invalid(str(error))
    except service.PostRefused as refused:  # rolled back: neither the vote nor the comment
        with transaction() as session:
            ballot = votes.open_ballot(session, _settings(), token, choice)
        status = REFUSED_STATUS.get(refused.reason, 403)
        error = f"Nothing was recorded: {refused}"
        return _page(ballot, status=status, token=token, comment=comment, error=error)
    done = "comment" if recorded.comment is not None else "vote"
    # Then a GET, so reloading the thanks page cannot post the comment twice.
    return redirect(url_for(".vote_page", token=token, choice=choice, done=done), 303)
