"""Delivering to a real local receiver: signed requests, retries with backoff until it recovers,
timeouts and refused connections, giving up, retrying by hand, and Redis losing the jobs.

Time is driven by passing ``now=``, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from app.db import utcnow
from app.queue import queue
from app.webhooks import endpoints, jobs, outbox, service, signing
from app.webhooks.models import WebhookAttempt, WebhookDelivery
from app.webhooks.transport import Response
from tests.conftest import make_member, run_jobs
from tests.webhooks.conftest import (
    closed_port_url,
    deliveries,
    make_endpoint,
    switch,
    try_due,
)


def emit_one(session, name: str = "Ada") -> WebhookDelivery:
    """A member.created event for the endpoint(s), committed; its (first) delivery."""
    member = make_member(session, name=name)
    outbox.emit(session, "member.created", {"member": {"id": member.id, "name": name}})
    session.commit()
    return deliveries(session)[-1]


def attempts(session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    query = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
    return list(session.scalars(query.order_by(WebhookAttempt.number)))


def test_a_delivery_is_a_signed_json_post_the_receiver_can_verify(app, session, endpoint, receiver):
    delivery = emit_one(session)
    assert try_due(app, session) == ["delivered"]
    [request] = receiver.received
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Kith-Webhook-Id"] == delivery.event_id
    signing.verify(
        endpoint.secret,
        request.body,
        headers["Kith-Webhook-Signature"],
        headers["Kith-Webhook-Timestamp"],
    )
    envelope = request.json
    assert envelope["id"] == delivery.event_id and envelope["type"] == "member.created"
    assert envelope["created_at"].endswith("Z") and envelope["data"]["member"]["name"] == "Ada"
    [row] = deliveries(session)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    [tried] = attempts(session, row)
    assert (tried.status_code, tried.error, tried.response_snippet) == (200, "", "thanks")
    assert tried.duration_ms >= 0
    with pytest.raises(signing.SignatureError):
        signing.verify(
            "whsec_wrong", request.body, headers["Kith-Webhook-Signature"],
            headers["Kith-Webhook-Timestamp"],
        )  # fmt: skip


def test_a_failing_endpoint_is_retried_with_backoff_until_it_recovers(
    app, session, endpoint, receiver
):
    receiver.answer(500, 500, 200)
    emit_one(session)
    start = utcnow()
    assert try_due(app, session, now=start) == ["pending"]
    [row] = deliveries(session)
    assert row.next_attempt_at == start + service.BACKOFF[0] and row.last_status_code == 500
    assert try_due(app, session, now=start + timedelta(seconds=20)) == []  # not due yet
    second = start + service.BACKOFF[0]
    assert try_due(app, session, now=second) == ["pending"]
    [row] = deliveries(session)
    assert row.next_attempt_at == second + service.BACKOFF[1]
    assert try_due(app, session, now=second + service.BACKOFF[1]) == ["delivered"]
    [row] = deliveries(session)
    assert (row.status, row.attempts, row.next_attempt_at) == ("delivered", 3, None)
    assert [a.status_code for a in attempts(session, row)] == [500, 500, 200]
    assert attempts(session, row)[0].response_snippet == "receiver says 500"
    # The same event each time: one id for the receiver to deduplicate by, signed afresh.
    assert {r.headers["Kith-Webhook-Id"] for r in receiver.received} == {row.event_id}
    for request in receiver.received:
        signing.verify(
            endpoint.secret, request.body, request.headers["Kith-Webhook-Signature"],
            request.headers["Kith-Webhook-Timestamp"],
        )  # fmt: skip


def test_a_timeout_is_a_failed_try(app, session, endpoint, receiver):
    receiver.answer("hang")
    emit_one(session)
    assert try_due(app, session) == ["pending"]
    [row] = deliveries(session)
    [tried] = attempts(session, row)
    assert tried.status_code is None and tried.error == "no answer within 0.5 s"
    assert 400 <= tried.duration_ms < 1500 and row.last_error == tried.error


def test_a_refused_connection_is_a_failed_try(app, session):
    make_endpoint(session, closed_port_url())
    emit_one(session)
    assert try_due(app, session) == ["pending"]
    [row] = deliveries(session)
    assert row.last_status_code is None and row.last_error.startswith("could not connect")


def test_a_redirect_is_not_followed(app, session, endpoint, receiver):
    receiver.answer(302)
    emit_one(session)
    assert try_due(app, session) == ["pending"]
    assert len(receiver.received) == 1 and deliveries(session)[0].last_status_code == 302


def test_after_the_last_try_it_fails_and_retry_now_tries_once_more(
    app, session, endpoint, receiver
):
    receiver.answer(*[503] * service.MAX_ATTEMPTS)
    emit_one(session)
    now = utcnow()
    for number in range(1, service.MAX_ATTEMPTS + 1):
        assert try_due(app, session, now=now) == ["pending" if number < 8 else "failed"]
        if number < service.MAX_ATTEMPTS:
            now += service.BACKOFF[number - 1]
    [row] = deliveries(session)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 8, None)
    assert try_due(app, session, now=now + timedelta(days=30)) == []  # nothing more by itself
    service.retry_now(session, row.id, now=now)
    session.commit()
    assert try_due(app, session, now=now) == ["delivered"]
    assert [r.status for r in deliveries(session)] == ["delivered"]
    assert len(receiver.received) == service.MAX_ATTEMPTS + 1


def test_backoff_adds_up_to_about_two_days():
    assert service.MAX_ATTEMPTS == 8
    assert timedelta(hours=40) < sum(service.BACKOFF, timedelta()) < timedelta(hours=48)


def test_a_delivery_is_claimed_once(app, session, endpoint):
    delivery = emit_one(session)
    first = service.claim(session, delivery.id)
    assert first is not None and first.attempt == 1
    assert service.claim(session, delivery.id) is None  # a second job finds nothing


def test_a_dead_workers_claim_is_given_back_after_the_lease(app, session, endpoint, receiver):
    delivery = emit_one(session)
    start = utcnow()
    assert service.claim(session, delivery.id, now=start) is not None
    session.commit()
    assert service.reconcile(session, now=start + timedelta(minutes=1)) == 0
    assert service.reconcile(session, now=start + service.LEASE + timedelta(seconds=1)) == 1
    session.commit()
    [row] = deliveries(session)
    assert (row.status, row.attempts) == ("pending", 1)
    assert try_due(app, session, now=start + service.LEASE * 2) == ["delivered"]


def test_a_claim_that_expired_meanwhile_does_not_overwrite_the_new_owner(
    app, session, endpoint, receiver
):
    delivery = emit_one(session)
    start = utcnow()
    stale = service.claim(session, delivery.id, now=start)
    service.reconcile(session, now=start + service.LEASE * 2)
    fresh = service.claim(session, delivery.id, now=start + service.LEASE * 2)
    assert fresh is not None and fresh.attempt == 2
    late = service.record(session, stale, Response(200, "ok", "", 5))
    assert late.status == "lost"
    assert deliveries(session)[0].status == "delivering"  # still the fresh claim's


def test_an_endpoint_deleted_during_a_try_loses_the_result_quietly(
    app, session, endpoint, receiver
):
    delivery = emit_one(session)
    request = service.claim(session, delivery.id)
    endpoints.delete(session, endpoint.id)
    outcome = service.record(session, request, Response(200, "ok", "", 5))
    assert outcome.status == "gone" and deliveries(session) == []


def test_a_disabled_endpoint_gets_nothing_until_it_is_on_again(app, session, endpoint, receiver):
    emit_one(session)
    switch(session, endpoint, active=False)
    assert try_due(app, session) == [] and receiver.received == []
    with app.app_context():
        assert jobs.attempt(deliveries(session)[0].id) == "not due"
    switch(session, endpoint, active=True)
    assert try_due(app, session) == ["delivered"] and len(receiver.received) == 1


def test_after_a_rotation_the_next_try_is_signed_with_the_new_secret(
    app, session, endpoint, receiver
):
    receiver.answer(500)
    emit_one(session)
    now = utcnow()
    try_due(app, session, now=now)
    old = endpoint.secret
    new = endpoints.rotate_secret(session, endpoint.id).secret
    session.commit()
    assert new != old
    try_due(app, session, now=now + service.BACKOFF[0])
    request = receiver.received[-1]
    args = (request.body, request.headers["Kith-Webhook-Signature"],
            request.headers["Kith-Webhook-Timestamp"])  # fmt: skip
    signing.verify(new, *args)
    with pytest.raises(signing.SignatureError):
        signing.verify(old, *args)


def test_committing_queues_a_job_that_the_worker_delivers(app, session, endpoint, receiver, redis):
    with app.app_context(), app.extensions["kith.db"].transaction() as work:
        outbox.emit(work, "member.created", {"member": {"id": 1}})
    delivery = deliveries(session)[0]
    assert queue("default", app).job_ids == [outbox.job_id(delivery.id, 0)]
    run_jobs(app)
    assert deliveries(session)[0].status == "delivered" and len(receiver.received) == 1


def test_a_failed_try_schedules_the_next_one_in_rq(app, session, endpoint, receiver, redis):
    receiver.answer(500)
    emit_one(session)
    with app.app_context():
        [(delivery_id, _)] = service.due(session)
        assert jobs.deliver(delivery_id) == "pending"
        scheduled = ScheduledJobRegistry(queue=Queue("default", connection=redis))
        assert scheduled.get_job_ids() == [outbox.job_id(delivery_id, 1)]


def test_after_redis_is_flushed_the_maintenance_sweep_queues_due_deliveries_again(
    app, session, endpoint, receiver, redis
):
    with app.app_context(), app.extensions["kith.db"].transaction() as work:
        outbox.emit(work, "member.created", {"member": {"id": 1}})
        outbox.emit(work, "member.created", {"member": {"id": 2}})
    assert len(queue("default", app)) == 2
    with app.app_context():
        assert jobs.requeue_due() == 0  # their jobs are in Redis: no duplicates
        redis.flushdb()
        assert jobs.requeue_due() == 2
        assert jobs.requeue_due() == 0
    run_jobs(app)
    assert [row.status for row in deliveries(session)] == ["delivered", "delivered"]
    assert len(receiver.received) == 2


def test_the_sweep_is_part_of_every_workers_maintenance(app):
    assert jobs.requeue_due in app.extensions["kith.maintenance"]


def test_a_large_commit_queues_one_sweep_job_that_fans_out(app, session, endpoint, receiver, redis):
    count = outbox.FAN_OUT + 1
    with app.app_context(), app.extensions["kith.db"].transaction() as work:
        outbox.emit_many(work, "member.created", lambda: [{"n": n} for n in range(count)])
    assert queue("default", app).job_ids == ["webhooks-sweep"]
    run_jobs(app)
    assert len(receiver.received) == count
    assert {row.status for row in deliveries(session)} == {"delivered"}
