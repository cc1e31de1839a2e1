"""Chunked passes over the user table on several threads (issue 3: speed at full population).

Results never depend on the number of threads: the table is cut into chunks by its length alone
(`n_chunks`), each chunk sums into a buffer of its own, and the buffers are added in chunk order.
Per-user random draws inside a chunk are counter-based (`narcoflow.engine.draws.counter_key` and
`draws.uniform`: a function of the run seed, the process, the step and the person), so they do
not depend on which thread visits a user, or when. The kernels release the GIL (Numba
``nogil=True``); the threads are plain Python threads, so this is safe under forked or spawned
worker processes and from several threads at once (the dashboard runs one simulation per tab).

``NARCOFLOW_THREADS`` sets the number of threads (default: the CPUs this process may use).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

CHUNK_USERS = 1_000_000
"""Users per chunk, at least: below 2 x this the pass runs in one chunk (no threads, no extra buffers)."""
MAX_CHUNKS = 2
"""At most this many chunks, so at most this many threads help. Each chunk holds a buffer per
actor slot, zeroed each week and combined after the pass: on the 2-core machine of the speed goal
(issue 3) 4 chunks made a retail week at full scale slower than 2 (0.17-0.25 s against 0.14-0.17
s). Raising it changes results (through the order of floating-point sums), so it is fixed."""

_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None


def n_chunks(n: int) -> int:
    """The number of chunks for a table of ``n`` rows: a function of ``n`` only."""
    return max(1, min(MAX_CHUNKS, n // CHUNK_USERS))


def bounds(n: int, chunks: int) -> list[int]:
    """Chunk boundaries: chunk ``c`` is rows ``[b[c], b[c + 1])``."""
    return [c * n // chunks for c in range(chunks + 1)]


def n_threads() -> int:
    """Threads to use: ``NARCOFLOW_THREADS`` if set (an integer >= 1), else the usable CPUs."""
    raw = os.environ.get("NARCOFLOW_THREADS")
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"NARCOFLOW_THREADS must be an integer >= 1, got {raw!r}")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run(fn: Callable[[int], T], count: int) -> list[T]:
    """``[fn(0), ..., fn(count - 1)]``, on a thread pool when there are several items and threads.

    The pool is made once per process (again in a forked child, whose copy has no threads)."""
    threads = min(n_threads(), count) if count > 1 else 1
    if threads <= 1:
        return [fn(i) for i in range(count)]
    global _pool, _pool_key
    key = (os.getpid(), threads)
    pool = _pool
    if pool is None or _pool_key != key:  # an old pool is left to finish what it has (no shutdown race)
        pool = _pool = ThreadPoolExecutor(threads, thread_name_prefix="narcoflow")
        _pool_key = key
    return list(pool.map(fn, range(count)))
