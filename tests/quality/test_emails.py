"""Every email template, sent through its real flow: the HTML part is a valid document and the
plain-text part is real text with the links that matter, with no markup or template left."""

from __future__ import annotations

import re
from pathlib import Path

from tests.quality import nu
from tests.quality.mail_flows import REPLY, MailFlows

EMAILS = Path(__file__).resolve().parents[2] / "emails"
# What Outlook's Word-based renderer needs and MJML emits on purpose: the VML and Office
# namespaces on <html> and mso- CSS properties. Anything else is an error.
OUTLOOK_ONLY = re.compile(
    r"^Attribute “xmlns:[vo]” not allowed here|Property “mso-[a-z-]+” doesn't exist"
)
LEFTOVERS = re.compile(r"<[a-zA-Z/!][^>]*>|\{\{|\}\}|\{%|%\}|&(?:amp|lt|gt|quot|#\d+);")


def expected(name: str, context: dict[str, str]) -> list[str]:
    """Words and links the plain-text part of each email must carry."""
    return {
        "issue (full)": ["Crumb", "The rest.", "http://localhost/issues/crumb", "/unsubscribe/"],
        "issue (teaser)": [
            "Crumb", "The open part", "Read the whole issue on the web: http://localhost/issues/crumb",
            "http://localhost/account#membership", "/unsubscribe/",
        ],
        "notification": ["Fold it", context["reply"]],
        "digest": ["Fold it four times & rest it.", context["thread"], "http://localhost/account"],
        "login": ["http://localhost/login/"],
        "email_change": ["http://localhost/account/email/"],
        "confirm": ["http://localhost/confirm/"],
        "confirm (invite)": ["http://localhost" + context["invite"]],
    }[name]  # fmt: skip


def part_problems(name: str, message, context: dict[str, str]) -> list[str]:
    """What is wrong with one message's parts, apart from HTML validity."""
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    if html_part is None or text_part is None:
        return [f"{name}: no {'HTML' if html_part is None else 'text'} part"]
    text = text_part.get_content()
    problems = [
        f"{name}: text lacks {want!r}" for want in expected(name, context) if want not in text
    ]
    problems += [f"{name}: leftover {found!r} in text" for found in LEFTOVERS.findall(text)]
    if not text.strip():
        problems.append(f"{name}: the text part is empty")
    if '<html lang="en"' not in html_part.get_content():
        problems.append(f"{name}: the HTML part does not say its language is English")
    return problems


def test_every_email_is_valid_html_with_a_real_text_part(app, session, smtp, redis, tmp_path):
    flows = MailFlows(app, session, smtp)
    mails = flows.run_all()
    sent_templates = {name.split(" ")[0] for name in mails}
    templates = {path.stem for path in EMAILS.glob("*.mjml")}
    assert templates <= sent_templates, f"no flow sends {sorted(templates - sent_templates)}"
    problems, names = [], {}
    for name, messages in sorted(mails.items()):
        for number, message in enumerate(messages):
            problems += part_problems(name, message, flows.context)
            if html_part := message.get_body(("html",)):
                file = tmp_path / f"{re.sub(r'[^a-z]+', '-', name)}{number}.html"
                file.write_text(html_part.get_content())
                names[file.name] = name
    assert "The rest." not in mails["issue (teaser)"][0].get_body(("plain",)).get_content()
    assert REPLY.split("*")[0] in mails["notification"][0].get_body(("html",)).get_content()
    # The text checks first: they need no Java, so they fail even where vnu is skipped.
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    errors = nu.check(tmp_path, ignore=OUTLOOK_ONLY)
    listed = [f"{names.get(error.split(':', 1)[0], '?')}: {error}" for error in errors]
    assert not listed, f"{len(listed)} HTML errors:\n" + "\n".join(listed)
