"""Executors: where the runs of an experiment execute, behind one context-manager interface.

``with Executor(...) as ex: for result in ex.imap_unordered(fn, items): ...`` yields
``fn(item)`` for every item as it finishes, in any order. Runs are keyed by their run id and
seed, never by worker, so results do not depend on the executor or the number of workers.

- `LocalExecutor`: in this process, one after the other (tests, debugging, ``--workers 1``).
- `ProcessExecutor`: a local process pool (``concurrent.futures``, forkserver or spawn start).
- `DaskExecutor`: an existing Dask scheduler (``address``) or a local Dask cluster it starts;
  dask is imported only here, when used. With dask-jobqueue, pass the address of a
  ``SLURMCluster`` / ``PBSCluster`` scheduler (docs/experiments.md).

Scripts that use `ProcessExecutor` or `DaskExecutor` must run them under
``if __name__ == "__main__":`` (new processes re-import the main module).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from narcoflow.errors import NarcoflowError

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class Executor:
    """Interface: a context manager with ``imap_unordered(fn, items)`` and ``n_workers``."""

    n_workers: int = 1
    description: str = "executor"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release workers; pending work is cancelled."""

    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        raise NotImplementedError


class LocalExecutor(Executor):
    """Runs every item in this process, in order."""

    description = "this process"

    def imap_unordered(self, fn, items):
        for item in items:
            yield fn(item)


def _mp_context() -> multiprocessing.context.BaseContext:
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        # Workers start from a server that has imported the engine once: cheap starts.
        ctx.set_forkserver_preload(["narcoflow.experiments.runner", "narcoflow.engine"])
        return ctx
    return multiprocessing.get_context("spawn")


def _watch_parent(pid: int) -> None:
    """In a worker: exit as soon as process ``pid`` (the one that made the pool) is gone, so a
    killed ``narcoflow compare`` leaves no workers behind (their parent is the fork server, so
    the kernel's parent-death signal alone would not do)."""
    import signal
    import threading

    try:  # the kernel's parent-death signal: covers the fork server going away
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not on Linux
        pass

    def watch() -> None:
        import select

        try:
            fd = os.pidfd_open(pid)
        except (OSError, AttributeError):  # pragma: no cover - old kernel: poll
            fd = None
        while True:
            if fd is not None:
                select.select([fd], [], [])  # readable when the process exits
                os._exit(1)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # pragma: no cover - pid reused by another user's process
                os._exit(1)
            threading.Event().wait(0.5)

    if not _alive(pid):
        os._exit(1)
    threading.Thread(target=watch, name="narcoflow-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


class ProcessExecutor(Executor):
    """A pool of ``n_workers`` local processes (default: one per core).

    At most ``2 x n_workers`` items are in flight, so results are collected as they finish
    and a long experiment does not queue every input at once.
    """

    def __init__(self, n_workers: int | None = None):
        self.n_workers = int(n_workers or default_workers())
        if self.n_workers < 1:
            raise NarcoflowError(f"--workers {self.n_workers}: must be at least 1.")
        self.description = f"a local process pool of {self.n_workers} worker(s)"
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self, n_items: int | None = None) -> ProcessPoolExecutor:
        if self._pool is None:
            n = self.n_workers if n_items is None else max(1, min(self.n_workers, n_items))
            self._pool = ProcessPoolExecutor(max_workers=n, mp_context=_mp_context(),
                                             initializer=_watch_parent, initargs=(os.getpid(),))
        return self._pool

    def imap_unordered(self, fn, items):
        pool = self._ensure_pool(len(items) if isinstance(items, list | tuple) else None)
        todo = iter(items)
        running: set[Future] = set()
        window = 2 * self.n_workers

        def fill() -> None:
            while len(running) < window:
                try:
                    item = next(todo)
                except StopIteration:
                    return
                running.add(pool.submit(fn, item))

        fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=id):
                running.discard(fut)
                result = fut.result()  # re-raises a worker's exception here
                fill()
                yield result

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is not None and self._pool is not None:
            self._terminate()  # Ctrl-C or an error: do not wait for the runs in flight
        self.close()

    def _terminate(self) -> None:
        pool = self._pool
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        for proc in processes:
            proc.join(timeout=5)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


#: Dask settings for the local cluster. The workers' statistical profiler only feeds the
#: dashboard. Dask's default MALLOC_TRIM_THRESHOLD_=65536 makes glibc return freed memory to the
#: OS at once, so the engine's numpy temporaries are mapped and unmapped again and again: a run
#: took about 10-20 % more CPU in a Dask worker than in a pool worker; unset, they take the same.
LOCAL_DASK_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


class DaskExecutor(Executor):
    """Submit to a Dask scheduler at ``address``, or start a local cluster of ``n_workers``.

    The local cluster has one single-threaded worker process per core, no dashboard, and is
    shut down on exit. A cluster at ``address`` is left running.
    """

    def __init__(self, address: str | None = None, *, n_workers: int | None = None,
                 connect_timeout: float = 10.0):
        self.address = address
        self.n_workers = int(n_workers or default_workers())
        self.connect_timeout = connect_timeout
        self._client: Any = None
        self._cluster: Any = None
        self.description = (f"the Dask scheduler at {address}" if address else
                            f"a local Dask cluster of {self.n_workers} worker(s)")

    def __enter__(self) -> DaskExecutor:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask is a dependency
            raise NarcoflowError("Dask is not installed: pip install 'dask[distributed]'.") from exc
        import logging

        if self.address:
            try:
                self._client = Client(self.address, timeout=self.connect_timeout)
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                raise NarcoflowError(f"Cannot reach the Dask scheduler at {self.address} ({exc}). "
                                     "Check the address (tcp://HOST:PORT) and that the scheduler "
                                     "is running.") from None
            n = len(self._client.scheduler_info().get("workers", {}))
            self.n_workers = max(n, 1)
        else:
            import dask

            with dask.config.set(LOCAL_DASK_CONFIG):
                self._cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1,
                                             processes=True, dashboard_address=":0",  # any free port
                                             silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        return self

    def imap_unordered(self, fn, items):
        from dask.distributed import as_completed

        if self._client is None:
            raise NarcoflowError("DaskExecutor must be used as a context manager (with ...).")
        # A window of tasks in flight (workers of a batch cluster may join later, so not fewer
        # than 64): inputs are not all queued on the scheduler at once.
        n = len(self._client.scheduler_info().get("workers", {}))
        window = max(4 * max(n, self.n_workers), 64)
        todo = iter(items)
        running = as_completed()
        live: set = set()

        def submit_more() -> None:
            while len(live) < window:
                try:
                    item = next(todo)
                except StopIteration:
                    return
                fut = self._client.submit(fn, item, pure=False)
                live.add(fut)
                running.add(fut)

        submit_more()
        try:
            for fut in running:
                live.discard(fut)
                result = fut.result()  # re-raises a worker's exception here
                fut.release()
                submit_more()
                yield result
        finally:
            pending = [f for f in live if not f.done()]
            if pending:
                self._client.cancel(pending)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(*, workers: int | None = None, dask: str | None = None,
                  dask_local: int | None = None) -> Executor:
    """The executor the CLI options ask for (at most one of them may be given).

    ``workers=1`` runs in this process; other values use a `ProcessExecutor`.
    """
    given = [name for name, v in (("--workers", workers), ("--dask", dask), ("--dask-local", dask_local))
             if v is not None]
    if len(given) > 1:
        raise NarcoflowError(f"{' and '.join(given)} exclude each other: choose one way to run.")
    for flag, v in (("--workers", workers), ("--dask-local", dask_local)):
        if v is not None and v < 1:
            raise NarcoflowError(f"{flag} {v} is out of range: it must be at least 1.")
    if dask is not None:
        return DaskExecutor(dask)
    if dask_local is not None:
        return DaskExecutor(n_workers=dask_local)
    n = workers or default_workers()
    return LocalExecutor() if n == 1 else ProcessExecutor(n)
