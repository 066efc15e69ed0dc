"""The issue email: rendered once per issue and variant, then personalized by substitution.

A variant is what the gating policy lets a reader have: the full issue, or the teaser with a
link to the web. Per recipient only the unsubscribe link and the addresses change, so those
go in as marker strings, swapped in the rendered text, never by rendering again.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from markupsafe import escape

from app.config import Settings
from app.issues.models import Issue
from app.issues.rendering import MORE_MARKER
from app.members import access, tokens
from app.members.models import Member
from app.members.subscriptions import unsubscribe_url
from app.sending.emails import EmailTemplates, RenderedEmail

UNSUBSCRIBE = "%%KITH_UNSUBSCRIBE_URL%%"
# CRLF line ends, and no folding under RFC 5322's 998 characters: a long URL in
# List-Unsubscribe must stay a plain <https://…>, never become an RFC 2047 encoded word.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


def _one_line(text: str) -> str:
    """Header values never carry line breaks (no header injection through a title)."""
    return " ".join((text or "").split())


@dataclass(frozen=True)
class IssueEmail:
    """The rendered variants of one issue's email."""

    issue_id: int
    subject: str
    full: RenderedEmail
    teaser: RenderedEmail

    @classmethod
    def render(
        cls, templates: EmailTemplates, settings: Settings, issue: Issue, publication: str
    ) -> IssueEmail:
        web_url = settings.url(f"/issues/{issue.slug}")
        common = {
            "publication": publication,
            "title": issue.title,
            "subtitle": issue.subtitle,
            "preheader": issue.excerpt or issue.subtitle,
            "web_url": web_url,
            "unsubscribe_url": UNSUBSCRIBE,
        }
        full_text = MORE_MARKER.sub("", issue.body_markdown).strip()
        teaser_text = (
            MORE_MARKER.split(issue.body_markdown, maxsplit=1)[0].strip()
            if issue.has_more_marker
            else issue.excerpt
        )
        more = f"\n\nRead the whole issue on the web: {web_url}"
        full = templates.render("issue", body_html=issue.body_html, body_text=full_text, **common)
        teaser_html = (issue.teaser_html or f"<p>{_escape(issue.excerpt)}</p>") + (
            f'<p><a href="{web_url}">Read the whole issue on the web</a></p>'
        )
        teaser = templates.render(
            "issue", body_html=teaser_html, body_text=(teaser_text or "") + more, **common
        )
        return cls(issue.id, _one_line(issue.title), full, teaser)

    def message_for(
        self, settings: Settings, issue: Issue, member: Member, delivery_id: int
    ) -> tuple[str, EmailMessage]:
        """The envelope sender (VERP) and the message for one recipient."""
        body = self.full if access.can_read_full(member, issue) else self.teaser
        unsubscribe = unsubscribe_url(settings, member)
        message = EmailMessage(policy=MAIL_POLICY)
        message["From"] = settings.mail_from
        message["To"] = formataddr((_one_line(member.name), member.email))
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=f"d{delivery_id}", domain=settings.reply_domain)
        reply = tokens.sign(settings, "reply", {"m": member.id, "i": issue.id})
        message["Reply-To"] = f"reply+{reply}@{settings.reply_domain}"
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Precedence"] = "bulk"
        message.set_content(body.text.replace(UNSUBSCRIBE, unsubscribe))
        message.add_alternative(body.html.replace(UNSUBSCRIBE, unsubscribe), subtype="html")
        bounce = tokens.sign(settings, "bounce", {"m": member.id, "d": delivery_id})
        return f"bounce+{bounce}@{settings.reply_domain}", message


def _escape(text: str) -> str:
    return str(escape(text or ""))
