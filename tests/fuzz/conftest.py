"""Fuzzing with hypothesis, bounded so the whole suite runs in CI within a couple of minutes.

``KITH_FUZZ=long`` runs many more (random, not derandomized) examples for a night-time soak.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz-ci",
    max_examples=40,
    deadline=None,  # shared CI machines stall; time bounds are asserted where they matter
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
settings.register_profile(
    "fuzz-long",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FUZZ = settings.get_profile("fuzz-long" if os.environ.get("KITH_FUZZ") == "long" else "fuzz-ci")


def examples(count: int) -> settings:
    """The profile with ``count`` examples in CI (scaled up 50× when KITH_FUZZ=long)."""
    long = os.environ.get("KITH_FUZZ") == "long"
    return settings(FUZZ, max_examples=count * 50 if long else count)
