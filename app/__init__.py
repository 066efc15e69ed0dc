"""Kith: newsletters, gated membership and community replies for micro-communities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app import db, queue
from app.admin.api_tokens_views import bp as api_tokens_bp
from app.admin.boards_views import bp as admin_boards_bp
from app.admin.feedback_views import bp as feedback_inbox_bp
from app.admin.insights_views import bp as insights_bp
from app.admin.invites_views import bp as admin_invites_bp
from app.admin.members_views import bp as audience_bp
from app.admin.moderation_views import bp as moderation_bp
from app.admin.send_views import bp as sends_bp
from app.admin.settings_views import bp as settings_bp
from app.admin.views import bp as admin_bp
from app.admin.webhooks_views import bp as webhooks_bp
from app.api.views import bp as api_bp
from app.cli import register_commands
from app.config import PROJECT_ROOT, load_settings
from app.discussions.feedback_views import bp as feedback_links_bp
from app.discussions.forum_views import bp as forum_bp
from app.discussions.jobs import queue_due_digests, resend_stale_notifications
from app.discussions.post_action_views import bp as post_actions_bp
from app.discussions.views import bp as discussions_bp
from app.inbound.views import bp as inbound_bp
from app.insights import reads
from app.insights.jobs import maintain as maintain_insights
from app.insights.views import bp as tracking_bp
from app.issues.discovery_views import bp as discovery_bp
from app.issues.views import bp as issues_bp
from app.members.account_views import bp as accounts_bp
from app.members.invite_views import bp as invites_bp
from app.members.subscription_views import bp as subscriptions_bp
from app.members.subscription_views import subscribe_form_token
from app.members.views import bp as members_bp
from app.migrations import init_migrations
from app.ops import logs, metrics
from app.ops.views import bp as ops_bp
from app.payments.jobs import expire_lapsed as expire_lapsed_memberships
from app.payments.views import bp as payments_bp
from app.sending import mailer
from app.sending.jobs import reconcile as reconcile_sends
from app.web import errors, security
from app.web.health import bp as health_bp
from app.web.page_cache import PageCache, PageCacheMiddleware, page_cache
from app.webhooks.jobs import requeue_due as requeue_webhooks


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build a Kith app. No network or database work happens here; connections open lazily.

    ``test_config`` overrides settings by field name (``database_url``, ``instance_path``…);
    keys that are not settings go to ``app.config``.
    """
    settings = load_settings(PROJECT_ROOT / "instance", test_config)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.base_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update(settings.extra)
    app.extensions["kith.settings"] = settings
    app.extensions["kith.page_cache"] = PageCache(ttl=settings.page_cache_seconds)
    # Run by every worker each WORKER_MAINTENANCE_SECONDS; each must be idempotent.
    app.extensions["kith.maintenance"] = (
        reconcile_sends,
        expire_lapsed_memberships,
        requeue_webhooks,
        resend_stale_notifications,
        queue_due_digests,
        maintain_insights,
    )

    db.init_app(app, settings.database_url)
    logs.init_app(app, settings.log_format)
    metrics.init_app(app)
    reads.init_app(app)
    queue.init_app(app, settings.redis_url)
    mailer.init_app(app, settings)
    init_migrations(app, settings.migrations_dir)
    security.init_app(
        app,
        storage_uri=security.limiter_storage(settings.redis_url),
        trusted_proxies=settings.trusted_proxies,
    )
    errors.init_app(app)

    @app.context_processor
    def _site():
        cache = page_cache()
        cache.refresh()
        return {
            "site_name": cache.site_name or settings.publication_name,
            "base_url": settings.base_url,
        }

    app.jinja_env.globals["subscribe_form_token"] = subscribe_form_token
    blueprints = (
        issues_bp,
        discovery_bp,
        inbound_bp,
        settings_bp,
        invites_bp,
        admin_invites_bp,
        payments_bp,
        members_bp,
        subscriptions_bp,
        accounts_bp,
        admin_bp,
        audience_bp,
        sends_bp,
        discussions_bp,
        post_actions_bp,
        forum_bp,
        feedback_links_bp,
        feedback_inbox_bp,
        moderation_bp,
        admin_boards_bp,
        webhooks_bp,
        insights_bp,
        tracking_bp,
        health_bp,
        ops_bp,
        api_bp,
        api_tokens_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    register_commands(app)
    app.wsgi_app = PageCacheMiddleware(app)
    return app
