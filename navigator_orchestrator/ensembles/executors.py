"""Where an ensemble's tasks run: a local pool of worker processes (default) or a Dask cluster.

The executors are given the work function (`work(task, attempt) -> record`, picklable: a module's top-level
function) and opaque tasks (only `key` and `label` are read), so they import nothing of what they run.

Both give the same results: a task's result depends on the task alone, never on the worker, the order or the
attempt. Both follow one policy (`Ledger`): a run that raises is retried up to `--retries` times, then recorded as
failed with its error while the others go on; a run whose worker process died (SIGKILL, out of memory) is rerun
elsewhere, up to `MAX_DEATHS` times. The local pool learns of a death as `BrokenProcessPool` (every run in
flight is lost then, so each is rerun on a new pool); Dask's scheduler reruns a task whose worker died by itself
(up to `distributed.scheduler.allowed-failures`) and reports `KilledWorker` past that.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..errors import InputError

MAX_DEATHS = 3
# what the local pool's fork server imports once besides the work function's module, so that no worker imports
# it again (dbt: 2-3 s of CPU each)
POOL_PRELOAD = ["dbt.cli.main"]
DASK_ENV = "DASK_SCHEDULER_ADDRESS"
DASK_EXTRA = "pip install -e '.[distributed]'"
Echo = Callable[[str], None]


class Job(Protocol):
    """What the executors read of a task: a unique key (for the ledger) and a label (for messages)."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...


Work = Callable[[Any, int], dict]  # work(task, attempt) -> the run's record; raises when the run failed


@dataclass
class Outcome:
    """The records of the tasks that succeeded and the errors of those that failed, by task key."""

    records: dict[str, dict] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scheduler:
    """`local` (process pool of `workers`), `local:N` (Dask LocalCluster of N) or `tcp://HOST:PORT` (Dask)."""

    kind: str  # "pool", "local-cluster" or "address"
    workers: int = 0
    address: str = ""

    def describe(self) -> str:
        return {"pool": f"local pool of {self.workers} worker processes",
                "local-cluster": f"Dask LocalCluster of {self.workers} single-threaded workers on 127.0.0.1",
                "address": f"Dask scheduler at {self.address}"}[self.kind]


def parse_scheduler(text: str | None, workers: int | None) -> Scheduler:
    """--scheduler (or $DASK_SCHEDULER_ADDRESS) as a Scheduler; a Dask one needs Dask importable (one clear error
    naming the extra otherwise), checked here, before anything is written."""
    text = text or os.environ.get(DASK_ENV) or "local"
    if text == "local":
        return Scheduler("pool", workers or min(os.cpu_count() or 1, 8))
    match = re.fullmatch(r"local:(\d+)", text)
    if match and int(match.group(1)) >= 1:
        scheduler = Scheduler("local-cluster", int(match.group(1)))
    elif re.fullmatch(r"tcp://[^\s:/]+:\d+", text):
        scheduler = Scheduler("address", address=text)
    else:
        raise InputError(f"--scheduler {text!r}: not local, local:N or tcp://HOST:PORT",
                         "write --scheduler local, --scheduler local:2 or --scheduler tcp://127.0.0.1:8786")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InputError(f"--scheduler {text} needs Dask, which is not installed",
                         f"{DASK_EXTRA} (the extra 'distributed'), or use --scheduler local") from None
    return scheduler


class Ledger:
    """The retry policy and the progress line per finished run, shared by every executor."""

    def __init__(self, total: int, retries: int, echo: Echo, done: int = 0):
        self.total, self.retries, self.echo = total, retries, echo
        self.finished = done
        self.attempts: dict[str, int] = {}
        self.deaths: dict[str, int] = {}
        self.outcome = Outcome()

    def attempt(self, task: Job) -> int:
        """Number the next attempt of `task` (1 for its first)."""
        self.attempts[task.key] = self.attempts.get(task.key, 0) + 1
        return self.attempts[task.key]

    def succeeded(self, task: Job, record: dict) -> None:
        self.finished += 1
        self.outcome.records[task.key] = record
        run = record.get("run", {})
        self.echo(f"[{self.finished}/{self.total}] {task.label}: ok in {run.get('seconds', 0):.1f}s "
                  f"(pid {run.get('pid', '?')}, attempt {run.get('attempt', 1)})")

    def raised(self, task: Job, error: BaseException) -> bool:
        """A run that raised: True to retry it, else it is recorded as failed."""
        message = " ".join(str(error).split()) or type(error).__name__
        used = self.attempts.get(task.key, 1)
        if used <= self.retries:
            self.echo(f"{task.label}: attempt {used} failed ({message}); retrying ({used} of --retries {self.retries})")
            return True
        return self._failed(task, f"failed after {used} attempt{'s' if used > 1 else ''}: {message}")

    def died(self, task: Job, how: str) -> bool:
        """A run whose worker died: True to rerun it (up to MAX_DEATHS), else it is recorded as failed."""
        self.deaths[task.key] = self.deaths.get(task.key, 0) + 1
        self.attempts[task.key] = self.attempts.get(task.key, 1) - 1  # a death is not one of the run's attempts
        if self.deaths[task.key] <= MAX_DEATHS:
            self.echo(f"{task.label}: {how}; rerunning it ({self.deaths[task.key]} of {MAX_DEATHS} reruns)")
            return True
        return self._failed(task, f"its worker died {self.deaths[task.key]} times ({how})")

    def _failed(self, task: Job, message: str) -> bool:
        self.finished += 1
        self.outcome.failed[task.key] = message
        self.echo(f"[{self.finished}/{self.total}] {task.label}: FAILED, {message}")
        return False


def execute(work: Work, tasks: list[Job], scheduler: Scheduler, ledger: Ledger) -> Outcome:
    """Run `work(task, attempt)` for every task on the scheduler, under the ledger's policy."""
    if tasks:
        (_local_pool if scheduler.kind == "pool" else _dask)(work, tasks, scheduler, ledger)
    return ledger.outcome


def _preload(work: Work) -> list[str]:
    """The work function's module (imported by name in each worker to unpickle it) and POOL_PRELOAD."""
    return [work.__module__, *POOL_PRELOAD]


def _local_pool(work: Work, tasks: list[Job], scheduler: Scheduler, ledger: Ledger) -> None:
    """A process pool, one run at a time per process; a broken pool (a worker died) is replaced and every run it
    had in flight is submitted again to the new one."""
    todo = list(tasks)
    context = _pool_context(_preload(work))
    while todo:
        pool = ProcessPoolExecutor(max_workers=min(scheduler.workers, len(todo)), mp_context=context,
                                   max_tasks_per_child=None)
        broken: list[Job] = []
        try:
            futures = {}
            for task in todo:
                futures[pool.submit(work, task, ledger.attempt(task))] = task
            todo = []
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    task = futures.pop(future)
                    error = future.exception()
                    if error is None:
                        ledger.succeeded(task, future.result())
                    elif isinstance(error, BrokenProcessPool):
                        if ledger.died(task, "its worker process died"):
                            broken.append(task)
                    elif ledger.raised(task, error):
                        try:
                            futures[pool.submit(work, task, ledger.attempt(task))] = task
                        except BrokenProcessPool:
                            ledger.attempts[task.key] -= 1
                            broken.append(task)
        except BaseException:  # Ctrl-C, SIGTERM (as Terminated): stop the workers too, do not wait for their runs
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        todo = broken


def _pool_context(preload: list[str]) -> multiprocessing.context.BaseContext:
    """Workers forked from multiprocessing's fork server where there is one (Linux, macOS), else spawned. The
    server is a fresh interpreter that imports `preload` and never opens a database (DuckDB is not fork-safe
    once a database is open), so a worker starts in milliseconds instead of importing dbt itself, and a pool that
    replaces a broken one reuses the same server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return context


def _fork_dask_workers(preload: list[str]) -> None:
    """A LocalCluster's worker processes (a replacement for a dead one too) forked from the same fork server as the
    local pool's (`_pool_context`), with Dask preloaded there as well, instead of spawned: each spawned worker
    imported dbt and Dask itself (2-3 s of CPU). Where there is no fork server, Dask spawns them.
    Set for this process (Dask reads the method whenever it starts a worker process)."""
    import dask
    from distributed.utils import get_mp_context

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    get_mp_context().set_forkserver_preload(["distributed", *preload])  # after Dask's own list, replacing it


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM every worker of the pool: each run stops at its next safe point (as `planwise run` does) and its
    result file is not written, so `--resume` reruns it. The executor keeps its processes in `_processes`."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def _dask(work: Work, tasks: list[Job], scheduler: Scheduler, ledger: Ledger) -> None:
    """The same tasks on a Dask cluster: a LocalCluster of single-threaded worker processes on loopback, or an
    existing scheduler (its workers need the census and --out at the same paths: a shared filesystem)."""
    import logging

    from distributed import Client, LocalCluster, as_completed
    from distributed.scheduler import KilledWorker

    cluster = None
    if scheduler.kind == "local-cluster":
        _fork_dask_workers(_preload(work))
        cluster = LocalCluster(n_workers=scheduler.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
    try:
        with Client(cluster if cluster is not None else scheduler.address) as client:
            pending = as_completed()
            owner: dict[str, Job] = {}

            def submit(task: Job) -> None:
                attempt = ledger.attempt(task)
                future = client.submit(work, task, attempt, key=f"{task.key}-attempt-{attempt}-{os.urandom(3).hex()}",
                                       pure=False, retries=0)
                owner[future.key] = task
                pending.add(future)

            for task in tasks:
                submit(task)
            for future in pending:
                task = owner.pop(future.key)
                if future.status == "finished":
                    ledger.succeeded(task, future.result())
                    continue
                error = future.exception()
                again = (ledger.died(task, f"its Dask worker died ({error})") if isinstance(error, KilledWorker)
                         else ledger.raised(task, error))
                if again:
                    submit(task)
                future.release()
    finally:
        if cluster is not None:
            cluster.close()
