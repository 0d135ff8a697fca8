"""Where the per-submission function runs: a local process pool or a Dask cluster.

Both take the same plain-data jobs and functions (:mod:`autograder.worker`);
the parent only submits, waits for the first finished, and collects.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable

from .worker import warm_up


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
            import multiprocessing

            self._pool = ProcessPoolExecutor(max_workers=workers,
                                             mp_context=multiprocessing.get_context("spawn"))

    def warm_up(self) -> None:
        """Start every local worker process now, while the parent is still busy.

        A spawned worker takes a moment to start Python and import what a job
        needs; without this, the pool starts them only when the first jobs come.
        """
        if self._pool is not None:
            for _ in range(self.workers):
                self._pool.submit(warm_up)

    def submit(self, function: Callable[[dict], dict], job: dict) -> Any:
        if self._client is not None:
            return self._client.submit(function, job, pure=False,
                                       key=f"{function.__name__.replace('_', '-')}-{job['key']}-{time.time_ns()}")
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
