"""The one place a `Sampling` becomes llama.cpp sampling: a sampler chain for the batched engine,
the keyword arguments of `Llama.generate` for the simple one."""

from __future__ import annotations

import os
from typing import Any

from sampling import Sampling


def sample_seed(sampling: Sampling, index: int) -> int:
    """The seed of sample `index` of a call: the request's, moved per sample, else a random one."""
    if sampling.seed is not None:
        return (sampling.seed + index) & 0xFFFFFFFF
    return int.from_bytes(os.urandom(4), "little")


PENALTY_WINDOW = 1024  # tokens the penalties count back over (a sample's whole length at the usual caps)


def sampler_chain(lib: Any, sampling: Sampling, index: int, n_vocab: int) -> Any:
    """A new llama.cpp sampler chain for sample `index` (the caller frees it)."""
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    if sampling.frequency_penalty or sampling.presence_penalty:
        # Repeat penalty off (1.0): only OpenAI's two additive penalties.
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_penalties(
            n_vocab, PENALTY_WINDOW, 1.0, sampling.frequency_penalty, sampling.presence_penalty))
    if sampling.greedy:
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        return chain
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(sampling.top_p, 1))
    if sampling.min_p > 0:
        lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_min_p(sampling.min_p, 1))
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(sampling.temperature))
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(sample_seed(sampling, index)))
    return chain


def generate_kwargs(sampling: Sampling) -> dict[str, Any]:
    """`Llama.generate`'s sampling arguments (its seed is set apart, with `sample_seed`)."""
    return {"temp": sampling.temperature, "top_p": sampling.top_p, "top_k": 0 if sampling.temperature > 0 else 1,
            "min_p": sampling.min_p, "repeat_penalty": 1.0, "frequency_penalty": sampling.frequency_penalty,
            "presence_penalty": sampling.presence_penalty}
