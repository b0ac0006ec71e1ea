"""OpenAI's frequency and presence penalties reach every backend's wire format, only when set."""

from __future__ import annotations

from backends.wire import completions_fields, sglang_fields
from sampling import Sampling


def test_penalties_are_sent_when_set_and_left_out_when_not() -> None:
    plain = Sampling(max_tokens=8)
    assert "frequency_penalty" not in completions_fields(plain) and "presence_penalty" not in sglang_fields(plain, 0)
    penalised = Sampling(max_tokens=8, frequency_penalty=0.3, presence_penalty=-0.5)
    assert completions_fields(penalised)["frequency_penalty"] == 0.3
    assert completions_fields(penalised)["presence_penalty"] == -0.5
    assert sglang_fields(penalised, 1)["frequency_penalty"] == 0.3
