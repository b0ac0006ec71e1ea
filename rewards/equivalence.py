"""Math equivalence by math-verify, off the event loop and bounded in time.

math-verify's own timeouts use signal.alarm, which fails outside the main thread, so
they are switched off and each check runs in a worker process under asyncio's timeout.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from rewards.extraction import normalize_answer


def _verify(gold: str, pred: str) -> bool:
    import logging

    from math_verify import parse, verify

    # It warns once per process that its own timeouts are off: the caller bounds the time.
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    wrap = lambda s: s if "$" in s or "\\" in s else f"${s}$"  # noqa: E731 - parse reads LaTeX math
    parsed_gold = parse(wrap(gold), parsing_timeout=None)
    parsed_pred = parse(wrap(pred), parsing_timeout=None)
    if not parsed_gold or not parsed_pred:
        return False
    return bool(verify(parsed_gold, parsed_pred, timeout_seconds=None))


class MathEquivalence:
    """`await equivalent(gold, pred)`: True when math-verify finds them equal."""

    def __init__(self, *, timeout_s: float = 5.0, workers: int = 1) -> None:
        self.timeout_s = timeout_s
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the server has threads (the engine's) that fork would copy mid-flight
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    async def equivalent(self, gold: str, pred: str) -> bool:
        if normalize_answer(gold) == normalize_answer(pred):
            return True
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor(), _verify, gold, pred), self.timeout_s)
        except (TimeoutError, BrokenProcessPool):
            self._discard_pool()  # a crashed or stuck worker: the next check gets a fresh one
            return False
        except Exception:
            return False

    def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
