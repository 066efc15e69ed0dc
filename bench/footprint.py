"""What a running Kith holds, sampled over time, and whether it stayed flat (bench/soak.py).

A sample is one reading of each process's resident memory (gunicorn's master and workers,
each ``kith worker`` and the RQ scheduler it may have forked, ``kith inbound-smtp``), the
PostgreSQL connections to the bench database (the benchmark's own are told apart by their
``application_name``), and of the bench's Redis db: its keys; those that never expire, apart
from jobs and queues (RQ's own sets and registries); finished or failed jobs kept with no
expiry (RQ's ``result_ttl``/``failure_ttl`` lost: never expected); jobs waiting in the queues
(a backlog); and RQ's finished registry as its clean-up leaves it (entries whose result is
still kept), its failed registry, and entries of either kept more than ``OVERDUE`` past their
expiry (the clean-up stopped).

Flat means the median of the last ``WINDOW`` samples is within ``TOLERANCE`` of the median of
the first ``WINDOW`` after the warm-up (one more or fewer for counts): a single reading of a
process's memory moves by a few MB with what it happened to be rendering.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from statistics import median

from common import child_pids, rss_mb
from redis import Redis
from sqlalchemy import text

from app.db import transaction
from app.queue import QUEUES

OWN_CONNECTIONS = "kith-bench-soak"  # application_name of the benchmark's own connections
TOLERANCE = 0.10  # flat: within ±10 % of the first samples after the warm-up
WINDOW = 3  # samples whose median is compared, at each end
OVERDUE = 180  # seconds past expiry: three of the workers' 60 s maintenance passes
CONNECTIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name <> :own"
)


@dataclass(frozen=True)
class Metric:
    slack: float = 0.0  # counts move by one on their own: ±1 is flat too
    judged: bool = True


PG = "PostgreSQL connections"
KEYS, LASTING, FOREVER = "Redis keys", "Redis keys without expiry", "RQ done jobs kept forever"
WAITING, FINISHED, STALE = "RQ jobs waiting", "RQ finished (kept)", "RQ finished/failed overdue"
FAILED = "RQ failed"
COUNTS = {
    name: Metric(slack=1) for name in (PG, KEYS, LASTING, FOREVER, WAITING, FINISHED, STALE, FAILED)
}
# Shown beside the others, not judged (bench/load.py judges latency): a window's percentiles.
P50, P99 = "site p50 latency (ms)", "site p99 latency (ms)"


@dataclass
class Footprint:
    """Samples of the processes in ``processes`` (label → process) and the shared stores."""

    processes: dict[str, subprocess.Popen]
    redis: Redis
    children: dict[str, str] = field(default_factory=dict)  # label → its children's name
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def sample(self, seconds: float, extra: dict[str, float] | None = None) -> None:
        values = {f"RSS {label} (MB)": rss for label, rss in self.memory().items()}
        with transaction() as session:
            values[PG] = session.scalar(CONNECTIONS, {"own": OWN_CONNECTIONS})
        values.update(self.keys())
        values.update(extra or {})
        self.samples.append((seconds, values))

    def memory(self) -> dict[str, float]:
        """MB per process, and per child each has started (gunicorn's workers, RQ's
        scheduler), named after its parent."""
        found = {}
        for label, process in self.processes.items():
            found[label] = rss_mb(process.pid)
            prefix = self.children.get(label, f"{label} child")
            pids = child_pids(process.pid)
            for number, pid in enumerate(pids, 1):
                found[f"{prefix} {number}" if len(pids) > 1 else prefix] = rss_mb(pid)
        return found

    def keys(self) -> dict[str, float]:
        redis, now = self.redis, time.time()
        names = list(redis.scan_iter(count=1000))
        pipe = redis.pipeline(transaction=False)
        for name in names:
            pipe.ttl(name)
        lasting = [name for name, ttl in zip(names, pipe.execute(), strict=True) if ttl == -1]
        # Status and expiry read again together, atomically: a job finishing between the two
        # reads would look done and kept forever.
        together = redis.pipeline(transaction=True)
        for name in lasting:
            if name.startswith(b"rq:job:"):
                together.hget(name, "status").ttl(name)
        answers = together.execute()
        done = zip(answers[0::2], answers[1::2], strict=True)
        forever = sum(1 for status, ttl in done if ttl == -1 and status in (b"finished", b"failed"))
        for queue in QUEUES:
            pipe.llen(f"rq:queue:{queue}")
            pipe.zcount(f"rq:finished:{queue}", now, "+inf")
            pipe.zcount(f"rq:finished:{queue}", 0, now - OVERDUE)
            pipe.zcount(f"rq:failed:{queue}", 0, now - OVERDUE)
            pipe.zcard(f"rq:failed:{queue}")
        counts = pipe.execute()
        return {
            KEYS: redis.dbsize(),
            LASTING: sum(1 for name in lasting if not name.startswith((b"rq:job:", b"rq:queue:"))),
            FOREVER: forever,
            WAITING: sum(counts[0::5]),
            FINISHED: sum(counts[1::5]),
            STALE: sum(counts[2::5]) + sum(counts[3::5]),
            FAILED: sum(counts[4::5]),
        }

    def table(self, warmup: float) -> tuple[list[str], list[str]]:
        """The printed rows, and the names of the metrics that did not stay flat."""
        after = [values for seconds, values in self.samples if seconds >= warmup]
        after = after or [self.samples[-1][1]]
        names = list(dict.fromkeys(name for _, values in self.samples for name in values))
        rows = [f"{'metric':34} {'after warm-up':>13} {'at the end':>10} {'max':>10} {'change':>8}"]
        missed = []
        for name in names:
            seen = [values[name] for values in after if name in values]
            if not seen:
                continue
            first, last = median(seen[:WINDOW]), median(seen[-WINDOW:])
            metric = COUNTS.get(name, Metric(judged=name not in (P50, P99)))
            change = f"{(last - first) / first:+8.1%}" if first else f"{last - first:+8.0f}"
            if not metric.judged:
                verdict = "(shown only)"
            elif abs(last - first) <= max(TOLERANCE * first, metric.slack):
                verdict = "flat"
            else:
                verdict = "GREW" if last > first else "FELL"
                missed.append(name)
            rows.append(
                f"{name:34} {first:13,.1f} {last:10,.1f} {max(seen):10,.1f} {change} {verdict}"
            )
        return rows, missed

    def csv(self) -> str:
        names = list(dict.fromkeys(name for _, values in self.samples for name in values))
        lines = [",".join(["seconds", *names])]
        for seconds, values in self.samples:
            row = (f"{values[name]:.1f}" if name in values else "" for name in names)
            lines.append(",".join([f"{seconds:.0f}", *row]))
        return "\n".join(lines) + "\n"
