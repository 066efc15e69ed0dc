"""Open and click counting: off by default and invisible then; when on, disclosed, a pixel and
tracked links that redirect only to the issue's stored links; machine opens kept apart."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.insights import service, tracking
from app.insights.models import EmailOpen, IssueLink, LinkClick
from app.members import segments
from app.members.models import Member
from app.sending.models import Delivery
from tests.conftest import csrf_token, sign_in
from tests.insights.conftest import counting, html_and_text, received

PIXEL = re.compile(r'src="http://localhost/o/([^"/]+)\.gif"')
TRACKED = re.compile(r'href="http://localhost/c/([^"/]+)/(\d+)"')
RECIPE = "https://example.org/recipe?flour=rye&water=70"
HUMAN = {"User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"}


def test_counting_is_off_by_default_and_leaves_no_trace(
    client, session, issue, readers, send, smtp
):
    assert tracking.enabled(session) is False
    send(issue)
    html, text = html_and_text(received(smtp, "ann@example.com"))
    assert "/o/" not in html and "/c/" not in html
    assert 'href="https://example.org/recipe?flour=rye&amp;water=70"' in html
    assert tracking.NOTICE not in html and tracking.NOTICE not in text
    assert tracking.NOTICE not in client.get("/").get_data(as_text=True)
    assert session.scalars(select(IssueLink)).all() == []


def test_the_editor_turns_it_on_and_every_footer_says_so(client, session, editor, issue):
    anonymous = client.application.test_client()
    assert tracking.NOTICE not in anonymous.get("/issues/week-three").get_data(as_text=True)
    sign_in(client, editor)
    page = client.get("/admin/settings/tracking").get_data(as_text=True)
    checkbox = re.search(r'<input[^>]*id="counting"[^>]*>', page).group(0)
    assert 'type="checkbox"' in checkbox and "checked" not in checkbox
    token = csrf_token(client, "/admin/settings/tracking")
    response = client.post("/admin/settings/tracking", data={"csrf_token": token, "counting": "y"})
    assert response.status_code == 302
    assert tracking.enabled(session) is True
    # The cached anonymous page was dropped: the footer discloses it at once.
    assert tracking.NOTICE in anonymous.get("/issues/week-three").get_data(as_text=True)
    client.post("/admin/settings/tracking", data={"csrf_token": token})
    session.expire_all()
    assert tracking.enabled(session) is False
    assert tracking.NOTICE not in anonymous.get("/issues/week-three").get_data(as_text=True)


@pytest.fixture
def tracked(app, session, issue, readers, send, smtp):
    """The issue sent with counting on: each reader's (token, {position: url}) and delivery."""
    counting(session)
    deliveries = send(issue)
    links = {link.position: link.url for link in session.scalars(select(IssueLink))}
    found = {}
    for name, member in readers.items():
        html, _ = html_and_text(received(smtp, member.email))
        (pixel_token,) = set(PIXEL.findall(html))
        tokens = {token for token, _ in TRACKED.findall(html)}
        assert tokens == {pixel_token}  # one token per recipient, in pixel and links alike
        found[name] = pixel_token
    # Opens a minute after sending: no reader is that fast, so nothing is flagged for speed.
    session.execute(update(Delivery).values(sent_at=datetime.now(UTC) - timedelta(minutes=1)))
    session.commit()
    return found, links, deliveries


def test_when_on_the_email_carries_a_pixel_tracked_links_and_the_notice(
    session, issue, tracked, smtp
):
    tokens, links, _ = tracked
    html, text = html_and_text(received(smtp, "ann@example.com"))
    assert RECIPE in links.values() and "https://bakers.example/notes" in links.values()
    assert "http://localhost/issues/week-three" in links.values()  # "View in your browser"
    assert len(links) == len(set(links.values()))  # a link used twice is numbered once
    assert f'href="http://localhost/c/{tokens["ann"]}/' in html
    assert "example.org/recipe" not in html  # the real target is never in the HTML
    assert RECIPE in text  # the plain text keeps real links
    assert tracking.NOTICE in html and tracking.NOTICE in text
    assert tokens["ann"] != tokens["bob"]


def test_a_click_redirects_to_the_stored_link_and_is_counted(client, session, issue, tracked):
    tokens, links, deliveries = tracked
    position = next(n for n, url in links.items() if url == RECIPE)
    response = client.get(f"/c/{tokens['ann']}/{position}")
    assert response.status_code == 302
    assert response.headers["Location"] == RECIPE
    assert response.headers["Cache-Control"] == "no-store, private"
    client.get(f"/c/{tokens['ann']}/{position}")
    click = session.scalars(select(LinkClick)).one()
    assert (click.position, click.clicks) == (position, 2)
    ann = session.get(Member, click.member_id)
    session.refresh(ann)
    assert ann.email == "ann@example.com" and ann.last_opened_at is not None
    # opened: reads Member.last_opened_at: a click proves the email was open
    opened = session.scalars(select(Member.email).where(segments.where("opened:<1d"))).all()
    assert opened == ["ann@example.com"]
    report = service.issue_report(session, issue)
    assert report.figure("clicked").value == 1 and report.figure("opened").value == 1
    assert [(link.clickers, link.clicks) for link in report.links if link.url == RECIPE] == [(1, 2)]


@pytest.mark.parametrize(
    "path",
    [
        "/c/{token}/99",  # a link the issue does not have
        "/c/{token}/0",
        "/c/{token}/https://evil.example/",  # the target can never come from the URL
        "/c/{token}/https%3A%2F%2Fevil.example%2F",
    ],
)
def test_unknown_links_lead_nowhere(client, tracked, path):
    tokens, _, _ = tracked
    response = client.get(path.format(token=tokens["ann"]))
    assert response.status_code == 404
    assert "Location" not in response.headers


def test_a_query_string_cannot_redirect_elsewhere(client, tracked):
    tokens, links, _ = tracked
    response = client.get(f"/c/{tokens['ann']}/1?url=https://evil.example/&next=//evil.example")
    assert response.headers["Location"] == links[1]


@pytest.mark.parametrize(
    "token",
    ["WzEsMl0.not-the-signature", "garbage", "WzEsMl0", "%00", "x" * 300],
)
def test_a_tampered_token_is_refused(client, tracked, token):
    response = client.get(f"/c/{token}/1")
    assert response.status_code in (400, 404)
    assert "Location" not in response.headers
    assert client.get(f"/o/{token}.gif").status_code in (400, 404)


def test_a_token_signed_for_another_purpose_is_refused(app, client, tracked, readers):
    from app.members import tokens as member_tokens

    settings = app.extensions["kith.settings"]
    forged = member_tokens.sign(settings, "unsubscribe", {"m": readers["ann"].id})
    response = client.get(f"/c/{forged}/1")
    assert response.status_code == 400
    assert "damaged" in response.get_data(as_text=True)


def test_a_reader_open_counts_and_sets_last_opened(client, session, issue, tracked):
    tokens, _, _ = tracked
    response = client.get(f"/o/{tokens['bob']}.gif", headers=HUMAN)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"
    assert response.data.startswith(b"GIF89a")
    client.get(f"/o/{tokens['bob']}.gif", headers=HUMAN)
    row = session.scalars(select(EmailOpen)).one()
    assert (row.opens, row.machine_opens) == (2, 0)
    bob = session.get(Member, row.member_id)
    session.refresh(bob)
    assert bob.last_opened_at is not None
    report = service.issue_report(session, issue)
    assert report.figure("opened").value == 1
    assert report.figure("opened").percent == pytest.approx(100 / 6)  # of six delivered


def test_machine_opens_are_flagged_and_left_out_of_the_open_rate(client, session, issue, tracked):
    tokens, _, deliveries = tracked
    # Apple Mail Privacy Protection's proxy: its bare user agent…
    client.get(f"/o/{tokens['ann']}.gif", headers={"User-Agent": "Mozilla/5.0"})
    # …or any fetch from Apple's network.
    client.get(f"/o/{tokens['bob']}.gif", headers=HUMAN, environ_base={"REMOTE_ADDR": "17.58.1.20"})
    # A fetch within two seconds of sending: a prefetcher, not a person.
    cyd = next(d for d in deliveries.values() if d.member_id == tracked_member(session, "cyd"))
    cyd.sent_at = datetime.now(UTC)
    session.commit()
    client.get(f"/o/{tokens['cyd']}.gif", headers=HUMAN)
    rows = session.scalars(select(EmailOpen)).all()
    assert [(row.opens, row.machine_opens) for row in rows] == [(0, 1)] * 3
    for name in ("ann", "bob", "cyd"):
        member = session.get(Member, tracked_member(session, name))
        session.refresh(member)
        assert member.last_opened_at is None  # a machine says nothing about the reader
    report = service.issue_report(session, issue)
    assert report.figure("opened").value == 0
    assert report.figure("machine_opens").value == 3
    # The reader opening it later is a reader's open after all.
    client.get(f"/o/{tokens['ann']}.gif", headers=HUMAN)
    report = service.issue_report(session, issue)
    assert (report.figure("opened").value, report.figure("machine_opens").value) == (1, 2)


def tracked_member(session, name: str) -> int:
    return session.scalar(select(Member.id).where(Member.email == f"{name}@example.com"))


@pytest.mark.parametrize(
    ("agent", "ip", "seconds", "machine"),
    [
        ("Mozilla/5.0", "203.0.113.9", 3600, True),
        (" Mozilla/5.0 ", None, None, True),
        (HUMAN["User-Agent"], "17.0.0.1", 3600, True),
        (HUMAN["User-Agent"], "2620:149:a:b::1", 3600, True),
        (HUMAN["User-Agent"], "203.0.113.9", 1, True),
        (HUMAN["User-Agent"], "203.0.113.9", 3600, False),
        (HUMAN["User-Agent"], "18.0.0.1", 60, False),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126", "not an ip", None, False),
    ],
)
def test_the_machine_open_heuristic(agent, ip, seconds, machine):
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    sent = None if seconds is None else now - timedelta(seconds=seconds)
    assert tracking.is_machine_open(agent, ip, sent_at=sent, now=now) is machine


def test_turned_off_later_links_still_work_but_count_nothing(client, session, tracked):
    tokens, links, _ = tracked
    counting(session, False)
    response = client.get(f"/c/{tokens['eve']}/1")
    assert response.status_code == 302 and response.headers["Location"] == links[1]
    assert client.get(f"/o/{tokens['eve']}.gif", headers=HUMAN).status_code == 200
    assert session.scalars(select(LinkClick)).all() == []
    assert session.scalars(select(EmailOpen)).all() == []


def test_the_report_page_lists_clicks_per_link(client, session, editor, tracked):
    tokens, links, _ = tracked
    client.get(f"/c/{tokens['fay']}/2")
    sign_in(client, editor)
    page = client.get("/admin/issues/week-three/report").get_data(as_text=True)
    assert 'id="links"' in page and "Clicks per link" in page
    assert links[2].replace("&", "&amp;") in page
    assert 'id="counting-off"' not in page


def test_rating_links_keep_their_own_token_when_counting_is_on(
    app, session, issue, readers, send, smtp
):
    """Per-recipient links (unsubscribe, one-click ratings) are never rewritten as tracked
    links: their token is the recipient's, filled in when the copy is made."""
    from app.members import tokens

    counting(session)  # the issue asks for 3 ratings
    send(issue)
    html, text = html_and_text(received(smtp, "ann@example.com"))
    rated = re.findall(r'href="http://localhost/feedback/([^"/]+)/(\d)"', html)
    assert [choice for _, choice in rated] == ["1", "2", "3"]
    payload = tokens.verify(app.extensions["kith.settings"], "feedback", rated[0][0])
    assert payload["i"] == issue.id
    assert not any("%%KITH_" in url for url in session.scalars(select(IssueLink.url)))
    assert "%%KITH_" not in html and "%%KITH_" not in text
