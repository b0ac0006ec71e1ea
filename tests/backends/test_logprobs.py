"""Token logprobs from logits: log-softmax values and the top k, best first."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends.logprobs import token_logprob


def test_logprobs_are_a_log_softmax_and_the_top_k_come_best_first():
    logits = np.array([1.0, 3.0, 0.5, 2.0, -1.0, 3.5])
    entry = token_logprob(logits, 3, 3, lambda t: f"<{t}>")
    z = math.log(sum(math.exp(x) for x in logits))
    assert entry.token == "<3>" and entry.logprob == pytest.approx(2.0 - z)
    assert [t for t, _ in entry.top] == ["<5>", "<1>", "<3>"]
    assert [lp for _, lp in entry.top] == pytest.approx([3.5 - z, 3.0 - z, 2.0 - z])
    assert token_logprob(logits, 0, 0, str).top == ()
    assert len(token_logprob(logits, 0, 50, str).top) == 6  # k larger than the vocabulary
