"""Token logprobs from a row of logits (the embedded engines)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from backends.types import TokenLogprob


def token_logprob(logits: Any, token: int, top_k: int, piece: Callable[[int], str]) -> TokenLogprob:
    """log p(token) and the `top_k` most likely tokens, best first, under softmax(logits).

    argpartition finds the top k in linear time (a full sort of a 150k vocabulary per
    generated token would cost more than the sampling)."""
    import numpy as np

    shifted = logits - logits.max()
    log_z = math.log(float(np.exp(shifted).sum()))
    top: list[int] = []
    if top_k > 0:
        k = min(int(top_k), shifted.shape[0])
        part = np.argpartition(-shifted, k - 1)[:k]
        top = [int(t) for t in part[np.argsort(-shifted[part])]]
    return TokenLogprob(token=piece(token), logprob=float(shifted[token] - log_z),
                        top=tuple((piece(t), float(shifted[t] - log_z)) for t in top))
