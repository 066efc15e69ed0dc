"""Sign-up with double opt-in and one-click unsubscribe, through a real worker and SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.members import subscriptions, tokens
from app.members.models import ConsentEvent, Member
from tests.conftest import csrf_token, make_member, run_jobs

LINK = re.compile(r"http://localhost(/[a-z]+/\S+)")


def form_token(client) -> str:
    html = client.get("/subscribe").get_data(as_text=True)
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def subscribe(client, email: str, **extra):
    data = {"email": email, "form_token": form_token(client), **extra}
    return client.post("/subscribe", data=data, headers={"Origin": "http://localhost"})


def mailed_path(smtp, index: int = -1) -> str:
    text = smtp.received[index].message.get_body(preferencelist=("plain",)).get_content()
    return LINK.search(text).group(1)


def member_by_email(session, email: str) -> Member | None:
    session.expire_all()
    return session.scalar(select(Member).where(Member.email == email))


def test_subscribe_confirm_and_be_signed_in(app, client, session, smtp, redis):
    response = subscribe(client, "New.Reader@Example.com")
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    pending = member_by_email(session, "new.reader@example.com")
    assert pending.status == "pending"
    run_jobs(app)
    assert [m.message["Subject"] for m in smtp.received] == [
        "Confirm your subscription to The Test Letter"
    ]

    path = mailed_path(smtp)
    assert path.startswith("/confirm/")
    page = client.get(path)  # a mail scanner's GET confirms nothing
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert member_by_email(session, "new.reader@example.com").status == "pending"
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    ).group(1)
    confirmed = client.post(path, data={"csrf_token": token})
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "/account?welcome=1"
    assert "Your subscription is confirmed" in client.get("/account?welcome=1").get_data(
        as_text=True
    )
    member = member_by_email(session, "new.reader@example.com")
    assert member.status == "active" and member.confirmed_at is not None
    actions = session.scalars(
        select(ConsentEvent.action).where(ConsentEvent.member_id == member.id)
    ).all()
    assert actions == ["subscribe", "confirm"]
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.action == "subscribe"))
    assert event.ip == "127.0.0.1" and event.source == "form"


def test_an_active_member_gets_a_sign_in_link_and_learns_nothing_new(
    app, client, session, smtp, redis
):
    make_member(session, email="known@example.com")
    first = subscribe(client, "known@example.com").get_data(as_text=True)
    second = subscribe(client, "stranger@example.com").get_data(as_text=True)
    assert first.replace("known", "X") == second.replace("stranger", "X")
    run_jobs(app)
    subjects = {m.recipients[0]: m.message["Subject"] for m in smtp.received}
    assert subjects["known@example.com"].startswith("Your sign-in link")
    assert subjects["stranger@example.com"].startswith("Confirm your subscription")


@pytest.mark.parametrize("status", ["bounced", "complained"])
def test_suppressed_addresses_get_nothing(app, client, session, smtp, redis, status):
    make_member(session, email="gone@example.com", status=status)
    assert subscribe(client, "gone@example.com").status_code == 200
    run_jobs(app)
    assert smtp.received == []


def test_the_honeypot_pretends_and_does_nothing(app, client, session, smtp, redis):
    response = subscribe(client, "bot@example.com", website="http://spam.example")
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    run_jobs(app)
    assert smtp.received == [] and member_by_email(session, "bot@example.com") is None


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@b", "x" * 330 + "@example.com", "a@localhost"]
)
def test_invalid_addresses_are_explained(client, session, email):
    response = subscribe(client, email)
    assert response.status_code == 400 and "flash-error" in response.get_data(as_text=True)
    assert session.scalar(select(Member.id)) is None


def test_forged_form_tokens_and_other_sites_are_refused(client, session):
    forged = client.post("/subscribe", data={"email": "a@example.com", "form_token": "forged"})
    assert forged.status_code == 400 and "expired" in forged.get_data(as_text=True)
    data = {"email": "a@example.com", "form_token": form_token(client)}
    cross_site = client.post("/subscribe", data=data, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 400
    assert session.scalar(select(Member.id)) is None


def test_one_address_cannot_be_flooded(app, client, session, smtp, redis):
    codes = [subscribe(client, "victim@example.com").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    run_jobs(app)
    assert len(smtp.received) <= 3


def test_subscribe_form_is_on_public_pages_even_when_cached(client):
    for _ in range(2):  # the second answer comes from the page cache
        html = client.get("/").get_data(as_text=True)
        assert (
            'action="/subscribe"' in html
            and 'name="form_token"' in html
            and 'name="website"' in html
        )


def unsubscribe_path(app, member) -> str:
    return subscriptions.unsubscribe_url(app.extensions["kith.settings"], member).removeprefix(
        "http://localhost"
    )


def test_one_click_unsubscribe_needs_no_cookie_or_csrf(app, session):
    member = make_member(session, email="reader@example.com")
    path = unsubscribe_path(app, member)
    response = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    member = member_by_email(session, "reader@example.com")
    assert member.status == "unsubscribed" and member.unsubscribed_at is not None
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.action == "unsubscribe"))
    assert event.source == "one-click"
    assert (
        app.test_client().post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    )  # again: fine


def test_unsubscribe_page_asks_first_then_offers_a_way_back(app, client, session, smtp, redis):
    member = make_member(session, email="reader@example.com")
    path = unsubscribe_path(app, member)
    page = client.get(path)
    assert "Stop sending" in page.get_data(as_text=True)
    assert member_by_email(session, "reader@example.com").status == "active"  # GET changes nothing
    done = client.post(path).get_data(as_text=True)
    assert "You are unsubscribed" in done and "Resubscribe" in done
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', done).group(1)
    back = client.post(path + "/resubscribe", data={"csrf_token": token})
    assert back.status_code == 200 and "Check your inbox" in back.get_data(as_text=True)
    run_jobs(app)
    assert smtp.received[-1].message["Subject"].startswith("Confirm your subscription")
    assert (
        member_by_email(session, "reader@example.com").status == "unsubscribed"
    )  # until confirmed


@pytest.mark.parametrize("token", ["garbage", "eyJtIjoxfQ.forged-signature", "x" * 400])
def test_forged_or_garbled_tokens_are_refused(client, token):
    for path in (f"/unsubscribe/{token}", f"/confirm/{token}"):
        assert client.get(path).status_code == 400
    assert (
        client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 400
    )


def test_tokens_cannot_be_reused_across_purposes_or_members(app, session):
    settings = app.extensions["kith.settings"]
    member = make_member(session)
    confirm_token = subscriptions.confirm_url(settings, member).rsplit("/", 1)[1]
    with pytest.raises(tokens.TokenError):
        subscriptions.unsubscribe(session, settings, confirm_token, source="x", ip=None)
    other = make_member(session)
    # A link mailed before an email change still unsubscribes (and only that member).
    old_address = tokens.sign(settings, "unsubscribe", {"m": other.id, "e": "0" * 16})
    assert (
        subscriptions.unsubscribe(session, settings, old_address, source="x", ip=None).id
        == other.id
    )
    tampered = old_address[:-2] + ("AA" if not old_address.endswith("AA") else "BB")
    with pytest.raises(tokens.TokenError):
        subscriptions.unsubscribe(session, settings, tampered, source="x", ip=None)


@pytest.mark.parametrize("app_overrides", [{"trusted_proxies": 1}])
def test_behind_a_trusted_proxy_the_client_address_is_recorded(client, session):
    data = {"email": "far@example.com", "form_token": form_token(client)}
    client.post("/subscribe", data=data, headers={"X-Forwarded-For": "203.0.113.9"})
    assert session.scalar(select(ConsentEvent.ip)) == "203.0.113.9"


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(client, session):
    data = {"email": "near@example.com", "form_token": form_token(client)}
    client.post("/subscribe", data=data, headers={"X-Forwarded-For": "203.0.113.9"})
    assert session.scalar(select(ConsentEvent.ip)) == "127.0.0.1"


def confirm_path(app, member) -> str:
    return subscriptions.confirm_url(app.extensions["kith.settings"], member).removeprefix(
        "http://localhost"
    )


def test_a_confirmation_link_signs_in_only_once(app, client, session):
    member = make_member(session, email="new@example.com", status="pending")
    path = confirm_path(app, member)
    first = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert first.headers["Location"] == "/account?welcome=1"
    other = app.test_client()
    again = other.post(path, data={"csrf_token": csrf_token(other, path)})
    assert again.headers["Location"] == "/login"
    assert other.get("/account").status_code == 302  # not signed in by a used link


def test_a_confirmation_from_before_an_unsubscribe_cannot_resubscribe(app, client, session):
    member = make_member(session, email="left@example.com", status="pending")
    path = confirm_path(app, member)
    member.status, member.unsubscribed_at = "unsubscribed", utcnow() + timedelta(seconds=5)
    session.commit()
    response = client.post(path, data={"csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 400 and "unsubscribed after this link" in response.get_data(
        as_text=True
    )
    assert member_by_email(session, "left@example.com").status == "unsubscribed"


def test_a_deleted_members_link_never_reaches_the_next_member(app, client, session):
    old = make_member(session, email="old@example.com")
    path = unsubscribe_path(app, old)
    session.delete(old)
    session.commit()
    make_member(session, email="victim@example.com")
    assert client.get(path).status_code == 400
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert member_by_email(session, "victim@example.com").status == "active"


def test_an_old_unsubscribe_link_does_not_show_a_changed_address(app, client, session):
    member = make_member(session, email="before@example.com")
    path = unsubscribe_path(app, member)
    member.email = "after@example.com"
    session.commit()
    html = client.get(path).get_data(as_text=True)
    assert "after@example.com" not in html and "this address" in html


def test_confirmations_are_not_resent_within_a_quarter_hour(app, client, session, smtp, redis):
    subscribe(client, "twice@example.com")
    subscribe(client, "twice@example.com")
    run_jobs(app)
    assert len(smtp.received) == 1


def test_the_consent_record_names_the_form(client, session):
    data = {"email": "home@example.com", "form_token": form_token(client), "form": "home"}
    client.post("/subscribe", data=data)
    assert session.scalar(select(ConsentEvent.source)) == "form:home"
