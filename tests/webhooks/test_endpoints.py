"""Which endpoints an editor may register: https, or http to this machine in development."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.webhooks import endpoints
from app.webhooks.models import EVENT_TYPES, WebhookEndpoint

DEV, LIVE = "http://localhost:5000", "https://letters.example.org"


@pytest.mark.parametrize(
    ("url", "base_url"),
    [
        ("https://hooks.example.com/kith", LIVE),
        ("https://hooks.example.com:8443/kith?team=1", DEV),
        ("HTTPS://Hooks.Example.com/x", LIVE),
        ("http://localhost:9000/hook", DEV),
        ("http://127.0.0.1:9000/hook", DEV),
        ("http://[::1]:9000/hook", DEV),
        ("  https://padded.example.com/  ", LIVE),
    ],
)
def test_acceptable_urls(url, base_url):
    assert endpoints.clean_url(url, base_url=base_url) == url.strip()


@pytest.mark.parametrize(
    ("url", "base_url", "message"),
    [
        ("", LIVE, "Enter the URL"),
        ("hooks.example.com/kith", LIVE, "full URL starting with https://"),
        ("ftp://hooks.example.com/", LIVE, "full URL starting with https://"),
        ("https:///no-host", LIVE, "full URL starting with https://"),
        ("http://hooks.example.com/kith", DEV, "Use an https:// URL"),
        ("http://192.168.1.10/kith", DEV, "Use an https:// URL"),
        ("http://localhost:9000/hook", LIVE, "only while Kith itself runs on http://"),
        ("https://user:pw@hooks.example.com/", LIVE, "Leave the user name and password out"),
        ("https://hooks.example.com:99999/", LIVE, "port in that URL is not a valid number"),
        ("https://hooks.example.com/" + "a" * 2000, LIVE, "too long"),
    ],
)
def test_refused_urls_say_why(url, base_url, message):
    with pytest.raises(endpoints.EndpointError, match=message):
        endpoints.clean_url(url, base_url=base_url)


def test_events_must_be_chosen_from_the_list():
    assert endpoints.clean_events(["reply.created", "issue.sent", "issue.sent"]) == [
        "issue.sent",
        "reply.created",
    ]
    with pytest.raises(endpoints.EndpointError, match="at least one event"):
        endpoints.clean_events([])
    with pytest.raises(endpoints.EndpointError, match="Unknown event 'webhook.test'"):
        endpoints.clean_events(["webhook.test"])


def choice(url: str) -> endpoints.Choice:
    return endpoints.Choice(url=url, events=EVENT_TYPES)


def test_an_endpoint_gets_its_own_secret_and_a_bad_one_writes_nothing(session):
    made = [
        endpoints.create(session, choice(f"https://h{n}.example.com"), base_url=LIVE)
        for n in range(2)
    ]
    assert made[0].secret != made[1].secret and made[0].active
    with pytest.raises(endpoints.EndpointError):
        endpoints.create(session, choice("http://h.example.com"), base_url=LIVE)
    session.commit()
    assert len(session.scalars(select(WebhookEndpoint)).all()) == 2
