"""WSGI entry point: ``gunicorn 'wsgi:create_app()'`` or ``flask --app wsgi``."""

from app import create_app

__all__ = ["create_app"]
