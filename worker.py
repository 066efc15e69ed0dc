"""RQ worker entry point: ``python worker.py`` is the same as ``kith worker``."""

from app import create_app
from app.queue import run_worker

if __name__ == "__main__":
    run_worker(create_app())
