"""Worker processes for the CPU-bound stages (extraction and classification), and how they fail.

Start method: forkserver, chosen because a worker must start clean inside any task process (Airflow's Local,
Celery or Kubernetes executor, or ``newsflow run``): a plain fork would copy the task's running threads'
locks (fetch threads, Airflow's supervisor link) into the child, and spawn would re-import everything for
every worker. The server is started once per process, imports and warms the extraction and classification
code (``PRELOAD``), and forks each worker from that single-threaded, warm state. Neither the server nor its
workers import the parent's ``__main__`` (see :mod:`newsflow.workers.preload`): under Airflow that is the
``airflow`` command, and importing it inside a task process initialises Airflow and fails.

:class:`WorkerPool` never hangs and never loses a call: a pool whose workers cannot start is noticed at once
(a ping) and the calls run in this process instead; a worker that dies mid-batch is replaced by a fresh pool
and its calls are retried there once; a call that runs past its time limit has its workers killed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import Any, TypeVar

from newsflow.config import Settings

LOGGER = logging.getLogger(__name__)
PRELOAD = ["newsflow.workers.preload", "newsflow.articles.stage", "newsflow.topics.stage"]
START_TIMEOUT_S = 60.0  # a fresh pool's first answer; a server importing trafilatura takes a few seconds
MAX_RESTARTS = 2  # fresh pools after workers died; then the rest of the batch runs in this process
IN_PROCESS = threading.Lock()
"""One in-process extraction or classification at a time: trafilatura shares compiled lxml XPath objects
between calls, and two threads extracting at once crashed the interpreter (a segmentation fault). The work is
CPU-bound under the GIL anyway, so serialising it costs no throughput."""

T = TypeVar("T")


class WorkerCrashed(RuntimeError):
    """The worker process running this call died, twice (or once, with no fresh worker left to retry on)."""


class WorkerTimeout(RuntimeError):
    """This call ran past the pool's time limit; its worker processes were killed."""


TASK_SLOTS_ENV = "NEWSFLOW_TASK_SLOTS"
"""How many tasks may run at once on this host (a Celery worker's ``--concurrency``; default 1): with
``extract_workers: 0`` each task then starts its share of the cores, not a process per core of its own."""


def task_slots() -> int:
    """``$NEWSFLOW_TASK_SLOTS`` (at least 1; 1 when unset or not a whole number, with a warning then)."""
    raw = os.environ.get(TASK_SLOTS_ENV, "").strip()
    if not raw:
        return 1
    try:
        return max(1, int(raw))
    except ValueError:
        LOGGER.warning("%s=%r is not a whole number: taken as 1", TASK_SLOTS_ENV, raw)
        return 1


def cpu_workers(settings: Settings) -> int:
    """``extract_workers`` processes; when it is 0, the host's cores shared among the tasks that may run on it
    at once (:func:`task_slots`), at least one."""
    if settings.extract_workers:
        return settings.extract_workers
    return max(1, (os.cpu_count() or 1) // task_slots())


def worker_count(settings: Settings, items: int, min_items: int) -> int:
    """Processes for ``items`` work items: :func:`cpu_workers`, or 1 (in-process) below ``min_items``,
    where starting processes would cost more than it saves."""
    wanted = cpu_workers(settings)
    return wanted if wanted > 1 and items >= min_items else 1


class _TrackedContext(ForkServerContext):
    """The forkserver context, remembering the processes it starts so that a stuck pool can be killed."""

    def __init__(self) -> None:
        self.started: list[ForkServerProcess] = []
        self.set_forkserver_preload(PRELOAD)

    def Process(self, *args: Any, **kwargs: Any) -> ForkServerProcess:  # type: ignore[override]  # noqa: N802
        process = ForkServerProcess(*args, **kwargs)
        self.started.append(process)
        return process


def _ping() -> int:
    return os.getpid()


@dataclass
class _Generation:
    """One ProcessPoolExecutor and the processes it started; replaced whole when it breaks."""

    number: int
    executor: ProcessPoolExecutor
    context: _TrackedContext
    retired: bool = False

    def kill(self) -> None:
        for process in self.context.started:
            if process.is_alive():
                process.kill()


@dataclass
class PoolStats:
    restarts: int = 0  # pools retired after a worker died or a call ran past its limit
    fallback: str | None = None  # why the calls went in-process, if they did


class WorkerPool:
    """``workers`` processes for module-level functions (they pickle by name), with recovery.

    ``call`` is thread-safe: the fetch threads share one pool. ``initializer(*initargs)`` runs in every
    worker as it starts, and once in this process if the calls fall back to it.
    """

    def __init__(
        self,
        workers: int,
        *,
        name: str = "worker",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        call_timeout_s: float | None = None,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self.workers = workers
        self.name = name
        self.call_timeout_s = call_timeout_s
        self.max_restarts = max_restarts
        self.stats = PoolStats()
        self._initializer = initializer
        self._initargs = initargs
        self._lock = threading.Lock()
        self._current: _Generation | None = None
        self._generations = 0
        self._in_process = False
        self._closed = False

    # -- public ----------------------------------------------------------------------------------------

    @property
    def in_process(self) -> bool:
        return self._in_process

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker; in this process only if the workers could not be started at all."""
        died_under = 0  # pools that broke while this call ran in them
        while True:
            gen = self._generation()
            if gen is None:
                if died_under:  # it may be what killed them: never risk this process on it
                    raise WorkerCrashed(
                        f"the {self.name} process running this call died and no fresh one is left to retry on"
                    )
                with IN_PROCESS:
                    return fn(*args)
            try:
                future = gen.executor.submit(fn, *args)
            except BrokenProcessPool as exc:  # broken before this call reached it
                self._retire(gen, f"{exc}")
                continue
            try:
                return _result(future, self.call_timeout_s)
            except BrokenProcessPool as exc:
                died_under += 1
                self._retire(gen, f"a {self.name} process died mid-batch ({exc})")
                if died_under >= 2:
                    raise WorkerCrashed(f"the {self.name} process running this call died twice") from exc
            except FutureTimeout:
                self._retire(gen, f"a call ran past {self.call_timeout_s:g} s", kill=True)
                raise WorkerTimeout(
                    f"{self.name} call ran past {self.call_timeout_s:g} s; its processes were killed"
                ) from None

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> list[T]:
        """``[fn(*args) ...]`` in input order, over the workers; each call recovers as ``call`` does."""
        calls: Sequence[tuple[Any, ...]] = list(zip(*iterables, strict=True))
        if not calls:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(calls)))) as threads:
            return list(threads.map(lambda args: self.call(fn, *args), calls))

    def close(self) -> None:
        """Stop the workers; a worker that does not stop within seconds is killed (never a hang)."""
        with self._lock:
            self._closed = True
            gen, self._current = self._current, None
        if gen is not None:
            _stop(gen)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generations -----------------------------------------------------------------------------------

    def _generation(self) -> _Generation | None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} pool is closed")
            if self._in_process:
                return None
            if self._current is not None:
                return self._current
            self._generations += 1
            gen = _Generation(
                self._generations,
                ProcessPoolExecutor(
                    self.workers,
                    mp_context=(context := _TrackedContext()),
                    initializer=self._initializer,
                    initargs=self._initargs,
                ),
                context,
            )
            try:
                gen.executor.submit(_ping).result(timeout=START_TIMEOUT_S)  # fail fast: can a worker start?
            except Exception as exc:  # BrokenProcessPool, a dead forkserver, a start-up time-out
                _stop(gen)
                self._fall_back(f"{self.name} processes could not start ({type(exc).__name__}: {exc})")
                return None
            self._current = gen
            LOGGER.info(
                "%s workers: %d processes (forkserver, pool %d)", self.name, self.workers, self._generations
            )
            return self._current

    def _retire(self, gen: _Generation, reason: str, *, kill: bool = False) -> None:
        with self._lock:
            if gen.retired:
                return
            gen.retired = True
            if self._current is gen:
                self._current = None
            self.stats.restarts += 1
            if kill:
                gen.kill()
            if self.stats.restarts > self.max_restarts:
                self._fall_back(f"{reason}; {self.stats.restarts - 1} fresh pools broke too")
            else:
                LOGGER.warning("%s pool %d broken: %s; starting a fresh one", self.name, gen.number, reason)
        _stop(gen)

    def _fall_back(self, reason: str) -> None:
        """Run the rest in this process (caller holds the lock)."""
        self._in_process = True
        self.stats.fallback = reason
        LOGGER.error("%s: running the rest of the batch in this process", reason)
        if self._initializer is not None:
            self._initializer(*self._initargs)


def _result(future: Future[T], timeout_s: float | None) -> T:
    """The call's result, its time limit counted once it left the queue for a worker (a call waiting behind
    others is not late). The executor hands a worker at most one call more than it has workers, so a running
    call has started or is next."""
    while True:
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            if future.running():
                raise


def _stop(gen: _Generation, grace_s: float = 10.0) -> None:
    gen.executor.shutdown(wait=False, cancel_futures=True)
    for process in gen.context.started:
        if process.pid is not None:
            process.join(grace_s)
    gen.kill()
