"""One sampled continuation in flight, and the request it belongs to."""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backends.types import Sample, TokenLogprob
from sampling import Sampling


class Status(enum.Enum):
    WAITING = "waiting"  # not yet given a slot
    PREFILL = "prefill"  # evaluating its prompt suffix, a chunk per step
    DECODE = "decode"  # one new token per step
    FINISHED = "finished"


@dataclass(eq=False)
class Request:
    """A call of `n` samples; `done` is called once, on the engine thread, with the result."""

    prompt: list[int]
    n: int
    params: Sampling
    deadline: float | None
    done: Callable[[list[Sample] | None, Exception | None, int], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    samples: list[Sample | None] = field(default_factory=list)
    cached: int = 0
    failed: Exception | None = None

    def __post_init__(self) -> None:
        self.samples = [None] * self.n


@dataclass(eq=False)
class Sequence:
    request: Request
    index: int  # which of the request's n samples
    slot: int = -1
    status: Status = Status.WAITING
    evaluated: int = 0  # tokens of `tokens` already in the KV cache
    reused: int = 0  # prompt tokens served from the cache (forked or kept)
    tokens: list[int] = field(default_factory=list)  # prompt, then generated
    generated: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    text: str = ""
    stop_reason: str | None = None
    finish_reason: str = "length"
    sampler: Any = None
    batch_index: int = -1  # where this sequence's logits are in the current batch (-1: none)
    in_batch: bool = False  # whether this step's batch holds any token of this sequence
    pending: int = 0  # prefill: how far the prompt will be evaluated after this step

    def __post_init__(self) -> None:
        self.tokens = list(self.request.prompt)

    @property
    def prompt_len(self) -> int:
        return len(self.request.prompt)
