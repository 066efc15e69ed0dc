"""The committed database the worker-process tests share, one per backend per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.workers import create_database, drop_database


@pytest.fixture(scope="module", params=BACKENDS)
def faults_database(request, tmp_path_factory) -> Iterator[str]:
    url = create_database(request.param, tmp_path_factory.mktemp("faults"))
    yield url
    drop_database(url)
