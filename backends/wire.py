"""The one place a `Sampling` becomes an HTTP server's sampling fields."""

from __future__ import annotations

from typing import Any

from sampling import Sampling


def completions_fields(sampling: Sampling) -> dict[str, Any]:
    """`/v1/completions` fields (OpenAI; vLLM's and llama.cpp server's extensions sent only when set)."""
    out: dict[str, Any] = {"max_tokens": sampling.max_tokens, "temperature": sampling.temperature,
                           "top_p": sampling.top_p}
    if sampling.min_p > 0:
        out["min_p"] = sampling.min_p
    if sampling.seed is not None:
        out["seed"] = sampling.seed
    if sampling.stop:
        out["stop"] = list(sampling.stop)
    if sampling.logprobs is not None:
        out["logprobs"] = sampling.logprobs
    out.update(_penalties(sampling))
    return out


def _penalties(sampling: Sampling) -> dict[str, float]:
    """OpenAI's penalty fields, sent only when set (vLLM, SGLang and llama.cpp's server take both)."""
    fields = {"frequency_penalty": sampling.frequency_penalty, "presence_penalty": sampling.presence_penalty}
    return {name: value for name, value in fields.items() if value}


def sglang_fields(sampling: Sampling, index: int) -> dict[str, Any]:
    """SGLang's `sampling_params` for sample `index`: a distinct seed per sample, stop strings trimmed."""
    out: dict[str, Any] = {"max_new_tokens": sampling.max_tokens, "temperature": sampling.temperature,
                           "top_p": sampling.top_p}
    if sampling.min_p > 0:
        out["min_p"] = sampling.min_p
    if sampling.stop:
        out.update(stop=list(sampling.stop), no_stop_trim=False)
    if sampling.seed is not None:
        out["sampling_seed"] = sampling.seed + index
    out.update(_penalties(sampling))
    return out


def sglang_request_fields(sampling: Sampling) -> dict[str, Any]:
    """SGLang's request-level fields (beside `sampling_params`) that a `Sampling` asks for."""
    if sampling.logprobs is None:
        return {}
    return {"return_logprob": True, "top_logprobs_num": sampling.logprobs, "return_text_in_logprobs": True}
