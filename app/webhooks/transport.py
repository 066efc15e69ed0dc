"""The one module that makes outgoing webhook HTTP requests (stdlib ``urllib``).

Redirects are not followed: a receiver answers 2xx itself or the try failed (a redirect may
lead anywhere, and a POST turned into a GET would lose the body). Whatever comes back, or
fails to, becomes a ``Response``; nothing here raises.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

SNIPPET_BYTES = 2048  # read no more of a response than the admin shows


@dataclass(frozen=True)
class Response:
    status_code: int | None  # None: no HTTP answer at all (refused, timed out, TLS error…)
    snippet: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 3xx then surfaces as an HTTPError, recorded as a failed try


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Response:
    """POST ``body`` to ``url``; ``timeout`` bounds the connection and each read."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.monotonic()

    def done(status: int | None, snippet: bytes = b"", error: str = "") -> Response:
        elapsed = round((time.monotonic() - started) * 1000)
        text = snippet.decode("utf-8", errors="replace")
        return Response(status, text, error, elapsed)

    try:
        with _opener.open(request, timeout=timeout) as answer:
            return done(answer.status, answer.read(SNIPPET_BYTES))
    except urllib.error.HTTPError as error:
        with error:
            return done(error.code, error.read(SNIPPET_BYTES), f"HTTP {error.code}")
    except TimeoutError:
        return done(None, error=f"no answer within {timeout:g} s")
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            return done(None, error=f"no answer within {timeout:g} s")
        return done(None, error=f"could not connect: {reason}")
    except (OSError, ValueError, http.client.HTTPException) as error:  # reset, malformed…
        return done(None, error=f"{type(error).__name__}: {error}")
