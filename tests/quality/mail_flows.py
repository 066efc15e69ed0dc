"""Every email Kith sends, produced by the real flows (web forms, jobs, the CLI) into the real
SMTP sink, one flow at a time, so each message is known by the flow that sent it."""

from __future__ import annotations

import re
from email.message import EmailMessage

from app.discussions import notifications
from app.discussions import service as discussions
from app.issues import service as issues
from app.members import invites
from tests.conftest import csrf_token, make_member, run_jobs, sign_in
from tests.quality.seed import PAID_BODY

ORIGIN = {"Origin": "http://localhost"}
REPLY = "Fold it *four* times & rest it."


class MailFlows:
    """Runs each flow and keeps what it mailed, keyed by the email's name."""

    def __init__(self, app, session, smtp):
        self.app, self.session, self.smtp = app, session, smtp
        self.seen = 0
        self.mails: dict[str, list[EmailMessage]] = {}
        self.context: dict[str, str] = {}

    def _take(self, name: str) -> None:
        run_jobs(self.app)
        received = self.smtp.received[self.seen :]
        self.seen = len(self.smtp.received)
        assert received, f"the {name} flow mailed nothing"
        self.mails[name] = [item.message for item in received]

    def run_all(self) -> dict[str, list[EmailMessage]]:
        editor = make_member(self.session, email="editor@example.com", name="Edith", role="editor")
        fay = make_member(self.session, email="fay@example.com", name="Fay")
        pat = make_member(self.session, email="pat@example.com", name="Pat", tier="paid")
        self._issues(editor, fay, pat)
        self._discussion(editor, fay, pat)
        self._account_links(fay)
        return self.mails

    def _issues(self, editor, fay, pat) -> None:
        paid = issues.save_issue(
            self.session, {"title": "Crumb", "body_markdown": PAID_BODY, "visibility": "paid"}
        )
        self.session.commit()
        client = self.app.test_client()
        sign_in(client, editor)
        page = f"/admin/issues/{paid.id}"
        data = {"csrf_token": csrf_token(client, page), "expression": "all", "confirm": "y"}
        assert client.post(f"{page}/send", data=data).status_code == 302
        self._take("issue")
        by_reader = {
            message["To"].addresses[0].addr_spec: message for message in self.mails["issue"]
        }
        self.mails["issue (full)"] = [by_reader[pat.email]]
        self.mails["issue (teaser)"] = [by_reader[fay.email]]
        del self.mails["issue"]

    def _discussion(self, editor, fay, pat) -> None:
        public = issues.save_issue(
            self.session, {"title": "Starters", "body_markdown": "Feed it.", "visibility": "public"}
        )
        issues.publish(self.session, public)
        thread = discussions.issue_thread(self.session, public)
        first = discussions.create_post(self.session, fay, thread, "How long do I knead?")
        reply = discussions.create_post(self.session, pat, thread, REPLY, parent_id=first.id)
        self.session.commit()
        self.context["thread"] = f"http://localhost/t/{thread.id}"
        self.context["reply"] = f"http://localhost/t/{thread.id}#post-{reply.id}"
        with self.app.app_context():
            assert notifications.enqueue()
        self._take("notification")
        fay.email_digest = True  # only now, or the worker's maintenance mails it in a flow above
        self.session.commit()
        result = self.app.test_cli_runner().invoke(args=["digest"])
        assert result.exit_code == 0 and "1 sent" in result.output, result.output
        self._take("digest")

    def _account_links(self, fay) -> None:
        client = self.app.test_client()
        login = {"email": fay.email, "csrf_token": csrf_token(client, "/login")}
        assert client.post("/login", data=login).status_code == 200
        self._take("login")
        signed_in = self.app.test_client()
        sign_in(signed_in, fay)
        change = {"email": "fay.new@example.com", "csrf_token": csrf_token(signed_in, "/account")}
        assert signed_in.post("/account/email", data=change).status_code == 302
        self._take("email_change")
        form = client.get("/subscribe").get_data(as_text=True)
        token = re.search(r'name="form_token" value="([^"]+)"', form).group(1)
        data = {"email": "new.reader@example.com", "form_token": token}
        assert client.post("/subscribe", data=data, headers=ORIGIN).status_code == 200
        self._take("confirm")
        invite = invites.create(self.session, max_uses=3)
        self.session.commit()
        self.context["invite"] = f"/join/{invite.code}/confirm/"
        join = {"email": "nia@example.com", "name": "Nia"}
        join["csrf_token"] = csrf_token(client, f"/join/{invite.code}")
        assert client.post(f"/join/{invite.code}", data=join).status_code in (200, 302)
        self._take("confirm (invite)")
