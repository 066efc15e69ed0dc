"""The issue email: rendered once per issue and variant, then personalized per recipient.

A variant is what the gating policy lets a reader have: the full issue, or the teaser with a
link to the web. Each variant is rendered from MJML and MIME-encoded once (prepared.py); per
recipient only the addresses, tokens, unsubscribe link and feedback-link token change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from markupsafe import escape

from app.config import Settings
from app.inbound import addresses
from app.insights import tracking
from app.issues.models import Issue
from app.issues.rendering import MORE_MARKER
from app.members import access, tokens
from app.members.models import Member
from app.members.subscriptions import unsubscribe_url
from app.sending.emails import EmailTemplates
from app.sending.prepared import FEEDBACK_MARKER, LINK_MARKER, MAIL_POLICY, PreparedEmail
from app.sending.signing import BulkSigner

__all__ = ["MAIL_POLICY", "IssueEmail", "Personalized"]

# The one-click ratings an issue email offers (Issue.feedback_choices), worst to best.
FEEDBACK_FACES = {3: ("😞", "😐", "😍"), 5: ("😞", "🙁", "😐", "🙂", "😍")}


@dataclass(frozen=True)
class Personalized:
    sender: str  # the VERP envelope sender
    message_id: str
    data: bytes


@dataclass(frozen=True)
class IssueEmail:
    """The prepared variants of one issue's email."""

    issue: Issue
    full: PreparedEmail
    teaser: PreparedEmail
    tracked: bool = False  # carries the open pixel and tracked links (app/insights/tracking.py)

    @classmethod
    def render(
        cls,
        templates: EmailTemplates,
        settings: Settings,
        issue: Issue,
        publication: str,
        *,
        subject_prefix: str = "",
        link_positions: Callable[[list[str]], dict[str, int]] | None = None,
    ) -> IssueEmail:
        """The variants of ``issue``'s email. With ``link_positions`` (which numbers the
        email's links once per issue) it counts opens and clicks, and says so."""
        web_url = settings.url(f"/issues/{issue.slug}")
        common = {
            "publication": publication,
            "title": issue.title,
            "subtitle": issue.subtitle,
            "preheader": issue.excerpt or issue.subtitle,
            "web_url": web_url,
            "unsubscribe_url": LINK_MARKER,
            "feedback": feedback_links(settings, issue.feedback_choices),
            "tracking_notice": tracking.NOTICE if link_positions else "",
        }
        full_text = MORE_MARKER.sub("", issue.body_markdown).strip()
        teaser_text = (
            MORE_MARKER.split(issue.body_markdown, maxsplit=1)[0].strip()
            if issue.has_more_marker
            else issue.excerpt
        )
        more = f"\n\nRead the whole issue on the web: {web_url}"
        upgrade = ""
        if issue.visibility == "paid":  # the reader lacks a paid membership: say how to get one
            account_url = settings.url("/account#membership")
            more += f"\n\nUpgrade to read every issue in full: {account_url}"
            upgrade = f'<p><a href="{account_url}">Upgrade to read every issue in full</a></p>'
        full = templates.render("issue", body_html=issue.body_html, body_text=full_text, **common)
        teaser_html = (issue.teaser_html or f"<p>{escape(issue.excerpt or '')}</p>") + (
            f'<p><a href="{web_url}">Read the whole issue on the web</a></p>{upgrade}'
        )
        teaser = templates.render(
            "issue", body_html=teaser_html, body_text=(teaser_text or "") + more, **common
        )
        if link_positions is not None:
            positions = link_positions(tracking.urls_in(full.html, teaser.html))
            base = settings.base_url
            full, teaser = (
                replace(rendered, html=tracking.rewrite(rendered.html, positions, base))
                for rendered in (full, teaser)
            )
        subject = subject_prefix + issue.title

        def prepare(rendered) -> PreparedEmail:
            return PreparedEmail.encode(
                mail_from=settings.mail_from,
                subject=subject,
                text=rendered.text,
                html_body=rendered.html,
                domain=settings.reply_domain,
            )

        return cls(issue, prepare(full), prepare(teaser), tracked=link_positions is not None)

    def personalize(
        self,
        settings: Settings,
        member: Member,
        delivery_id: int,
        signer: BulkSigner | None = None,
    ) -> Personalized:
        """``member``'s copy: the variant they may read, their links, their addresses."""
        variant = self.full if access.can_read_full(member, self.issue) else self.teaser
        unsubscribe = unsubscribe_url(settings, member, issue_id=self.issue.id)
        token = unsubscribe.rpartition("/")[2]
        feedback = (
            tokens.sign(settings, "feedback", {"m": member.id, "i": self.issue.id})
            if self.issue.feedback_choices
            else ""
        )
        bounce = tokens.sign(settings, "bounce", {"m": member.id, "d": delivery_id})
        message_id, data = variant.personalize(
            to_name=member.name,
            to_address=member.email,
            message_id_local=f"i{self.issue.id}.d{delivery_id}",
            reply_to=addresses.reply_address(settings, member.id, issue_id=self.issue.id),
            unsubscribe_url=unsubscribe,
            unsubscribe_mailto=f"mailto:unsubscribe+{token}@{settings.reply_domain}",
            feedback_token=feedback,
            signer=signer,
            track_token=tracking.sign(settings, delivery_id, self.issue.id) if self.tracked else "",
        )
        return Personalized(f"bounce+{bounce}@{settings.reply_domain}", message_id, data)


def feedback_links(settings: Settings, choices: int) -> list[dict[str, object]]:
    """The rating links of an issue email, each holding the marker where a recipient's token
    goes: ``/feedback/<token>/<choice>``; none when the issue asks for no ratings."""
    faces = FEEDBACK_FACES.get(choices, ())
    return [
        {
            "choice": choice,
            "face": face,
            "label": f"{choice} of {choices}",
            "url": settings.url(f"/feedback/{FEEDBACK_MARKER}/{choice}"),
        }
        for choice, face in enumerate(faces, start=1)
    ]
