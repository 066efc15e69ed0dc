"""(being written)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("forum", __name__)
