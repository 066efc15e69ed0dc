"""``/admin/webhooks``: editors only, CSRF on every button, clear errors, and the whole round
trip of registering, testing, reading and retrying deliveries."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from app.webhooks import service
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import csrf_token, make_member, run_jobs, sign_in
from tests.webhooks.conftest import deliveries, make_endpoint, try_due

PAGE = "/admin/webhooks"


@pytest.fixture
def signed_in_editor(client, editor):
    sign_in(client, editor)
    return editor


def post(client, path: str, data: dict | None = None, *, form_page: str = PAGE):
    return client.post(path, data={"csrf_token": csrf_token(client, form_page), **(data or {})})


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def all_paths(endpoint_id: int, delivery_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", PAGE), ("POST", PAGE), ("GET", f"{PAGE}/{endpoint_id}"),
        ("POST", f"{PAGE}/{endpoint_id}"), ("POST", f"{PAGE}/{endpoint_id}/rotate"),
        ("POST", f"{PAGE}/{endpoint_id}/test"), ("POST", f"{PAGE}/{endpoint_id}/delete"),
        ("GET", f"{PAGE}/deliveries/{delivery_id}"),
        ("POST", f"{PAGE}/deliveries/{delivery_id}/retry"),
    ]  # fmt: skip


def test_only_editors_reach_any_webhook_page(client, session, endpoint):
    """With a valid CSRF token, so nothing but the role refuses them."""
    token = csrf_token(client, "/login")
    for method, path in all_paths(endpoint.id, 1):
        response = client.open(path, method=method, data={"csrf_token": token})
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    sign_in(client, make_member(session))
    token = csrf_token(client, "/account")
    for method, path in all_paths(endpoint.id, 1):
        response = client.open(path, method=method, data={"csrf_token": token})
        assert response.status_code == 403, (method, path)
    session.expire_all()
    assert session.get(WebhookEndpoint, endpoint.id).secret == endpoint.secret


def test_every_button_needs_the_csrf_token(client, session, signed_in_editor, endpoint):
    for method, path in all_paths(endpoint.id, 1):
        if method == "POST":
            response = client.post(path, data={"url": "https://x.example.com"})
            assert response.status_code == 400, path
            assert "did not come from this site" in text(response)
    session.expire_all()
    assert session.get(WebhookEndpoint, endpoint.id).secret == endpoint.secret


def test_the_nav_links_to_webhooks(client, signed_in_editor):
    assert f'href="{PAGE}"' in client.get("/admin/members").get_data(as_text=True)


def test_an_editor_adds_an_endpoint_and_sees_its_secret(client, session, signed_in_editor):
    data = {"url": "https://hooks.example.com/kith", "description": "CRM sync",
            "events": ["member.created", "member.deleted"], "active": "y"}  # fmt: skip
    response = post(client, PAGE, data)
    assert response.status_code == 302
    made = session.scalars(select(WebhookEndpoint)).one()
    assert (made.url, made.events, made.active) == (data["url"], data["events"], True)
    assert response.headers["Location"] == f"{PAGE}/{made.id}"
    page = text(client.get(response.headers["Location"]))
    assert made.secret in page and "Send test event" in page and "CRM sync" in page
    listing = text(client.get(PAGE))
    assert data["url"] in listing and "member.deleted" in listing


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "http://hooks.example.com", "events": ["issue.sent"]}, "Use an https:// URL"),
        ({"url": "https://hooks.example.com"}, "Choose at least one event"),
        ({"url": "", "events": ["issue.sent"]}, "This field is required"),
        ({"url": "https://h.example.com", "events": ["member.exploded"]}, "not a valid choice"),
    ],
)
def test_bad_input_is_a_clear_error_and_adds_nothing(
    client, session, signed_in_editor, data, message
):
    response = post(client, PAGE, data)
    assert response.status_code == 400 and message in text(response)
    assert session.scalars(select(WebhookEndpoint)).all() == []


def test_an_editor_edits_turns_off_and_deletes_an_endpoint(
    client, session, signed_in_editor, endpoint
):
    path = f"{PAGE}/{endpoint.id}"
    response = post(
        client, path, {"url": endpoint.url, "events": ["issue.sent"]}, form_page=path
    )  # no "active": the box was unticked
    assert response.status_code == 302
    session.expire_all()
    assert (endpoint.events, endpoint.active) == (["issue.sent"], False)
    page = text(client.get(path))
    assert "off: it is sent nothing" in page and "Turn the endpoint on to send it a test" in page
    refused = post(client, f"{path}/test", form_page=path)
    assert refused.status_code == 400 and "Turn the endpoint on first" in text(refused)
    bad = post(client, path, {"url": "ftp://x", "events": ["issue.sent"]}, form_page=path)
    assert bad.status_code == 400 and "starting with https://" in text(bad)

    assert post(client, f"{path}/delete", form_page=path).status_code == 302
    assert session.scalars(select(WebhookEndpoint)).all() == []
    assert client.get(path).status_code == 404


def test_rotating_the_secret_shows_the_new_one(client, session, signed_in_editor, endpoint):
    path = f"{PAGE}/{endpoint.id}"
    old = endpoint.secret
    response = post(client, f"{path}/rotate", form_page=path)
    assert response.status_code == 302
    session.expire_all()
    assert endpoint.secret != old and endpoint.secret_rotated_at is not None
    page = text(client.get(path))
    assert endpoint.secret in page and old not in page


def test_send_test_event_reaches_the_receiver(
    app, client, session, signed_in_editor, endpoint, receiver, redis
):
    path = f"{PAGE}/{endpoint.id}"
    assert post(client, f"{path}/test", form_page=path).status_code == 302
    run_jobs(app)
    [request] = receiver.received
    assert request.json["type"] == "webhook.test" and request.json["data"]["endpoint"] == {
        "id": endpoint.id,
        "url": endpoint.url,
    }
    page = text(client.get(path))
    assert "webhook.test" in page and "delivered" in page and "HTTP 200" in page


def test_a_delivery_page_shows_the_body_and_each_try_and_retries_on_request(
    app, client, session, signed_in_editor, receiver
):
    endpoint = make_endpoint(session, receiver.url)
    receiver.answer(*[500] * service.MAX_ATTEMPTS)
    path = f"{PAGE}/{endpoint.id}"
    post(client, f"{path}/test", form_page=path)
    [delivery] = deliveries(session)
    for _ in range(service.MAX_ATTEMPTS):  # used up: due at once each time (no sleeping)
        session.execute(
            WebhookDelivery.__table__.update().values(next_attempt_at=delivery.created_at)
        )
        session.commit()
        try_due(app, session)
    detail_path = f"{PAGE}/deliveries/{delivery.id}"
    page = text(client.get(detail_path))
    assert "failed" in page and "8 of 8" in page and "receiver says 500" in page
    assert f'"id":"{delivery.event_id}"' in page and "Retry now" in page
    assert page.count("HTTP 500") == service.MAX_ATTEMPTS

    assert post(client, f"{detail_path}/retry", form_page=detail_path).status_code == 302
    assert deliveries(session)[0].status == "pending"
    try_due(app, session)
    assert deliveries(session)[0].status == "delivered"
    again = post(client, f"{detail_path}/retry", form_page=detail_path)
    assert again.status_code == 400 and "already succeeded" in text(again)


def test_unknown_endpoints_and_deliveries_are_404(client, signed_in_editor):
    assert client.get(f"{PAGE}/999999").status_code == 404
    assert client.get(f"{PAGE}/deliveries/999999").status_code == 404
    for path in (f"{PAGE}/999999/rotate", f"{PAGE}/999999/test", f"{PAGE}/999999/delete",
                 f"{PAGE}/deliveries/999999/retry"):  # fmt: skip
        assert post(client, path).status_code == 404, path
