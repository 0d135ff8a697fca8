"""Where the per-submission function runs: a local process pool or a Dask cluster.

Both take the same plain-data jobs and functions (:mod:`autograder.worker`);
the parent only submits, waits for the first finished, and collects.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable

from .worker import warm_up


def exit_with_parent(parent: int, every: float = 1.0) -> None:
    """In a pool worker: end this process when the grader (``parent``) is gone.

    A worker waits on its job queue forever; when the grader is killed
    (SIGKILL, out of memory) nothing would end it, and it would hold its
    memory and whatever sandbox it runs (bubblewrap dies with its parent).
    """
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(70)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def lost_worker(exc: BaseException) -> bool:
    """Whether ``exc`` says the worker died under the job (not that the job failed).

    A local pool fails every job it held with BrokenProcessPool when one worker
    process dies; Dask reschedules a dead worker's tasks itself and gives up
    with KilledWorker only after its own retries.
    """
    return isinstance(exc, BrokenProcessPool) or type(exc).__name__ == "KilledWorker"


class Executor:
    """A pool running :func:`grade_job`: local processes or a Dask cluster.

    Parameters
    ----------
    kind : "local" (a process pool) or "dask".
    workers : processes to start; 0 means one per core.
    scheduler : a Dask scheduler's address; None starts a local Dask cluster.
    """

    def __init__(self, kind: str = "local", workers: int = 0, scheduler: str | None = None) -> None:
        self._pool: Any = None
        self._client: Any = None
        self._cluster: Any = None
        workers = workers or os.cpu_count() or 1
        self.workers = workers
        if kind == "dask":
            from distributed import Client, LocalCluster

            if scheduler:
                self._client = Client(scheduler)
            else:
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None)
                self._client = Client(self._cluster)
        else:
            self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=exit_with_parent, initargs=(os.getpid(),))

    def warm_up(self) -> None:
        """Start every local worker process now, while the parent is still busy.

        A spawned worker takes a moment to start Python and import what a job
        needs; without this, the pool starts them only when the first jobs come.
        """
        if self._pool is not None:
            for _ in range(self.workers):
                self._pool.submit(warm_up)

    def submit(self, function: Callable[[dict], dict], job: dict, name: str = "") -> Any:
        """Run ``function(job)`` in a worker; ``name`` says what it is (``grade 03_losses``).

        On Dask the task's key is ``NAME-NANOSECONDS-JOBKEY``: the dashboard groups
        tasks by the part before the number, so an instructor sees each lesson's
        grading (and its solution's reference run) as a progress bar of its own,
        and the full key names the submission.
        """
        if self._client is not None:
            name = name or function.__name__.replace("_", "-")
            return self._client.submit(function, job, pure=False, key=f"{name}-{time.time_ns()}-{job['key']}")
        try:
            return self._pool.submit(function, job)
        except BrokenProcessPool:  # a worker died: the pool refuses new work until it is replaced
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(function, job)

    def wait_any(self, futures: Iterable[Any]) -> list[Any]:
        """Block until at least one of ``futures`` is done; return the done ones."""
        if self._client is not None:
            from distributed import wait as dask_wait

            return list(dask_wait(list(futures), return_when="FIRST_COMPLETED").done)
        return list(wait(list(futures), return_when=FIRST_COMPLETED).done)

    @staticmethod
    def result(future: Any) -> dict:
        return future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
