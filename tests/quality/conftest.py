"""The live-server fixture of the browser tests, for the accessibility check (the session's
``browser`` comes from tests/conftest.py)."""

from tests.e2e.conftest import live_app  # noqa: F401
