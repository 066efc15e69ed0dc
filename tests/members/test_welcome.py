"""The editor's welcome text greets members who start paying or join by invitation."""

from __future__ import annotations

from app.issues import service as issues
from tests.conftest import make_member, sign_in

WELCOME = "Welcome to the bakehouse.\n\nThe starter is yours to share."


def set_welcome(session) -> None:
    issues.update_publication(session, {"welcome_text": WELCOME})
    session.commit()


def test_invited_and_paying_members_are_welcomed_in_the_editors_words(app, session):
    set_welcome(session)
    for tier in ("invite", "paid"):
        client = app.test_client()
        sign_in(client, make_member(session, email=f"{tier}@example.com", tier=tier))
        page = client.get("/account?welcome=1").get_data(as_text=True)
        assert "<p>Welcome to the bakehouse.</p>" in page
        assert "<p>The starter is yours to share.</p>" in page
    paid = app.test_client()
    sign_in(paid, make_member(session, email="new-paid@example.com", tier="paid"))
    assert "Welcome to the bakehouse." in paid.get("/account/upgrade/return").get_data(as_text=True)


def test_free_members_and_ordinary_visits_see_no_welcome(app, session):
    set_welcome(session)
    free = app.test_client()
    sign_in(free, make_member(session, email="free@example.com"))
    assert "Welcome to the bakehouse." not in free.get("/account?welcome=1").get_data(as_text=True)
    invited = app.test_client()
    sign_in(invited, make_member(session, email="invited@example.com", tier="invite"))
    assert "Welcome to the bakehouse." not in invited.get("/account").get_data(as_text=True)
