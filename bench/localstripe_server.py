"""localstripe as the benchmarks run it: its store in memory, and optionally the delay of
Stripe's API across the internet on the requests made with one key (Kith's).

localstripe pickles its whole store to /tmp/localstripe.pickle after every write: quadratic
over a run, and the file is shared by every localstripe on the machine. Stripe has no such
cost, so here the store stays in memory. On loopback a read answers in milliseconds; Stripe's
answers take a few hundred, and vary. ``--latency`` adds a random wait on the way in and on
the way out (each up to that many seconds), so a read can be overtaken by a later one.
Run: python bench/localstripe_server.py --port N [--latency 0.2 --key sk_test_…]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

from aiohttp import web
from localstripe import resources, server

resources.Store.dump_to_disk = lambda self: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds, each way at most")
    parser.add_argument("--key", default="", help="the secret key whose requests wait")
    args = parser.parse_args()
    delayed = f"Bearer {args.key}"

    @web.middleware
    async def internet(request: web.Request, handler):
        slow = args.latency > 0 and request.headers.get("Authorization") == delayed
        if slow:
            await asyncio.sleep(random.uniform(0, args.latency))
        response = await handler(request)
        if slow:
            await asyncio.sleep(random.uniform(0, args.latency))
        return response

    server.app.middlewares.append(internet)
    sys.argv = [sys.argv[0], "--port", str(args.port), "--from-scratch"]
    server.start()


if __name__ == "__main__":
    main()
