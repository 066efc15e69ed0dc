"""The browser and live-server fixtures of the browser tests, for the accessibility check."""

from tests.e2e.conftest import browser, live_app  # noqa: F401
