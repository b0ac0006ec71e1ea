"""DeepConf trace confidence: token confidence, the weakest window, and vote weights."""

from __future__ import annotations

import pytest

from backends.types import TokenLogprob
from rewards.confidence import confident_weights, token_confidence, trace_confidence


def tok(*top: float) -> TokenLogprob:
    return TokenLogprob(token="x", logprob=top[0], top=tuple((str(i), lp) for i, lp in enumerate(top)))


SURE = tok(-0.01, -6.0, -8.0)  # one clear next token
UNSURE = tok(-0.7, -0.8, -2.0)  # hesitating between two


def test_a_peaked_distribution_is_more_confident_than_a_flat_one():
    assert token_confidence(SURE) == pytest.approx((0.01 + 6 + 8) / 3)
    assert token_confidence(SURE) > token_confidence(UNSURE)
    # Without alternatives there is no confidence (-log p of the sampled token ranks the other way).
    assert token_confidence(TokenLogprob(token="x", logprob=-0.5)) is None
    assert token_confidence(TokenLogprob(token="x", logprob=-0.5, top=(("x", -0.5),))) is None
    assert trace_confidence([TokenLogprob(token="x", logprob=-0.01)] * 3, window=2) is None


def test_one_confused_stretch_lowers_the_trace_more_than_the_mean_would():
    steady = [SURE] * 20
    stumble = [SURE] * 16 + [UNSURE] * 4
    assert trace_confidence(steady, window=4) == pytest.approx(token_confidence(SURE))
    assert trace_confidence(stumble, window=4) == pytest.approx(token_confidence(UNSURE))
    # Over the whole trace the stumble is diluted; the window finds it.
    assert trace_confidence(stumble, window=20) > trace_confidence(stumble, window=4)
    assert trace_confidence([SURE, UNSURE], window=64) == pytest.approx(
        (token_confidence(SURE) + token_confidence(UNSURE)) / 2)  # shorter than the window: the whole trace
    assert trace_confidence([], window=4) is None


def test_weights_drop_the_least_confident_and_scale_the_rest_around_one():
    weights = confident_weights([10.0, 2.0, 8.0, None, 6.0], keep=0.75)  # keeps 3 of the 4 known
    assert weights[1] == 0.0 and weights[3] == 1.0
    assert weights[0] == pytest.approx(10 / 8) and weights[2] == pytest.approx(1.0)
    assert weights[4] == pytest.approx(6 / 8)
    assert confident_weights([3.0], keep=0.1) == [1.0]  # at least one trace is kept
    assert confident_weights([4.0, 3.0, 2.0, 1.0], keep=0.9).count(0.0) == 0  # 3.6 traces round up to 4
    assert confident_weights([None, None], keep=0.5) == [1.0, 1.0]
