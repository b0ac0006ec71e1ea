"""Math equivalence by math-verify, off the event loop and bounded in time.

math-verify's own timeouts use signal.alarm, which fails outside the main thread, so
they are switched off and each check runs in a killable worker process (rewards.worker).
"""

from __future__ import annotations

from rewards.extraction import normalize_answer
from rewards.worker import KillableWorker


def _verify(gold: str, pred: str) -> bool:
    import logging

    from math_verify import parse, verify

    # It warns once per process that its own timeouts are off: the caller bounds the time.
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    def wrap(s: str) -> str:  # parse reads LaTeX math
        return s if "$" in s or "\\" in s else f"${s}$"

    parsed_gold = parse(wrap(gold), parsing_timeout=None)
    parsed_pred = parse(wrap(pred), parsing_timeout=None)
    if not parsed_gold or not parsed_pred:
        return False
    return bool(verify(parsed_gold, parsed_pred, timeout_seconds=None))


class MathEquivalence:
    """`await equivalent(gold, pred)`: True when math-verify finds them equal within `timeout_s`.
    Its `worker` is the server's verifier process pool (other CPU-bound checks share it)."""

    def __init__(self, *, timeout_s: float = 5.0, workers: int = 1, worker: KillableWorker | None = None) -> None:
        self.timeout_s = timeout_s
        self.worker = worker or KillableWorker(processes=workers)

    async def equivalent(self, gold: str, pred: str) -> bool:
        if normalize_answer(gold) == normalize_answer(pred):
            return True
        try:
            return await self.worker.run(_verify, gold, pred, timeout_s=self.timeout_s, preload=("math_verify",))
        except Exception:
            return False  # a timeout, a crashed worker or an unparsable answer: not shown equal

    async def aclose(self) -> None:
        await self.worker.aclose()
