"""docs/deploy.md, actually run on loopback: two gunicorn web nodes, PostgreSQL, Redis, two
``kith worker`` processes "on separate hosts" (own working directory, instance directory and
environment file), ``kith inbound-smtp``, and the SMTP sink as the outside world.

The test migrates with ``kith db upgrade``, signs a reader up through one node and confirms on
the other, sends an issue with ``kith send``, answers it by SMTP into inbound-smtp, checks
/healthz and /metrics on both nodes and stops everything with SIGTERM, as systemd would.
PostgreSQL only; the database ``ops_deploy`` is created and dropped. About 20 s.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import normalize_url
from tests.conftest import POSTGRES_URL
from tests.smtp_sink import SMTPSink
from tests.test_up import free_port
from tests.workers import RedisServer, _postgres_admin, wait_until

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
ROOT = Path(__file__).resolve().parents[2]
# This checkout's code, whatever the current directory (the installed `kith` may be another).
KITH = [sys.executable, "-c", "from app.cli import main; main()"]
TOKEN = "deploy-metrics-token"
READER = "baker@example.com"
ISSUE = """---
title: Crumb report
slug: crumb-report
excerpt: What the crumb tells you.
visibility: public
---
An open crumb means a lively starter.
"""


@dataclass
class Host:
    """One machine of the deployment: a working directory and its environment file."""

    name: str
    directory: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self, *command: str) -> subprocess.Popen:
        with open(self.directory / f"{len(self.processes)}.log", "wb") as log:
            process = subprocess.Popen(
                list(command), cwd=self.directory, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def run(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [*KITH, *args], cwd=self.directory, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, f"kith {' '.join(args)}: {result.stderr}"
        return result.stdout

    def stop(self) -> list[str]:
        """SIGTERM every process group, as systemd stops a unit; SIGKILL what lingers (30 s,
        gunicorn's graceful timeout). Returns "HOST: exit code" for each process."""
        for process in self.processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        codes = []
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            codes.append(f"{self.name}: {process.returncode}")
        return codes

    def logs(self) -> str:
        return "\n".join(
            f"--- {self.name} {path.name} ---\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.directory.glob("*.log"))
        )


@pytest.fixture
def database() -> Iterator[str]:
    name = "ops_deploy"
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _postgres_admin(f'CREATE DATABASE "{name}"')
    yield (
        make_url(normalize_url(POSTGRES_URL))
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def deployment(database, tmp_path) -> Iterator[dict]:
    """Everything of docs/deploy.md started; yields what the test talks to."""
    with ExitStack() as stack:
        smtp = stack.enter_context(SMTPSink())
        redis = RedisServer(tmp_path)
        redis.start()
        stack.callback(redis.stop)
        web_ports, inbound_port = [free_port(), free_port()], free_port()
        common = {
            "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database, "REDIS_URL": redis.url, "SMTP_URL": smtp.url,
            "SECRET_KEY": "deploy-test-secret-shared-by-every-web-node",
            "BASE_URL": f"http://127.0.0.1:{web_ports[0]}", "REPLY_DOMAIN": "reply.kith.test",
            "MAIL_FROM": "The Crumb <letters@kith.test>", "METRICS_TOKEN": TOKEN,
            "LOG_FORMAT": "json", "WORKER_MAINTENANCE_SECONDS": "1",
        }  # fmt: skip
        hosts = []
        for name in ("web1", "web2", "worker1", "worker2", "mail"):
            directory = tmp_path / name
            (directory / "metrics").mkdir(parents=True)
            env = {**common, "INSTANCE_PATH": str(directory / "instance")}
            if name.startswith("web"):
                env["PROMETHEUS_MULTIPROC_DIR"] = str(directory / "metrics")
            hosts.append(Host(name, directory, env))
        stack.callback(lambda: print("\n".join(host.logs() for host in hosts)))
        for host in hosts:
            stack.callback(host.stop)
        web1, web2, worker1, worker2, mail = hosts

        web1.run("db", "upgrade")
        for host, port in ((web1, web_ports[0]), (web2, web_ports[1])):
            host.start(sys.executable, "-m", "gunicorn", "--workers", "2",
                       "--bind", f"127.0.0.1:{port}", "--control-socket",
                       str(host.directory / "gunicorn.ctl"), "wsgi:create_app()")  # fmt: skip
        for host in (worker1, worker2):
            host.start(*KITH, "worker")
        mail.start(*KITH, "inbound-smtp", "--port", str(inbound_port))
        nodes = [f"http://127.0.0.1:{port}" for port in web_ports]
        for node in nodes:
            wait_until(lambda n=node: _healthy(n), timeout=60, what=f"{node}/healthz")
        yield {"nodes": nodes, "smtp": smtp, "hosts": hosts, "inbound_port": inbound_port,
               "database": database}  # fmt: skip
        codes = [code for host in hosts for code in host.stop()]
        assert all(code.endswith(": 0") for code in codes), f"exit codes {codes}"


def _healthy(node: str) -> bool:
    with suppress(requests.RequestException):  # refused, or a cold worker still importing
        return requests.get(f"{node}/healthz", timeout=5).status_code == 200
    return False


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _mailed_path(smtp: SMTPSink, subject_part: str) -> str:
    message = next(m.message for m in smtp.received if subject_part in m.message["Subject"])
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://127\.0\.0\.1:\d+(/confirm/\S+)", body).group(1)


def metrics(node: str) -> dict[tuple[str, tuple], float]:
    response = requests.get(
        f"{node}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_the_documented_deployment_runs_end_to_end(deployment, tmp_path):
    node1, node2 = deployment["nodes"]
    smtp: SMTPSink = deployment["smtp"]
    web1 = deployment["hosts"][0]

    # A reader signs up on one node and confirms on the other (shared SECRET_KEY).
    browser = requests.Session()
    page = browser.get(f"{node1}/subscribe", timeout=5).text
    form_token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    answer = browser.post(f"{node1}/subscribe", data={"email": READER, "form_token": form_token},
                          timeout=5)  # fmt: skip
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert answer.headers["X-Request-ID"]
    wait_until(lambda: smtp.received, timeout=20, what="the confirmation email")
    path = _mailed_path(smtp, "Confirm")
    page = browser.get(f"{node2}{path}", timeout=5).text
    confirmed = browser.post(f"{node2}{path}", data={"csrf_token": _csrf(page)}, timeout=5)
    assert confirmed.status_code == 200 and "confirmed" in confirmed.text

    # The editor sends an issue from the command line; a worker mails it.
    content = tmp_path / "content"
    content.mkdir()
    (content / "crumb.md").write_text(ISSUE)
    web1.run("content", "sync", str(content))
    web1.run("send", "crumb-report", "--segment", "all", "--yes")
    wait_until(
        lambda: any(m.message["Subject"] == "Crumb report" for m in smtp.received),
        timeout=30, what="the issue at the sink",
    )  # fmt: skip
    issue = next(m for m in smtp.received if m.message["Subject"] == "Crumb report")
    assert issue.recipients == [READER]
    reply_to = issue.message["Reply-To"]
    assert reply_to.startswith("reply+") and reply_to.endswith("@reply.kith.test")

    # The reader answers by email, through inbound-smtp (where MX for REPLY_DOMAIN points).
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = READER, reply_to, "Re: Crumb report"
    reply["In-Reply-To"] = issue.message["Message-ID"]
    reply.set_content("Mine was open and glossy this week.")
    with smtplib.SMTP("127.0.0.1", deployment["inbound_port"], timeout=10) as client:
        refused = client.send_message(reply)
    assert refused == {}
    engine = create_engine(normalize_url(deployment["database"]))
    with engine.connect() as connection:
        bodies = connection.execute(text("SELECT body_markdown FROM posts")).scalars().all()
    engine.dispose()
    assert any("open and glossy" in body for body in bodies), bodies

    # Health and metrics, from either node.
    for node in (node1, node2):
        assert requests.get(f"{node}/healthz", timeout=5).json() == {
            "database": "ok",
            "redis": "ok",
        }
    samples = metrics(node2)
    assert samples[("kith_messages_total", (("status", "sent"),))] == 1
    assert samples[("kith_redis_up", ())] == 1
    subscribe = ("kith_http_requests_total", (("endpoint", "subscriptions.subscribe"),
                                              ("method", "POST"), ("status", "200")))  # fmt: skip
    assert metrics(node1)[subscribe] == 1  # summed over node 1's gunicorn workers
    assert subscribe not in samples
