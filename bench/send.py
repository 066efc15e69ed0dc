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

import os
import smtplib
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from _support import ROOT, migrated_app, scratch_postgres
from sqlalchemy import func, select, text

from app.db import transaction, utcnow
from app.issues import service as issues
from app.sending import service as sending
from app.sending.jobs import enqueue_send
from app.sending.models import FINAL_STATES, Delivery

CACHE = Path(__file__).resolve().parent / ".cache"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
WORKERS = 2


def smtp_sink() -> tuple[Path, dict[str, str]]:
    """Postfix's smtp-sink binary, fetched once from Debian's package into bench/.cache."""
    binary = CACHE / "postfix" / "usr" / "sbin" / "smtp-sink"
    if not binary.exists():
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            ["apt-get", "download", "postfix"], cwd=CACHE, check=True, capture_output=True
        )
        package = next(CACHE.glob("postfix_*.deb"))
        subprocess.run(["dpkg", "-x", str(package), str(CACHE / "postfix")], check=True)
    return binary, {
        **os.environ,
        "LD_LIBRARY_PATH": str(CACHE / "postfix" / "usr" / "lib" / "postfix"),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def issue_body() -> str:
    paragraph = (
        "Bakers in many kitchens mixed the same dough and wrote down every step, so this section "
        "can say with some confidence that temperature mattered more than time. "
    )
    sections = [
        f"## Section {n}\n\n" + paragraph * 6 + "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        for n in range(13)
    ]
    return "\n\n".join(sections)


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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    numbers = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    count = int(numbers[0]) if numbers else 20_000
    dkim = "--dkim" in sys.argv
    binary, sink_env = smtp_sink()
    port = free_port()
    sink = subprocess.Popen([str(binary), "-u", "root", f"127.0.0.1:{port}", "1024"], env=sink_env)
    time.sleep(0.5)
    database_url = scratch_postgres()
    app = migrated_app(database_url)
    app.extensions["kith.redis_url"] = REDIS_URL
    try:
        with app.app_context():
            with transaction() as session:
                session.execute(
                    text(
                        "INSERT INTO members (email, name, role, tier, status, source, fields, "
                        "created_at) SELECT 'reader' || n || '@example.com', 'Reader ' || n, "
                        "'member', 'free', 'active', 'import', '{}', now() "
                        "FROM generate_series(1, :n) AS n"
                    ),
                    {"n": count},
                )
                issue = issues.save_issue(
                    session, {"title": "Bench issue", "body_markdown": issue_body()}
                )
                issues.publish(session, issue)
                html_kb = len(issue.body_html.encode()) / 1024
            sample = prebuilt_message(app, issue)  # the very bytes a member gets
            baseline_before = raw_rate(port, sample)

            from app.queue import connection

            connection(app).flushdb()
            env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
                   "SMTP_URL": f"smtp://127.0.0.1:{port}", "SECRET_KEY": "bench-" * 8,
                   "INSTANCE_PATH": str(CACHE / "instance")}  # fmt: skip
            if dkim:
                env |= {"DKIM_SELECTOR": "bench", "DKIM_PRIVATE_KEY_PATH": str(dkim_key())}
            kith = str(Path(sys.executable).parent / "kith")
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            workers = [
                subprocess.Popen([kith, "worker"], env=env, cwd=ROOT, **quiet)
                for _ in range(WORKERS)
            ]
            time.sleep(2)  # workers connected
            start, command_at = time.perf_counter(), utcnow()
            with transaction() as session:
                send = sending.start_send(session, issue, "all")
                send_id = send.id
            enqueue_send(send_id)
            done = 0
            while done < count:
                time.sleep(0.25)
                with transaction() as session:
                    done = session.scalar(
                        select(func.count()).select_from(Delivery)
                        .where(Delivery.send_id == send_id, Delivery.status.in_(FINAL_STATES))
                    )  # fmt: skip
            elapsed = time.perf_counter() - start
            with transaction() as session:
                first = session.scalar(
                    select(func.min(Delivery.sent_at)).where(Delivery.send_id == send_id)
                )
            rss = max(peak_rss_mb(worker.pid) for worker in workers)
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)
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
