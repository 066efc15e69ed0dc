"""The send dialog's forms: who gets an issue, and when, in the editor's own time zone.

``<input type=datetime-local>`` sends a wall-clock time with no zone. A script fills the
hidden ``utc_offset`` with the browser's offset at that date (so a time across a DST change
is read right); without the script the time is UTC, and the label says so.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField
from wtforms.fields import Field
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length
from wtforms.widgets import DateTimeLocalInput

from app.db import utcnow
from app.members.models import Segment
from app.sending.control import moment_text

# A time typed a moment ago is "now"; older than this it is a mistake worth saying so.
PAST_TOLERANCE = timedelta(minutes=1)
MAX_OFFSET_MINUTES = 14 * 60  # UTC-12:00 … UTC+14:00 are the zones there are


class WhenForm(FlaskForm):
    """A moment to send at; on its own, the form that reschedules a send."""

    at = StringField(
        "Time (UTC)",
        description="Read as UTC.",
        widget=DateTimeLocalInput(),
        validators=[Length(max=40)],
        render_kw={"data-offset-field": "utc_offset"},
    )
    utc_offset = HiddenField(default="0")

    def moment(self) -> datetime | None:
        """The chosen time in UTC, or None with the reason added to ``at``'s errors."""
        text = (self.at.data or "").strip()
        if not text:
            return self._refuse("Choose a date and time.")
        offset = self._offset()
        if offset is None:
            return self._refuse("The time zone offset is not a number of minutes; reload the page.")
        try:
            local = datetime.fromisoformat(text)
            moment = local.replace(tzinfo=local.tzinfo or offset).astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: past year 9999 in UTC
            return self._refuse(
                f"Give the time as YYYY-MM-DDTHH:MM, such as 2026-12-01T08:00, not {text!r}."
            )
        if moment < utcnow() - PAST_TOLERANCE:
            return self._refuse(
                f"{moment_text(moment)} has passed: choose a later time, or send now."
            )
        return moment

    def _offset(self) -> timezone | None:
        text = (self.utc_offset.data or "0").strip()
        if not re.fullmatch(r"-?\d{1,4}", text) or abs(int(text)) > MAX_OFFSET_MINUTES:
            return None
        return timezone(timedelta(minutes=int(text)))

    def _refuse(self, message: str) -> None:
        self.at.errors = [*self.at.errors, message]
        return None


class SendForm(WhenForm):
    segment = SelectField("A saved segment", validate_choice=False)
    expression = StringField(
        "Or a segment expression",
        validators=[Length(max=2000)],
        description="For example tier:paid OR tag:vip; all is everyone.",
    )
    when = RadioField(
        "When",
        choices=[SelectChoice("now", "Now"), SelectChoice("later", "At a time")],
        default="now",
    )
    confirm = BooleanField("I checked who this goes to")

    def __init__(self, *args, saved: list[Segment] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self._saved = {str(segment.id): segment.expression for segment in saved}
        self.segment.choices = [SelectChoice("", "None: I type an expression")] + [
            SelectChoice(str(segment.id), f"{segment.name} ({segment.expression})")
            for segment in saved
        ]

    def scheduled_at(self) -> datetime | None:
        """None for "now", else the chosen time; a time given with "now" is a mistake."""
        if self.when.data == "later":
            return self.moment()
        if (self.at.data or "").strip():
            self._refuse("You gave a time but chose Now: choose “At a time”, or clear the time.")
        return None

    @property
    def expression_field(self) -> Field:
        """The field a segment error belongs to: the one the expression came from."""
        return self.segment if self._saved.get(self.segment.data or "") else self.expression

    def chosen_expression(self) -> str:
        """The saved segment's expression or the typed one; "" with the reason as an error."""
        typed = (self.expression.data or "").strip()
        chosen = self.segment.data or ""
        saved = self._saved.get(chosen)
        if chosen and saved is None:
            return self._missing(self.segment, "That saved segment no longer exists.")
        if saved is not None and typed and typed != saved.strip():
            return self._missing(
                self.expression, "Choose a saved segment or type an expression, not both."
            )
        if not (saved or typed):
            return self._missing(
                self.expression, "Choose a saved segment or type an expression (all: everyone)."
            )
        return saved or typed

    @staticmethod
    def _missing(field: Field, message: str) -> str:
        field.errors = [*field.errors, message]
        return ""
