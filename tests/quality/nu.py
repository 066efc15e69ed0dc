"""The Nu HTML Checker (vnu-jar from npm, see package.json), run once over a folder of files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def require_tool(path: Path, what: str) -> None:
    """Skip when a checker is missing on a developer's machine; fail in CI, which sets
    KITH_REQUIRE_BROWSER and must never pass by skipping."""
    missing = None
    if not path.exists():
        missing = f"{path} is missing: run `npm ci` at the repository root ({what})"
    elif path.suffix == ".jar" and shutil.which("java") is None:
        missing = f"java is missing: install a JRE 11+ to run {what}"
    if missing:
        if os.environ.get("KITH_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)


def check(folder: Path, *, ignore: re.Pattern | None = None) -> list[str]:
    """Every error vnu finds in the ``*.html`` files of ``folder``, as "file:line: message",
    except those whose message matches ``ignore``."""
    require_tool(VNU_JAR, "the Nu HTML Checker")
    files = sorted(str(path) for path in folder.glob("*.html"))
    assert files, f"nothing to check in {folder}"
    result = subprocess.run(
        ["java", "-Xss8m", "-jar", str(VNU_JAR), "--errors-only", "--format", "json", *files],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # vnu prints its JSON report on stderr and exits 1 when it found errors.
    report = json.loads(result.stderr or "{}")
    return [
        f"{Path(message.get('url', '?')).name}:{message.get('lastLine', '?')}: "
        f"{message.get('message')} [{message.get('extract', '').strip()[:120]}]"
        for message in report.get("messages", [])
        if message.get("type") in ("error", "non-document-error")
        and not (ignore and ignore.search(message.get("message", "")))
    ]
