"""The baseline for bench/pages.py: a bare Flask app returning prepared bytes per path."""

from __future__ import annotations

import json
import os

from flask import Flask, Response, request


def create_app() -> Flask:
    with open(os.environ["BARE_PAGES"], encoding="utf-8") as handle:
        pages = json.load(handle)
    app = Flask(__name__)

    @app.get("/<path:path>")
    def page(path: str) -> Response:
        body, content_type = pages[request.full_path.rstrip("?")]
        return Response(body, content_type=content_type)

    return app
