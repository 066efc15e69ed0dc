"""`kith up`, the README's start command: embedded Redis, a worker and the site, from nothing."""

from __future__ import annotations

import http.cookiejar
import mailbox
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from app import embedded_redis

KITH = str(Path(sys.executable).parent / "kith")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Browser:
    """Just enough of a browser: cookies, forms with CSRF tokens, status codes."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post(self, path: str, form_page: str, **fields: str) -> tuple[int, str]:
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form_page).group(
            1
        )
        data = urllib.parse.urlencode({"csrf_token": token, **fields}).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def wait_for_outbox(path: Path, count: int, timeout: float = 15) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (path / "new").is_dir() and len(mailbox.Maildir(path, create=False)) >= count:
            return list(mailbox.Maildir(path, create=False))
        time.sleep(0.1)
    raise AssertionError("no mail reached the outbox")


def test_kith_up_serves_the_demo_signs_in_the_editor_and_mails_through_its_worker(tmp_path):
    port = free_port()
    instance = tmp_path / "instance"
    env = {
        k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "SMTP_URL", "DATABASE_URL"}
    }
    env.update(
        INSTANCE_PATH=str(instance), BASE_URL=f"http://127.0.0.1:{port}", SECRET_KEY="s" * 40
    )
    process = subprocess.Popen(
        [KITH, "up", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = ""
        while "Stop with Ctrl-C" not in output:
            line = process.stdout.readline()
            assert line, f"kith up exited early:\n{output}"
            output += line
        link = re.search(r"(http://127\.0\.0\.1:\d+/login/\S+)", output).group(1)
        browser = Browser(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                if browser.get("/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        status, home = browser.get("/")
        assert status == 200 and "The Levain Letter" in home and "Hydration without fear" in home

        path = link.removeprefix(browser.base)
        status, confirm = browser.get(path)
        assert status == 200
        status, admin = browser.post(path, confirm)
        assert status == 200 and "Write a new issue" in admin

        anonymous = Browser(browser.base)
        status, login_page = anonymous.get("/login")
        status, sent = anonymous.post("/login", login_page, email="editor@example.com")
        assert status == 200 and "Check your inbox" in sent
        mail = wait_for_outbox(instance / "outbox", 1)
        assert "Your sign-in link" in mail[0]["Subject"]
        redis_socket = instance / "redis.sock"
        assert embedded_redis.alive(f"unix://{redis_socket}")
    finally:
        process.send_signal(signal.SIGTERM)  # as a service manager stops it
        process.wait(timeout=20)
        process.stdout.close()
    time.sleep(0.5)
    assert not embedded_redis.alive(f"unix://{redis_socket}"), "the embedded Redis outlived kith up"
