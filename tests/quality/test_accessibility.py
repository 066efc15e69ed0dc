"""axe-core in Chromium over each kind of page, as anonymous, member and editor: no violation
of serious or critical impact."""

from __future__ import annotations

import pytest

from app.db import transaction
from app.members import service as members
from tests.quality import nu
from tests.quality.seed import seed

pytestmark = pytest.mark.browser

SERIOUS = ("serious", "critical")
RUN_AXE = """rules => axe.run(document, {resultTypes: ["violations"],
    ...(rules ? {runOnly: {type: "rule", values: rules}} : {})}).then(result => ({
  passed: result.passes.length,
  violations: result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))}))"""


def pages_to_check(app, base: str) -> dict[str, tuple[str | None, list[str]]]:
    """Per role: its one-time sign-in link (none for anonymous) and the paths it visits."""
    with app.app_context(), transaction() as session:
        s = seed(session, base)
        settings = app.extensions["kith.settings"]

        def link(member) -> str:
            token = members.start_login(session, member)
            return f"{base}/login/{members.sign_login_token(settings, token)}"

        issue, thread, board = (
            f"/issues/{s.paid_slug}",
            f"/t/{s.thread.id}",
            f"/forum/{s.board.slug}",
        )
        return {
            "anonymous": (None, [
                "/", "/archive", issue, "/search?q=bread", "/forum", board, thread, "/login",
                "/subscribe", f"/join/{s.invite.code}", "/no-such-page",
            ]),
            "member": (link(s.member), [
                "/account", issue, f"/issues/{s.slug}", thread, f"{board}/new",
                f"/posts/{s.post.id}/edit", "/forum/search?q=rose",
            ]),
            "editor": (link(s.editor), [
                "/admin/issues", f"/admin/issues/{s.issue_id}", "/admin/issues/new",
                f"/admin/issues/{s.issue_id}/send", f"/admin/sends/{s.send_id}",
                f"/admin/issues/{s.paid_slug}/report", "/admin/members",
                f"/admin/members/{s.member.id}", "/admin/segments", "/admin/settings",
                "/admin/feedback", "/admin/moderation", "/admin/moderation/log",
                "/admin/audience/growth", "/admin/boards", "/admin/invites", "/admin/webhooks",
                f"/admin/webhooks/{s.endpoint_id}", "/admin/api-tokens", "/admin/outbox",
            ]),
        }  # fmt: skip


def violations(page, base: str, path: str, *, contrast_only: bool) -> list[str]:
    """axe's serious and critical findings on ``path``, after checking the page really loaded."""
    response = page.goto(base + path)
    landed = page.url.removeprefix(base)
    assert landed == path, f"GET {path} ended at {landed} ({response.status})"
    page.add_script_tag(path=nu.AXE_JS)
    result = page.evaluate(RUN_AXE, ["color-contrast"] if contrast_only else None)
    assert result["passed"] >= 1, f"axe checked nothing on {path}: {result}"
    return [
        f"{path}: {found['impact']} {found['id']}: {found['help']} at {found['targets']}"
        for found in result["violations"]
        if found["impact"] in SERIOUS
    ]


DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 800}
VARIANTS = {  # name: (viewport, colour scheme, contrast only)
    "desktop": (DESKTOP, "light", False),
    "phone": (PHONE, "light", False),  # narrow: wide tables scroll, and must take the keyboard
    "dark": (DESKTOP, "dark", True),  # kith.css has dark colours; only the contrast changes
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_serious_accessibility_violations(live_app, browser, variant):
    nu.require_tool(nu.AXE_JS, "axe-core")
    base, app = live_app
    found = []
    for role, (login_link, paths) in pages_to_check(app, base).items():
        viewport, scheme, contrast_only = VARIANTS[variant]
        context = browser.new_context(viewport=viewport, color_scheme=scheme, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(10_000)
        if login_link:
            page.goto(login_link)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
        for path in paths:
            found += [
                f"{role} {problem}"
                for problem in violations(page, base, path, contrast_only=contrast_only)
            ]
        context.close()
    assert not found, f"{len(found)} serious accessibility violations:\n" + "\n".join(found)
