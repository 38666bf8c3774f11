"""What the database-backed benchmarks share: a scratch database and timing helpers.

Import after ``django.setup()``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection
from django.test.utils import setup_test_environment


@contextmanager
def scratch_database(suffix: str) -> Iterator[str]:
    """Create a throwaway copy of the schema, yield its name, drop it afterwards."""
    setup_test_environment()
    database = connection.settings_dict
    name = f"test_{database['NAME']}_{suffix}"
    database["TEST"]["NAME"] = name
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield name
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds per call, after one warm-up call (templates, first connection)."""
    fn()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ms):7.1f} ms · p95 {p95:7.1f} ms · max {max(ms):7.1f} ms"
