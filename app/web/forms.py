"""Forms shared by every domain."""

from __future__ import annotations

from flask_wtf import FlaskForm


class ButtonForm(FlaskForm):
    """A button that changes state: nothing but the CSRF token.

    Sign-in, confirmation and other one-time links use it too: their GET shows this button
    and only its POST acts, so mail scanners that follow links change nothing.
    """
