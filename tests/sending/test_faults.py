"""Fault tests of the sending engine with real `kith worker` processes (reliability.md §3).

Each scenario sends one issue to a few hundred members through real workers into the
aiosmtpd sink, breaks something on the way (a kill -9, a SIGTERM, 4xx and 5xx answers, a
line lost after ".", the mail server or Redis going away, members unsubscribing mid-send),
and then checks what the sink received against the delivery rows: everyone gets the issue
once; a second copy only from a row whose outcome was in doubt, at most one per doubt.
Only PostgreSQL and Redis are needed (no browser); timings are shortened through the
SEND_* knobs (tests/workers.py KNOBS) so each scenario ends in seconds.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import combinations
from urllib.parse import urlsplit

import pytest
import redis as redis_lib
from rq import Queue
from sqlalchemy import select

from app.db import utcnow
from app.members.models import Member
from app.members.subscriptions import unsubscribe_url
from app.sending.models import Bounce
from tests.smtp_sink import Fault, Received
from tests.workers import (
    SMTP_TIMEOUT,
    Kith,
    RedisServer,
    wait_until,
    wipe,
)

RETRY = 0.25  # SEND_RETRY_SECONDS in tests/workers.py KNOBS
SLOW = 0.004  # seconds the sink waits per message, so a fault lands mid-batch


@pytest.fixture
def start_kith(faults_database, tmp_path) -> Iterator[Callable[[str], Kith]]:
    """Start the scenario's Kith on a given Redis; worker logs are printed on failure."""
    with ExitStack() as stack:
        started: list[Kith] = []

        def start(redis_url: str) -> Kith:
            kith = stack.enter_context(Kith.running(faults_database, redis_url, tmp_path))
            started.append(kith)
            wipe(kith.app)
            return kith

        yield start
    for kith in started:  # pytest shows teardown output only when the test failed
        print(kith.workers.logs())


@pytest.fixture
def kith(start_kith, redis_url, redis) -> Kith:
    """A scenario on the suite's Redis (TEST_REDIS_URL), emptied before and after."""
    return start_kith(redis_url)


@pytest.fixture
def private_redis(request, tmp_path) -> Iterator[RedisServer]:
    """A redis-server of the test's own; parametrize it indirectly with True for one that
    persists (``appendonly yes``, ``appendfsync always``) in ``tmp_path``."""
    server = RedisServer(tmp_path, persistent=getattr(request, "param", False))
    server.start()
    yield server
    server.stop()


def ready(kith: Kith, *, members: int, workers: int = 1) -> list[str]:
    """Start the workers (their start-up overlaps the seeding), seed, wait until they listen."""
    kith.workers.start(workers)
    emails = kith.seed(members)
    kith.workers.wait_ready(kith.redis_url, workers)
    return emails


def assert_each_received(kith: Kith, send_id: int, expected: list[str], *, doubts: int = 0):
    """Every expected recipient got the issue, nobody else did, and a second copy went only
    to a row resent after doubt, at most ``doubts`` of them (I1, I2)."""
    counts = kith.smtp.counts()
    missing = sorted(set(expected) - set(counts))
    unexpected = sorted(set(counts) - set(expected))
    assert not missing, f"{len(missing)} recipients got nothing, e.g. {missing[:5]}"
    assert not unexpected, f"mail to people who should get none: {unexpected[:5]}"
    twice = {email for email, copies in counts.items() if copies > 1}
    assert max(counts.values()) <= 2, f"more than two copies: {counts.most_common(3)}"
    rows = kith.deliveries(send_id)
    doubted = {email for email, row in rows.items() if row.resent_after_doubt}
    assert twice <= doubted, f"second copies without a doubt first: {sorted(twice - doubted)}"
    assert len(doubted) <= doubts, f"{len(doubted)} rows resent after doubt, allowed {doubts}"
    return rows


# --- F1: kill -9 mid-batch --------------------------------------------------------------------


def test_f1_a_worker_killed_mid_batch_loses_nobody_and_duplicates_at_most_one(kith):
    kith.smtp.delay = SLOW
    emails = ready(kith, members=400, workers=2)
    send_id = kith.start_send()
    kith.wait_for_received(60)
    victim = wait_until(lambda: kith.workers.busy(kith.redis_url), timeout=5, what="a busy worker")
    kith.workers.kill(victim, signal.SIGKILL)
    victim.process.wait(timeout=5)
    in_hand = kith.states(send_id)
    assert in_hand["claimed"] + in_hand["sending"] > 0, f"the kill hit no batch: {in_hand}"
    assert in_hand["sending"] <= 2  # one message on the wire per worker, never more

    kith.wait_until_done(send_id)
    rows = assert_each_received(kith, send_id, emails, doubts=1)
    assert {row.status for row in rows.values()} == {"sent"}


# --- F3: SIGTERM mid-batch, then restart ------------------------------------------------------


def test_f3_a_warm_shutdown_mid_batch_then_a_restart_sends_everyone_exactly_once(kith):
    kith.smtp.delay = SLOW
    emails = ready(kith, members=400)
    send_id = kith.start_send()
    kith.wait_for_received(60)
    (worker,) = kith.workers.started
    kith.workers.kill(worker, signal.SIGTERM)
    assert worker.process.wait(timeout=15) == 0, "a warm shutdown should exit cleanly"
    left = kith.states(send_id)
    assert left["sending"] == 0 and left["uncertain"] == 0, f"a message left in doubt: {left}"

    kith.workers.start()
    kith.wait_until_done(send_id)
    rows = assert_each_received(kith, send_id, emails, doubts=0)
    assert {row.status for row in rows.values()} == {"sent"}
    assert {row.attempts for row in rows.values()} == {1}


# --- F5: temporary refusals -------------------------------------------------------------------


def test_f5_temporary_refusals_are_retried_with_backoff_until_sent_or_five_attempts(kith):
    emails = ready(kith, members=300)
    refused_once, data_twice, closing = emails[10:28], emails[40:48], emails[60:63]
    hopeless = emails[80]
    kith.smtp.fail_for(refused_once, Fault("rcpt", "451 4.3.0 try again later"))
    kith.smtp.fail_for(data_twice, Fault("data", "452 4.3.1 out of storage"), times=2)
    kith.smtp.fail_for(closing, Fault("rcpt", "421 4.7.0 closing, too busy"))
    kith.smtp.fail_for([hopeless], Fault("rcpt", "451 4.3.0 greylisted"), times=None)
    send_id = kith.start_send()

    kith.wait_until_done(send_id)
    rows = assert_each_received(kith, send_id, [e for e in emails if e != hopeless])
    expected_attempts = {e: 2 for e in refused_once + closing} | {e: 3 for e in data_twice}
    attempts = {email: row.attempts for email, row in rows.items()}
    assert attempts == {e: expected_attempts.get(e, 1) for e in emails} | {hopeless: 5}
    assert rows[hopeless].status == "failed" and "451" in rows[hopeless].error
    assert sum(a.recipient == hopeless for a in kith.smtp.answered) == 5
    assert {row.status for email, row in rows.items() if email != hopeless} == {"sent"}
    for email in data_twice:  # each wait at least retry × 2^(attempts-1)
        first, second = (a.at for a in kith.smtp.answered if a.recipient == email)
        accepted = next(m.at for m in kith.smtp.received if m.recipients == [email])
        assert second - first >= RETRY and accepted - second >= 2 * RETRY
    assert set(kith.member_statuses(emails).values()) == {"active"}  # no suppression


# --- F6: permanent refusals -------------------------------------------------------------------


def test_f6_permanent_refusals_fail_once_bounces_suppress_and_the_batch_goes_on(kith):
    emails = ready(kith, members=300)
    no_mailbox, bad_syntax, spam = emails[5:13], emails[100:102], emails[200:204]
    kith.smtp.fail_for(no_mailbox, Fault("rcpt", "550 5.1.1 no such user"), times=None)
    kith.smtp.fail_for(bad_syntax, Fault("rcpt", "553 5.1.3 bad address syntax"), times=None)
    kith.smtp.fail_for(spam, Fault("data", "554 5.7.1 rejected as spam"), times=None)
    send_id = kith.start_send()

    kith.wait_until_done(send_id)
    refused = no_mailbox + bad_syntax + spam
    rows = assert_each_received(kith, send_id, [e for e in emails if e not in refused])
    assert [a.recipient for a in kith.smtp.answered].count(spam[0]) == 1  # never retried
    assert {rows[e].status for e in no_mailbox + bad_syntax} == {"bounced"}
    assert {rows[e].status for e in spam} == {"failed"}
    assert {row.attempts for row in rows.values()} == {1}
    statuses = kith.member_statuses(emails)
    assert {statuses[e] for e in no_mailbox + bad_syntax} == {"bounced"}
    assert {statuses[e] for e in spam} == {"active"}  # a policy refusal is not a bad address
    with kith.transaction() as session:
        hard = session.execute(
            select(Member.email, Bounce.status_code)
            .join(Member, Member.id == Bounce.member_id)
            .where(Bounce.kind == "hard")
        ).all()
    assert sorted(hard) == sorted(  # the hard-bounce count went up by exactly these
        [(e, "5.1.1") for e in no_mailbox] + [(e, "5.1.3") for e in bad_syntax]
    )


# --- F7: ambiguous outcomes -------------------------------------------------------------------


def test_f7_a_lost_answer_is_uncertain_and_resent_at_most_once(kith):
    """(a) the sink keeps the message and stalls past the client's timeout after ".";
    (b) the line drops mid-DATA, once; (c) the same row doubted twice stays uncertain."""
    emails = ready(kith, members=300)
    stalled, dropped, doubted_twice = emails[20], emails[120], emails[270]
    kith.smtp.fail_for([stalled], Fault("data", stall=3 * SMTP_TIMEOUT, accept=True))
    kith.smtp.fail_for([dropped], Fault("data", drop=True))
    kith.smtp.fail_for([doubted_twice], Fault("data", drop=True), times=2)
    send_id = kith.start_send()

    kith.wait_until_done(send_id)
    rows = assert_each_received(kith, send_id, [e for e in emails if e != doubted_twice], doubts=3)
    assert kith.smtp.counts()[stalled] == 2  # RFC 1047: it had arrived; the resend is the cost
    assert {e for e, row in rows.items() if row.resent_after_doubt} == {
        stalled,
        dropped,
        doubted_twice,
    }
    assert rows[doubted_twice].status == "uncertain"  # a second doubt is final: no third try
    assert [a.recipient for a in kith.smtp.answered].count(doubted_twice) == 2
    assert {rows[e].status for e in emails if e != doubted_twice} == {"sent"}


# --- F8: mail server down: circuit breaker, then auto-resume -----------------------------------


def test_f8_an_unreachable_server_pauses_the_send_without_burning_attempts_then_resumes(kith):
    emails = ready(kith, members=300)
    kith.smtp.down()
    send_id = kith.start_send()

    paused = wait_until(
        lambda: (send := kith.send(send_id)).status == "paused" and send,
        timeout=20,
        what="the circuit breaker to pause the send",
        step=0.1,
    )
    assert paused.paused_reason and paused.resume_at is not None
    assert paused.connection_failures >= 3
    rows = kith.deliveries(send_id)
    assert {row.status for row in rows.values()} == {"queued"}
    assert {row.attempts for row in rows.values()} == {0}  # a refused connection tried nobody

    kith.smtp.up()  # nobody resumes it by hand: the reconciler does at resume_at
    wait_for = max(0.0, (paused.resume_at - utcnow()).total_seconds())
    kith.wait_until_done(send_id, timeout=min(60, 20 + wait_for))
    rows = assert_each_received(kith, send_id, emails)
    assert {row.attempts for row in rows.values()} == {1}


# --- F9: Redis loses every job mid-send -------------------------------------------------------


def test_f9_a_flushed_redis_mid_send_is_repaired_from_the_database(kith, redis):
    kith.smtp.delay = SLOW
    emails = ready(kith, members=400)
    send_id = kith.start_send()
    kith.wait_for_received(50)
    redis.flushdb()

    kith.wait_until_done(send_id)
    rows = assert_each_received(kith, send_id, emails)
    assert {row.status for row in rows.values()} == {"sent"}


def restart_mid_send(kith: Kith, server: RedisServer) -> tuple[set[str], set[str]]:
    """Kill ``server`` (SIGKILL) mid-send and start it again a second later on the same port
    and directory: the batch jobs waiting in the ``send`` queue just before, and the ids of
    every job the server holds just after."""
    kith.wait_for_received(50)
    waiting = wait_until(
        lambda: waiting_batches(server.url), timeout=5, what="a batch job in the send queue"
    )
    server.stop()
    time.sleep(1)  # the outage itself, not an assertion
    server.start()
    with redis_lib.Redis.from_url(server.url) as client:
        held = {key.decode().removeprefix("rq:job:") for key in client.scan_iter("rq:job:*")}
    return waiting, held


def waiting_batches(redis_url: str) -> set[str]:
    """Ids of the jobs in the ``send`` queue, the random ones only: after a loss the
    reconciler makes the fixed ones (``send-1-audience``) again."""
    with redis_lib.Redis.from_url(redis_url) as client:
        ids = Queue("send", connection=client).job_ids
    return {job_id for job_id in ids if not job_id.startswith("send-")}


def test_f9a_a_redis_restart_without_persistence_mid_send_loses_nobody(start_kith, private_redis):
    kith = start_kith(private_redis.url)
    kith.smtp.delay = SLOW
    emails = ready(kith, members=400)
    send_id = kith.start_send()
    waiting, held = restart_mid_send(kith, private_redis)
    assert not waiting & held, "the jobs should be gone: this Redis keeps nothing"

    kith.wait_until_done(send_id)
    assert_each_received(kith, send_id, emails)
    assert all(worker.alive() for worker in kith.workers.started), kith.workers.logs()


@pytest.mark.parametrize("private_redis", [pytest.param(True, id="appendonly")], indirect=True)
def test_f9b_a_redis_restart_with_appendonly_mid_send_keeps_the_queued_jobs(
    start_kith, private_redis
):
    kith = start_kith(private_redis.url)
    kith.smtp.delay = SLOW
    emails = ready(kith, members=400)
    send_id = kith.start_send()
    waiting, held = restart_mid_send(kith, private_redis)
    assert waiting <= held, f"queued jobs lost in the restart: {sorted(waiting - held)}"

    kith.wait_until_done(send_id)
    rows = assert_each_received(kith, send_id, emails)
    assert {row.status for row in rows.values()} == {"sent"}
    assert all(worker.alive() for worker in kith.workers.started), kith.workers.logs()


# --- P1: unsubscribing during a send ----------------------------------------------------------


def test_p1_members_who_unsubscribe_before_their_claim_get_nothing(kith):
    kith.smtp.delay = 2 * SLOW  # the unsubscribes below must beat the send to the tail
    emails = ready(kith, members=600)
    send_id = kith.start_send()
    kith.wait_for_received(20)
    client = kith.app.test_client()
    settings = kith.app.extensions["kith.settings"]
    leaving = emails[-40:]
    not_yet_claimed = []
    for n, email in enumerate(leaving):
        with kith.transaction() as session:
            member = session.scalars(select(Member).where(Member.email == email)).one()
            path = urlsplit(unsubscribe_url(settings, member)).path
        if n % 2:  # RFC 8058 one-click, as a mail client does it
            response = client.post(path, data={"List-Unsubscribe": "One-Click"})
        else:  # the link: GET only shows the page, its button POSTs
            assert client.get(path).status_code == 200
            assert kith.member_statuses([email])[email] == "active"
            response = client.post(path)
        assert response.status_code == 200
        if kith.deliveries(send_id)[email].status == "queued":  # read after the commit
            not_yet_claimed.append(email)
    assert len(not_yet_claimed) >= 20, "the send outran the test; nothing was checked"

    kith.wait_until_done(send_id)
    received = kith.smtp.counts()
    assert not [e for e in not_yet_claimed if e in received]  # I3
    rows = kith.deliveries(send_id)
    assert {rows[e].status for e in not_yet_claimed} == {"skipped"}
    stayed = [e for e in emails if e not in leaving]
    assert all(received[e] == 1 for e in stayed)
    assert set(received) <= set(emails) and max(received.values()) == 1


# --- two workers on one send ------------------------------------------------------------------


def test_two_workers_share_one_send_and_everyone_gets_exactly_one_copy(kith):
    kith.smtp.delay = SLOW / 4
    emails = ready(kith, members=600, workers=2)
    send_id = kith.start_send()

    kith.wait_until_done(send_id)
    rows = assert_each_received(kith, send_id, emails)
    assert {row.status for row in rows.values()} == {"sent"}
    assert {row.attempts for row in rows.values()} == {1}
    assert overlapping_connections(kith.smtp.received), "the workers never sent side by side"


def overlapping_connections(received: list[Received]) -> bool:
    """Whether two SMTP connections were delivering messages at the same time."""
    spans: dict[str, list[float]] = {}
    for message in received:
        spans.setdefault(message.peer, [message.at, message.at])[1] = message.at
    return any(
        first[0] < second[1] and second[0] < first[1]
        for first, second in combinations(spans.values(), 2)
    )
