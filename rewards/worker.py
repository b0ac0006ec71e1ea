"""A process pool whose calls have a time limit: a stuck or crashed worker is killed, not waited for.

CPU-bound checks on client-controlled input (a JSON Schema, a math expression) run here, so that
neither a slow check nor a catastrophic one can hold the event loop or outlive its time limit.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerTimeout(TimeoutError):
    """A call ran past its time limit; its worker was killed."""


class WorkerCrashed(RuntimeError):
    """The worker process died (or was killed) before the call returned."""


def _import_modules(*modules: str) -> None:
    """Imports `modules` in a worker process, so that a call's time limit does not pay for them."""
    for name in modules:
        importlib.import_module(name)


class KillableWorker:
    """`await run(fn, *args, timeout_s=...)`: fn(*args) in a worker process, or WorkerTimeout /
    WorkerCrashed; an exception fn raises comes back as itself. fn and its arguments must pickle."""

    def __init__(self, *, processes: int = 1, startup_timeout_s: float = 60.0) -> None:
        self.processes = processes
        self.startup_timeout_s = startup_timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self._warmed: dict[tuple[str, ...], Future[None]] = {}
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the server has threads (the engine's) that fork would copy mid-flight
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
            self._warmed = {}
        return self._pool

    def _semaphore(self) -> asyncio.Semaphore:
        # One slot per process: a call's clock starts when it runs, not while it queues behind a slow one.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.processes))
        return self._slots[1]

    async def _warm_up(self, pool: ProcessPoolExecutor, modules: tuple[str, ...]) -> None:
        ready = self._warmed.get(modules)
        if ready is None:
            ready = self._warmed[modules] = pool.submit(_import_modules, *modules)
        try:
            # shielded: one caller giving up must not cancel the warm-up others wait on
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(ready)), self.startup_timeout_s)
        except TimeoutError:
            self._discard(pool)
            raise WorkerCrashed(f"the worker did not start within {self.startup_timeout_s:g} s") from None

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float, preload: tuple[str, ...] = ()) -> T:
        """fn(*args) in a worker, given at most `timeout_s` once it starts. `preload` names modules
        (beyond fn's own) to import before the clock starts. Never blocks the event loop."""
        async with self._semaphore():
            pool = self._executor()
            call: Future[T] | None = None
            try:
                await self._warm_up(pool, (fn.__module__, *preload))
                call = pool.submit(fn, *args)
                return await asyncio.wait_for(asyncio.wrap_future(call), timeout_s)
            except TimeoutError:
                self._discard(pool)
                raise WorkerTimeout(f"timed out after {timeout_s:g} s") from None
            except BrokenProcessPool:
                self._discard(pool)
                raise WorkerCrashed("the worker process died") from None
            except asyncio.CancelledError:
                if call is not None and not call.done():  # a queued call was cancelled; a running one cannot be
                    self._discard(pool)  # so its worker is killed instead
                raise

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is not pool:
            return  # another call already replaced it
        self._pool, self._warmed = None, {}
        _kill(pool)

    async def aclose(self) -> None:
        """Kills the worker processes (a call in flight fails); the next run starts fresh ones."""
        pool, self._pool, self._warmed = self._pool, None, {}
        if pool is not None:
            _kill(pool)


def _kill(pool: ProcessPoolExecutor) -> None:
    # shutdown() alone waits for a running call to end, which a stuck one never does
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
