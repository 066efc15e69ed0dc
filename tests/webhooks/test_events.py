"""Each event comes from the real code path that makes the change, in its transaction.

The outbox is read back (the ``webhook_events`` rows and their deliveries); delivering them is
test_delivery's business, except for ``issue.sent``, which goes all the way through the real
worker to the receiver.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.discussions import service as discussions
from app.members import accounts, audience, invites, subscriptions, tiers
from app.members.models import Member
from app.sending.bounces import record_bounce
from app.webhooks import endpoints, outbox
from app.webhooks.models import WebhookEvent
from tests.conftest import make_member, run_jobs, sign_in
from tests.discussions.conftest import publish_issue
from tests.members.test_importer import run_import, write
from tests.webhooks.conftest import (
    closed_port_url,
    deliveries,
    events,
    make_endpoint,
    try_due,
)

MEMBER_KEYS = {
    "id", "email", "name", "tier", "status", "source", "tags", "fields", "created_at",
    "confirmed_at",
}  # fmt: skip


def only(session, event_type: str) -> dict:
    """The data of the one event of ``event_type``; fails if there is not exactly one."""
    found = events(session, event_type)
    assert len(found) == 1, f"{len(found)} {event_type} events: {[e.payload for e in found]}"
    return found[0].payload


def confirm_by_web(client, settings, member) -> None:
    """Follow the mailed confirmation link as a reader does: GET shows a button, POST acts."""
    path = subscriptions.confirm_url(settings, member).removeprefix("http://localhost")
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post(path, data={"csrf_token": token}).status_code == 302


def test_subscribe_then_confirm_announces_a_member_once(app, client, session, endpoint, redis):
    settings = app.extensions["kith.settings"]
    outcome = subscriptions.subscribe(session, "New@Example.com", name="Nia", ip=None)
    session.commit()
    assert events(session) == []  # a pending sign-up is not announced
    member = session.get(Member, outcome.member_id)
    confirm_by_web(client, settings, member)
    data = only(session, "member.created")
    assert set(data) == {"member"} and set(data["member"]) == MEMBER_KEYS
    assert data["member"] | {"created_at": None, "confirmed_at": None} == {
        "id": member.id, "email": "new@example.com", "name": "Nia", "tier": "free",
        "status": "active", "source": "form", "tags": [], "fields": {},
        "created_at": None, "confirmed_at": None,
    }  # fmt: skip
    assert data["member"]["confirmed_at"].endswith("Z")
    assert [d.endpoint_id for d in deliveries(session)] == [endpoint.id]


def test_unsubscribing_and_coming_back_are_updates(app, session, endpoint):
    settings = app.extensions["kith.settings"]
    member = make_member(session, email="back@example.com", confirmed_at=None)
    token = subscriptions.unsubscribe_url(settings, member).rsplit("/", 1)[1]
    subscriptions.unsubscribe(session, settings, token, source="link", ip=None)
    member.unsubscribed_at -= timedelta(seconds=5)  # links are stamped to the second
    subscriptions.subscribe(session, member.email, ip=None)
    token = subscriptions.confirm_url(settings, member).rsplit("/", 1)[1]
    subscriptions.confirm(session, settings, token, ip=None)
    session.commit()
    changes = [event.payload["changes"] for event in events(session, "member.updated")]
    assert changes == [
        {"status": {"from": "active", "to": "unsubscribed"}},
        {"status": {"from": "unsubscribed", "to": "active"}},
    ]
    assert events(session, "member.created") == []


def test_a_pending_sign_up_that_unsubscribes_is_never_announced(app, session, endpoint):
    settings = app.extensions["kith.settings"]
    member = make_member(session, status="pending")
    token = subscriptions.unsubscribe_url(settings, member).rsplit("/", 1)[1]
    subscriptions.unsubscribe(session, settings, token, source="link", ip=None)
    session.commit()
    assert events(session) == []


def test_an_editor_adding_a_member_announces_them_with_tags(session, endpoint):
    audience.add_member(session, "added@example.com", tier="paid", tags=["vip"], editor="ed")
    session.commit()
    member = only(session, "member.created")["member"]
    assert (member["tier"], member["source"], member["tags"]) == ("paid", "admin", ["vip"])


def test_an_import_announces_new_members_and_updates_changed_ones(app, session, endpoint, tmp_path):
    make_member(session, email="known@example.com", name="Old", tier="free")
    make_member(session, email="quiet@example.com", status="pending")
    path = write(
        tmp_path,
        "email,name,tier,status\nnew@example.com,New,,\nlater@example.com,,,pending\n"
        "known@example.com,Known,paid,\nquiet@example.com,,,\n",
    )
    assert run_import(app, path).exit_code == 0
    created = sorted(e.payload["member"]["email"] for e in events(session, "member.created"))
    # new: created active; later: pending, not yet; quiet: the file vouches for it, active now
    assert created == ["new@example.com", "quiet@example.com"]
    [updated] = events(session, "member.updated")
    assert updated.payload["member"]["email"] == "known@example.com"
    assert updated.payload["changes"] == {
        "name": {"from": "Old", "to": "Known"}, "tier": {"from": "free", "to": "paid"},
    }  # fmt: skip


def test_joining_by_invitation_announces_then_updates_the_tier(app, session, endpoint):
    settings = app.extensions["kith.settings"]
    invite = invites.create(session, tier="invite")
    outcome = invites.join(session, invite.code, email="friend@example.com", ip=None)
    member = session.get(Member, outcome.member_id)
    subscriptions.confirm(
        session, settings, subscriptions.confirm_url(settings, member).rsplit("/", 1)[1], ip=None
    )
    invites.redeem(session, invite.code, member, None)
    session.commit()
    assert only(session, "member.created")["member"]["source"] == "invite"
    assert only(session, "member.updated")["changes"] == {"tier": {"from": "free", "to": "invite"}}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s, m: tiers.set_by_editor(s, m, "invite"), {"from": "free", "to": "invite"}),
        (lambda s, m: tiers.paid_started(s, m), {"from": "free", "to": "paid"}),
        (lambda s, m: tiers.set_by_editor(s, m, "free"), None),  # no change, no event
    ],
)
def test_a_tier_change_is_a_member_update(session, endpoint, change, expected):
    member = make_member(session, tier="free")
    change(session, member)
    session.commit()
    found = [e.payload["changes"] for e in events(session, "member.updated")]
    assert found == ([] if expected is None else [{"tier": expected}])


def test_a_hard_bounce_is_a_member_update(session, endpoint):
    member = make_member(session)
    record_bounce(session, member_id=member.id, delivery_id=None, kind="hard", status_code="5.1.1")
    record_bounce(session, member_id=member.id, delivery_id=None, kind="hard", status_code="5.1.1")
    session.commit()
    assert only(session, "member.updated")["changes"] == {
        "status": {"from": "active", "to": "bounced"}
    }


def test_an_email_change_is_a_member_update(app, session, endpoint):
    settings = app.extensions["kith.settings"]
    member = make_member(session, email="old@example.com")
    accounts.request_email_change(session, member, "new@example.com")
    token = accounts.email_change_url(settings, member).rsplit("/", 1)[1]
    accounts.confirm_email_change(session, settings, token, ip=None)
    session.commit()
    assert only(session, "member.updated")["changes"] == {
        "email": {"from": "old@example.com", "to": "new@example.com"}
    }


def test_deleting_an_account_announces_who_is_gone(client, session, endpoint, redis):
    member = make_member(session, email="leaving@example.com")
    sign_in(client, member)
    page = client.get("/account").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/account/delete", data={"csrf_token": token, "confirm_email": member.email}
    )
    assert response.status_code == 302
    assert only(session, "member.deleted") == {
        "member": {"id": member.id, "email": "leaving@example.com"}
    }


def test_an_erased_member_is_taken_out_of_the_events_about_them(app, session, endpoint):
    settings = app.extensions["kith.settings"]
    member = make_member(session, email="rita@example.com", name="Rita", fields={"city": "Oslo"})
    accounts.request_email_change(session, member, "rita@example.net")
    token = accounts.email_change_url(settings, member).rsplit("/", 1)[1]
    accounts.confirm_email_change(session, settings, token, ip=None)
    thread = discussions.issue_thread(session, publish_issue(session, visibility="public"))
    discussions.create_post(session, member, thread, "Mine.")
    discussions.create_post(session, make_member(session, name="Other"), thread, "Theirs.")
    accounts.delete_account(session, member, ip=None)
    session.commit()

    updated = only(session, "member.updated")
    assert updated["changes"] == {"email": {"from": None, "to": None}}
    assert {key: updated["member"][key] for key in ("id", "email", "name", "fields")} == {
        "id": member.id, "email": None, "name": None, "fields": {}
    }  # fmt: skip
    posts = {
        e.payload["post"]["body_markdown"]: e.payload for e in events(session, "reply.created")
    }
    assert posts["Mine."]["post"]["author"] is None
    assert posts["Theirs."]["post"]["author"]["name"] == "Other"
    # Receivers still need the address to erase them too: until every endpoint has it.
    assert only(session, "member.deleted")["member"]["email"] == "rita@example.net"


def test_member_deleted_forgets_the_address_once_no_endpoint_waits_for_it(
    app, session, endpoint, receiver
):
    unreachable = make_endpoint(session, closed_port_url())
    member = make_member(session, email="gone@example.com")
    accounts.delete_account(session, member, ip=None)
    session.commit()
    assert sorted(try_due(app, session)) == ["delivered", "pending"]
    (sent,) = receiver.received
    assert sent.json["data"]["member"] == {"id": member.id, "email": "gone@example.com"}
    session.expire_all()
    assert only(session, "member.deleted")["member"]["email"] == "gone@example.com"

    endpoints.delete(session, unreachable.id)  # the last one waiting
    session.commit()
    session.expire_all()
    assert only(session, "member.deleted")["member"] == {"id": member.id, "email": None}


def test_a_post_is_announced_and_a_private_one_is_marked(session, endpoint):
    issue = publish_issue(session, title="Rye", visibility="public")
    thread = discussions.issue_thread(session, issue)
    author = make_member(session, name="Rita")
    first = discussions.create_post(session, author, thread, "Lovely **crumb**.")
    discussions.create_post(session, author, thread, "Just for you.", private=True)
    session.commit()
    public, private = [e.payload for e in events(session, "reply.created")]
    assert public["post"] == {
        "id": first.id, "thread_id": thread.id, "parent_id": None, "private": False,
        "source": "web", "body_markdown": "Lovely **crumb**.",
        "created_at": public["post"]["created_at"],
        "author": {"id": author.id, "name": "Rita", "email": author.email},
    }  # fmt: skip
    assert public["thread"] == {
        "id": thread.id, "kind": "issue", "title": "Rye",
        "issue": {"id": issue.id, "slug": issue.slug}, "board": None,
    }  # fmt: skip
    assert private["post"]["private"] is True


def test_a_refused_post_announces_nothing(session, endpoint):
    issue = publish_issue(session, title="Closed", visibility="public", discussion="off")
    thread = discussions.issue_thread(session, issue)
    with pytest.raises(discussions.PostRefused):
        discussions.create_post(session, make_member(session), thread, "Hello?")
    session.commit()
    assert events(session) == []


def test_a_finished_send_is_announced_through_the_worker(
    app, session, smtp, redis, receiver, endpoint
):
    issue = publish_issue(session, title="Crumb report", visibility="public")
    readers = [make_member(session) for _ in range(3)]
    make_member(session, status="unsubscribed")
    result = app.test_cli_runner().invoke(args=["send", issue.slug, "--segment", "all", "--yes"])
    assert result.exit_code == 0, result.output
    run_jobs(app)
    assert len(smtp.received) == len(readers)
    sent = [r.json for r in receiver.received if r.json["type"] == "issue.sent"]
    assert len(sent) == 1
    data = sent[0]["data"]
    assert data["issue"]["slug"] == issue.slug and data["send"]["segment"] == "all"
    assert data["send"]["recipients"] == 3 and data["send"]["deliveries"]["sent"] == 3
    assert data["send"]["finished_at"].endswith("Z")


def test_a_rolled_back_change_leaves_no_event(app, session, endpoint):
    database = app.extensions["kith.db"]
    with pytest.raises(RuntimeError), database.transaction() as work:
        audience.add_member(work, "ghost@example.com", editor="ed")
        assert len(events(work)) == 1  # written in the change's own transaction…
        raise RuntimeError("the change fails after the event was written")
    assert events(session) == [] and deliveries(session) == []  # …and gone with it
    assert session.scalar(select(Member).where(Member.email == "ghost@example.com")) is None


def test_a_disabled_endpoint_and_one_that_wants_other_events_get_nothing(session, receiver):
    make_endpoint(session, receiver.url, active=False)
    make_endpoint(session, receiver.url, events=["issue.sent"])
    audience.add_member(session, "someone@example.com", editor="ed")
    session.commit()
    assert events(session) == [] and deliveries(session) == []


def test_with_no_endpoint_nothing_is_written(session):
    audience.add_member(session, "someone@example.com", editor="ed")
    session.commit()
    assert session.scalars(select(WebhookEvent)).all() == []


def test_one_event_goes_to_every_endpoint_that_wants_it(session, endpoint, receiver):
    other = make_endpoint(session, receiver.url, events=["member.created"])
    audience.add_member(session, "twice@example.com", editor="ed")
    session.commit()
    [event] = events(session)
    assert sorted(d.endpoint_id for d in deliveries(session)) == sorted([endpoint.id, other.id])
    assert {d.event_id for d in deliveries(session)} == {event.id}


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [("member.exploded", {}), ("member.created", {"when": object()})],
)
def test_a_broken_event_is_logged_and_never_fails_the_change(
    session, endpoint, caplog, event_type, payload
):
    member = make_member(session, email="kept@example.com")
    member.name = "Kept"
    with caplog.at_level(logging.ERROR, logger="app.webhooks.outbox"):
        outbox.emit(session, event_type, payload)
    session.commit()
    session.expire_all()
    assert session.get(Member, member.id).name == "Kept" and events(session) == []
    assert f"webhook event {event_type} was not recorded" in caplog.text
