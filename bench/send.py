"""End-to-end send of one issue (about 35 KB of HTML + text) to N members through real workers.

Two ``kith worker`` processes send to Postfix's ``smtp-sink`` (taken from Debian's postfix
package with ``apt-get download`` and ``dpkg -x`` into bench/.cache, the MTA itself never
installed). The baseline, measured in the same run, is the sink's raw rate: a plain smtplib
loop sending prebuilt messages over one connection. Prints messages/s and its ratio to the
baseline, time to first email and the workers' peak memory.
Targets: ratio ≥ 0.85; first email within 1 s; peak worker memory under 150 MB.
Run: .venv/bin/python bench/send.py [N] [--dkim]   (default 20,000; PostgreSQL and Redis on
loopback; --dkim signs every message with an RSA-2048 key; target ratio then ≥ 0.5)
"""

from __future__ import annotations

import smtplib
import sys
import time
from datetime import timedelta
from pathlib import Path

from _support import migrated_app, scratch_postgres
from common import (
    CACHE,
    REDIS_URL,
    WORKERS,
    insert_audience,
    issue_body,
    kith_env,
    peak_rss_mb,
    start_send,
    start_sink,
    start_workers,
    stop,
    wait_for_send,
)
from sqlalchemy import func, select

from app.db import transaction, utcnow
from app.issues import service as issues
from app.sending.models import Delivery


def dkim_key() -> Path:
    """An RSA-2048 key for ``--dkim`` runs, made once into bench/.cache."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = CACHE / "dkim.pem"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return path


def prebuilt_message(app, issue) -> bytes:
    """One recipient's copy of the issue, built by Kith itself, for the baseline loop."""
    from app.issues import service as issues_service
    from app.members.models import Member
    from app.sending import mailer
    from app.sending.messages import IssueEmail

    settings = app.extensions["kith.settings"]
    with transaction() as session:
        member = session.scalars(select(Member).limit(1)).one()
        publication = issues_service.publication(session).name or "Bench"
        email = IssueEmail.render(mailer.templates(), settings, issue, publication)
        return email.personalize(settings, member, 1).data


def raw_rate(port: int, message: bytes, seconds: float = 5.0) -> float:
    """The sink's own speed: prebuilt messages over one connection, as fast as smtplib goes."""
    client = smtplib.SMTP("127.0.0.1", port)
    sent, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        client.sendmail("news@example.org", [f"r{sent}@example.com"], message)
        sent += 1
    client.quit()
    return sent / (time.perf_counter() - start)


def main() -> None:
    numbers = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    count = int(numbers[0]) if numbers else 20_000
    dkim = "--dkim" in sys.argv
    sink, port = start_sink()
    database_url = scratch_postgres()
    app = migrated_app(database_url)
    app.extensions["kith.redis_url"] = REDIS_URL
    try:
        with app.app_context():
            with transaction() as session:
                insert_audience(session, count)
                issue = issues.save_issue(
                    session, {"title": "Bench issue", "body_markdown": issue_body()}
                )
                issues.publish(session, issue)
                html_kb = len(issue.body_html.encode()) / 1024
            sample = prebuilt_message(app, issue)  # the very bytes a member gets
            baseline_before = raw_rate(port, sample)

            from app.queue import connection

            connection(app).flushdb()
            env = kith_env(database_url, port)
            if dkim:
                env |= {"DKIM_SELECTOR": "bench", "DKIM_PRIVATE_KEY_PATH": str(dkim_key())}
            workers = start_workers(env)
            start, command_at = time.perf_counter(), utcnow()
            send_id, _ = start_send(issue)
            elapsed = wait_for_send(send_id, count, start)
            with transaction() as session:
                first = session.scalar(
                    select(func.min(Delivery.sent_at)).where(Delivery.send_id == send_id)
                )
            rss = max(peak_rss_mb(worker.pid) for worker in workers)
            stop(workers)
            # The sink's speed varies with the machine's load: measured before and after.
            baseline = (baseline_before + raw_rate(port, sample)) / 2
    finally:
        sink.terminate()
        app.extensions["kith.db"].engine.dispose()
    rate = count / elapsed
    first_ms = (first - command_at) / timedelta(milliseconds=1)
    signed = "DKIM-signed (RSA-2048)" if dkim else "unsigned"
    print(
        f"{signed}; issue HTML {html_kb:.0f} KB, message {len(sample) / 1024:.0f} KB; "
        f"{count:,} recipients; {WORKERS} workers; smtp-sink"
    )
    print(
        f"send: {rate:8,.0f} messages/s ({elapsed:.1f} s) | sink raw rate {baseline:8,.0f} "
        f"messages/s | ratio {rate / baseline:.2f}×"
    )
    print(f"first email {first_ms:.0f} ms after the send command | peak worker memory {rss:.0f} MB")


if __name__ == "__main__":
    main()
