"""Email addresses taken out of free text that Kith keeps.

Mail servers quote the recipient in their answers ("550 5.1.1 <ann@example.com>: Recipient
address rejected"), and Kith writes such text to delivery errors and bounce diagnostics, logs
it, and RQ keeps it with a failed job. The row it belongs to already names the member; the
copy in the text would outlive their erasure (reliability.md P5), so it is never kept.
"""

from __future__ import annotations

import re

# Anything around an @ up to what ends an address in a server's sentence or a header.
ADDRESS = re.compile(r"[^\s<>()\[\]{},;:\"'`]+@[^\s<>()\[\]{},;:\"'`]+")


def without_addresses(text: str, stand_in: str = "(address)") -> str:
    return ADDRESS.sub(stand_in, text)
