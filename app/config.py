"""The one place that reads Kith's environment.

Every setting of DESIGN.md's contract is a typed field here; nothing else in the code base
calls ``os.environ``. A ``.env`` file in the project root is read first when present.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything Kith needs to know about its surroundings."""

    instance_path: Path
    database_url: str
    redis_url: str | None
    smtp_url: str | None
    base_url: str
    secret_key: str
    mail_from: str
    reply_domain: str
    content_dir: Path = PROJECT_ROOT / "content"
    emails_dir: Path = PROJECT_ROOT / "emails"
    migrations_dir: Path = PROJECT_ROOT / "migrations"
    login_link_max_age: int = 15 * 60
    page_cache_seconds: float = 1.0
    trusted_proxies: int = 0
    dkim_selector: str | None = None
    dkim_private_key_path: Path | None = None
    # Bearer token of POST /inbound/email; None: the webhook does not exist (404).
    inbound_secret: str | None = None
    issues_per_page: int = 20
    # Sending. A claimed batch or an in-flight message older than the lease belongs to a
    # worker that died; the reconciler runs in each worker's maintenance, this often.
    send_lease_seconds: float = 300.0
    worker_maintenance_seconds: float = 60.0
    # How much a worker lowers its own CPU priority (Unix nice, 0-19): on a host shared with
    # the web, a big send then takes the CPU the pages leave, and pages stay fast during it.
    worker_nice: float = 10.0
    # Messages per second per transport across all workers; 0 sends as fast as possible.
    send_rate: float = 0.0
    # First wait after a temporary refusal (4xx) or an unreachable server; doubles each time.
    send_retry_seconds: float = 30.0
    # Paid membership: without a secret key the paid tier is off (shown as unavailable).
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_price_monthly: str | None = None
    stripe_price_yearly: str | None = None
    # None: Stripe's own API; tests point it at a local Stripe-compatible server.
    stripe_api_base: str | None = None
    # Operations: "json" writes one JSON object per log line to stderr; "plain" leaves logging
    # as Python sets it. Without METRICS_TOKEN, /metrics does not exist (404).
    log_format: str = "plain"
    metrics_token: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def outbox_path(self) -> Path:
        return self.instance_path / "outbox"

    @property
    def mail_from_address(self) -> str:
        return parseaddr(self.mail_from)[1]

    @property
    def publication_name(self) -> str:
        return parseaddr(self.mail_from)[0] or "Kith"

    def url(self, path: str) -> str:
        """An absolute public URL for ``path``, as used in emails and feeds."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


def load_settings(instance_path: Path, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from the environment, with ``overrides`` (tests) taking precedence."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    overrides = dict(overrides or {})
    instance_path = Path(
        overrides.pop("instance_path", None) or os.environ.get("INSTANCE_PATH") or instance_path
    )
    instance_path.mkdir(parents=True, exist_ok=True)
    env = os.environ

    def pick(name: str, default: Any = None) -> Any:
        if name in overrides:
            return overrides.pop(name)
        return env.get(name.upper()) or default

    base_url = pick("base_url", "http://127.0.0.1:5000").rstrip("/")
    values = {
        "instance_path": instance_path,
        "database_url": _absolute_sqlite(
            pick("database_url", f"sqlite:///{instance_path}/kith.db")
        ),
        "redis_url": pick("redis_url"),
        "smtp_url": pick("smtp_url"),
        "base_url": base_url,
        "secret_key": pick("secret_key") or _instance_secret(instance_path),
        "mail_from": pick("mail_from", "Kith <newsletter@localhost>"),
        "reply_domain": pick("reply_domain") or (urlsplit(base_url).hostname or "localhost"),
        "trusted_proxies": int(pick("trusted_proxies", "0") or 0),
        "dkim_selector": pick("dkim_selector"),
        "dkim_private_key_path": Path(key) if (key := pick("dkim_private_key_path")) else None,
        "inbound_secret": pick("inbound_secret") or None,
        "log_format": _choice("log_format", pick("log_format", "plain"), LOG_FORMATS),
        "metrics_token": pick("metrics_token") or None,
        **{name: pick(name) or None for name in STRIPE_FROM_ENV},
    }
    for name in NUMERIC_FROM_ENV:
        if (value := pick(name)) is not None:
            values[name] = _number(name, value)
    known = {f.name for f in dataclasses.fields(Settings)}
    for name in list(overrides):
        if name in known:
            values[name] = overrides.pop(name)
    return Settings(**values, extra=overrides)


STRIPE_FROM_ENV = (
    "stripe_secret_key",
    "stripe_webhook_secret",
    "stripe_price_monthly",
    "stripe_price_yearly",
    "stripe_api_base",
)

NUMERIC_FROM_ENV = (
    "send_lease_seconds",
    "worker_maintenance_seconds",
    "worker_nice",
    "send_rate",
    "send_retry_seconds",
)


LOG_FORMATS = ("plain", "json")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name.upper()} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name.upper()} must be a number, not {value!r}") from None
    if number < 0:
        raise ValueError(f"{name.upper()} must not be negative, not {value!r}")
    return number


def _absolute_sqlite(url: str) -> str:
    """Resolve a relative SQLite path against the project root, not the current directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
        return prefix + str(PROJECT_ROOT / url[len(prefix) :])
    return url


def _instance_secret(instance_path: Path) -> str:
    """Generate SECRET_KEY once into ``instance/secret_key`` so restarts keep sessions valid."""
    path = instance_path / "secret_key"
    if not path.exists():
        # Write aside, then link into place: two processes starting at once agree on one key.
        draft = instance_path / f".secret_key.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
