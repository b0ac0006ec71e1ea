"""Any OpenAI-compatible `/v1/completions` server (vLLM, SGLang, llama.cpp's) as a Backend."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

from backends.errors import BackendBadResponse
from backends.http_retry import CALL_BASE_S, MIN_TOKENS_PER_S, JsonApi, server_root
from backends.server_templates import server_template
from backends.templates import Renderer, RendersChat, TemplateSlot
from backends.token_prompts import TokenPrompts
from backends.types import Completion, Sample, TokenLogprob
from backends.wire import completions_fields
from sampling import Sampling

_HEALTH_TIMEOUT_S = 5.0

log = logging.getLogger("ponder.backends")


class OpenAICompatBackend(RendersChat):
    """Raw-prompt completions over HTTP. Chat is rendered with `chat_template` when one is given, else
    with the server's own template (backends/templates.py: llama-server's /props, vLLM's /tokenize),
    else ChatML with a warning."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        chat_template: Renderer | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
        max_in_flight: int | None = None,
        call_base_s: float = CALL_BASE_S,
        min_tokens_per_s: float = MIN_TOKENS_PER_S,
        token_prompts: bool = False,
    ) -> None:
        self.base_url = server_root(base_url)
        self.model = model or ""  # filled from /v1/models on first use when not given
        self.timeout_s = timeout_s
        self._template = TemplateSlot(chat_template, self._server_template,
                                      f"{self.base_url} shows no chat template; set PONDER_CHAT_TEMPLATE")
        self._api = JsonApi(self.base_url, backend=self.name, api_key=api_key, timeout_s=timeout_s,
                            max_retries=max_retries, backoff_s=backoff_s, client=client,
                            max_in_flight=max_in_flight, call_base_s=call_base_s,
                            min_tokens_per_s=min_tokens_per_s)
        self._client = self._api.client
        self._discovery = asyncio.Lock()
        self._one_choice_per_request = False  # learnt when a server ignores `n`
        self.token_prompts = (TokenPrompts(self._api, lambda: self.model, writes_bos=self._writes_bos)
                              if token_prompts else None)

    async def resolve_model(self, *, deadline: float | None = None) -> str:
        """The model name sent with every request: the configured one, else the first id of GET /v1/models."""
        if self.model:
            return self.model
        async with self._discovery:
            if not self.model:
                listing = await self._api.send_object("GET", "/v1/models", deadline=deadline)
                data = listing.get("data")
                first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
                if not isinstance(first.get("id"), str) or not first["id"]:
                    raise BackendBadResponse(f"{self.base_url}/v1/models lists no model", backend=self.name)
                self.model = first["id"]
        return self.model

    async def _server_template(self) -> Renderer | None:
        await self.resolve_model()
        return await server_template(self._api, lambda: self.model)

    async def complete(
        self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None
    ) -> Completion:
        """`n` samples of `prompt`, ordered by choice index; `prompt_tokens` counts the prompt once per sample.

        Servers that ignore `n` (llama-cpp-python's) are asked again, one sample per request.
        Raises BackendTimeout when `deadline` (time.monotonic()) passes before the answer."""
        await self.resolve_model(deadline=deadline)
        if n > 1 and self._one_choice_per_request:
            parts = await self._fan_out(prompt, range(n), params, deadline)
        else:
            parts = [await self._request(prompt, n, params, deadline)]
            got = len(parts[0].samples)
            if got < n:
                self._one_choice_per_request = got == 1
                parts += await self._fan_out(prompt, range(got, n), params, deadline)
        return Completion(
            samples=tuple(s for part in parts for s in part.samples),
            prompt_tokens=sum(p.prompt_tokens for p in parts),
            cached_tokens=sum(p.cached_tokens for p in parts),
            backend=self.name,
        )

    async def health(self) -> bool:
        """True when GET /health (or, lacking it, GET /v1/models) answers 200; never raises."""
        for path in ("/health", "/v1/models"):
            status = await self._api.status(path, timeout_s=_HEALTH_TIMEOUT_S)
            if status is None:
                return False
            if status == 200:
                return True
        return False

    async def aclose(self) -> None:
        """Close the HTTP client if this backend created it (an injected one belongs to the caller)."""
        await self._api.aclose()

    async def _fan_out(self, prompt: str, indices: range, params: Sampling,
                       deadline: float | None) -> list[Completion]:
        # A distinct seed per sample, or a seeded server would answer the same text n times.
        calls = [
            asyncio.ensure_future(self._request(
                prompt, 1, params.seeded(i), deadline))
            for i in indices
        ]
        try:
            return list(await asyncio.gather(*calls))
        except BaseException:
            for call in calls:
                call.cancel()
            raise

    async def _request(self, prompt: str, n: int, params: Sampling, deadline: float | None) -> Completion:
        """One POST /v1/completions, parsed; may hold fewer than `n` samples."""
        ids = await self.token_prompts.ids(prompt, deadline=deadline) if self.token_prompts else None
        body: dict[str, Any] = {"model": self.model, "prompt": prompt if ids is None else ids, "n": n,
                                **completions_fields(params)}
        if ids is None and self._writes_bos(prompt):
            body["add_special_tokens"] = False  # the template wrote the BOS token; vLLM would add a second
        # Bounded by what n samples of max_tokens should take, not only the whole-exchange cut.
        answer = await self._api.send_object("POST", "/v1/completions", body=body, deadline=deadline,
                                             tokens=n * params.max_tokens)
        return self._parse(answer, want_logprobs=params.logprobs is not None)

    def _writes_bos(self, prompt: str) -> bool:
        bos = self._template.bos_token
        return bool(bos) and prompt.startswith(bos)

    def _parse(self, answer: dict[str, Any], *, want_logprobs: bool) -> Completion:
        raw = answer.get("choices")
        if not isinstance(raw, list) or not raw or not all(
            isinstance(c, dict) and isinstance(c.get("text"), str) for c in raw
        ):
            raise BackendBadResponse(f"{self.base_url}/v1/completions answered without choices: "
                                     f"{json.dumps(answer)[:300]}", backend=self.name)
        choices = [c for _, c in sorted(enumerate(raw), key=lambda ic: (_int(ic[1].get("index"), ic[0]), ic[0]))]
        logprobs = [_logprobs(c.get("logprobs")) if want_logprobs else None for c in choices]
        raw_usage = answer.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        details = usage.get("prompt_tokens_details")
        reported = [usage.get("completion_tokens"), usage.get("prompt_tokens"),
                    details.get("cached_tokens") if isinstance(details, dict) else None]
        if any(isinstance(c, (int, float)) and c < 0 for c in reported):
            raise BackendBadResponse(f"{self.base_url}/v1/completions answered a negative token count: "
                                     f"{json.dumps(usage)[:300]}", backend=self.name)
        total = usage.get("completion_tokens")
        if all(lp is not None for lp in logprobs):
            weights = [len(lp or ()) for lp in logprobs]
        else:
            # No usage at all: about 4 characters a token, so the budget still moves.
            weights = [len(c["text"]) if isinstance(total, int) else -(-len(c["text"]) // 4) for c in choices]
        # usage counts all choices together: split it so per-sample counts sum to it exactly.
        counts = _split(total, weights) if isinstance(total, int) else weights
        samples = tuple(
            Sample(
                text=c["text"], completion_tokens=k, finish_reason=_finish(c.get("finish_reason")),
                logprobs=lp, stop_reason=c.get("stop_reason") if isinstance(c.get("stop_reason"), str) else None,
            )
            for c, k, lp in zip(choices, counts, logprobs, strict=True)
        )
        # vLLM and OpenAI count the prompt once per request; ponder counts it once per sample.
        prompt_tokens = _int(usage.get("prompt_tokens"), 0) * len(samples)
        cached = _int(details.get("cached_tokens"), 0) if isinstance(details, dict) else 0
        return Completion(samples=samples, prompt_tokens=prompt_tokens,
                          cached_tokens=min(cached * len(samples), prompt_tokens), backend=self.name)


def _logprobs(raw: Any) -> tuple[TokenLogprob, ...] | None:
    """The legacy completions format: parallel lists `tokens`, `token_logprobs`, `top_logprobs`."""
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens"), list):
        return None
    chosen = raw.get("token_logprobs") or []
    tops = raw.get("top_logprobs") or []
    out: list[TokenLogprob] = []
    for i, token in enumerate(raw["tokens"]):
        top = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        ranked = sorted(((str(t), _logprob(lp)) for t, lp in top.items()), key=lambda tl: -tl[1])
        out.append(TokenLogprob(token=str(token), logprob=_logprob(chosen[i] if i < len(chosen) else None),
                                top=tuple(ranked)))
    return tuple(out)


def _split(total: int, weights: list[int]) -> list[int]:
    """Non-negative integers proportional to `weights` that sum to `total` exactly (largest remainder)."""
    if sum(weights) == 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _finish(reason: Any) -> str:
    # vLLM says "abort" for a request it dropped; ponder's word is "cancelled".
    return "cancelled" if reason == "abort" else reason if isinstance(reason, str) else "stop"


def _logprob(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("-inf")


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
