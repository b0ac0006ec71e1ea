"""SGLang's native `POST /generate` as a Backend.

Prompts go as `text`: SGLang tokenises them and its radix cache matches on the tokens, so a
prompt that extends an earlier one byte for byte reuses its cached prefix. `n > 1` is a warm
call (`max_new_tokens: 0`, what SGLang's own `fork` sends) that puts the prompt in the radix
cache, then one batch request of `n` copies that all hit it. One batch rather than
`sampling_params.n`: each copy gets its own `sampling_seed` (with `n`, every sample would share
one seed and come out the same), and SGLang's docs advise repeating the prompt over `n`."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

from backends.errors import BackendBadResponse
from backends.http_retry import CALL_BASE_S, MIN_TOKENS_PER_S, JsonApi
from backends.server_templates import folder_template
from backends.templates import Renderer, RendersChat, TemplateSlot
from backends.types import Completion, Sample, TokenLogprob
from backends.wire import sglang_fields, sglang_request_fields
from sampling import Sampling

# SGLang's /health runs a one-token generation and waits up to 20 s (SGLANG_HEALTH_CHECK_TIMEOUT).
_HEALTH_TIMEOUT_S = 25.0

log = logging.getLogger("ponder.backends")


class SGLangBackend(RendersChat):
    """Raw-prompt generation over SGLang's native API. Chat is rendered here with `chat_template` when
    one is given, else with the template in the tokenizer folder SGLang serves (when this machine can
    read it), else ChatML with a warning."""

    name = "sglang"

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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model or ""  # filled from /get_model_info on first use when not given
        advice = f"{self.base_url}'s tokenizer folder is not readable here; set PONDER_CHAT_TEMPLATE"
        self._template = TemplateSlot(chat_template, self._folder_template, advice)
        self._api = JsonApi(self.base_url, backend=self.name, api_key=api_key, timeout_s=timeout_s,
                            max_retries=max_retries, backoff_s=backoff_s, client=client,
                            max_in_flight=max_in_flight, call_base_s=call_base_s,
                            min_tokens_per_s=min_tokens_per_s)
        self._discovery = asyncio.Lock()

    async def resolve_model(self, *, deadline: float | None = None) -> str:
        """The configured model name, else `model_path` from GET /get_model_info."""
        if self.model:
            return self.model
        async with self._discovery:
            if not self.model:
                info = await self._api.send_object("GET", "/get_model_info", deadline=deadline)
                path = info.get("model_path")
                if not isinstance(path, str) or not path:
                    raise BackendBadResponse(f"{self.base_url}/get_model_info names no model_path", backend=self.name)
                self.model = path
        return self.model

    async def _folder_template(self) -> Renderer | None:
        try:
            return await folder_template(self._api)
        except BackendBadResponse:
            return None

    async def complete(
        self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None
    ) -> Completion:
        """`n` samples of `prompt` in order; `prompt_tokens` counts the prompt once per sample.

        For `n > 1` the prompt is warmed first; the prompt tokens the warm call computed are not
        counted as cached. Raises BackendTimeout when `deadline` (time.monotonic()) passes."""
        await self.resolve_model(deadline=deadline)
        warm: dict[str, int] | None = None
        body: dict[str, Any]
        if n == 1:
            body = {"text": prompt, "sampling_params": sglang_fields(params, 0)}
        else:
            warm = await self._warm_prefix(prompt, deadline)
            body = {"text": [prompt] * n, "sampling_params": [sglang_fields(params, i) for i in range(n)]}
        body.update(sglang_request_fields(params))
        answer = await self._api.send("POST", "/generate", body=body, deadline=deadline, tokens=n * params.max_tokens)
        outputs = answer if isinstance(answer, list) else [answer]
        if len(outputs) != n or not all(isinstance(o, dict) and isinstance(o.get("text"), str) for o in outputs):
            raise BackendBadResponse(f"{self.base_url}/generate answered {len(outputs)} outputs for n={n} or "
                                     f"one without text: {json.dumps(answer)[:300]}", backend=self.name)
        parsed = [_output(o, params, want_logprobs=params.logprobs is not None) for o in outputs]
        prompt_tokens = sum(p for _, p, _ in parsed)
        cached = sum(c for _, _, c in parsed)
        extra: dict[str, Any] = {}
        if warm is not None:
            computed = max(0, warm["prompt_tokens"] - warm["cached_tokens"])
            cached = max(0, cached - computed)
            extra["prefix_warm"] = warm
        return Completion(samples=tuple(s for s, _, _ in parsed), prompt_tokens=prompt_tokens,
                          cached_tokens=min(cached, prompt_tokens), backend=self.name, extra=extra)

    async def health(self) -> bool:
        """True when GET /health answers 200 (SGLang: 503 while starting or wedged); never raises."""
        return await self._api.status("/health", timeout_s=_HEALTH_TIMEOUT_S) == 200

    async def aclose(self) -> None:
        """Close the HTTP client if this backend created it (an injected one belongs to the caller)."""
        await self._api.aclose()

    async def _warm_prefix(self, prompt: str, deadline: float | None) -> dict[str, int]:
        """Prefill `prompt` into the radix cache without generating; its prompt and cached token counts."""
        answer = await self._api.send_object(
            "POST", "/generate", body={"text": prompt, "sampling_params": {"max_new_tokens": 0, "temperature": 0.0}},
            deadline=deadline, tokens=0)
        raw = answer.get("meta_info")
        meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return {"prompt_tokens": _int(meta.get("prompt_tokens")), "cached_tokens": _int(meta.get("cached_tokens"))}


def _output(item: dict[str, Any], params: Sampling, *, want_logprobs: bool) -> tuple[Sample, int, int]:
    """One /generate output as a Sample, with its prompt and cached prompt token counts."""
    raw = item.get("meta_info")
    meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
    text: str = item["text"]
    finish, matched = _finish(meta.get("finish_reason"))
    if matched is not None and matched in params.stop and text.endswith(matched):
        text = text[: -len(matched)]  # older servers left a stop string that spans tokens in the text
    logprobs = _logprobs(meta) if want_logprobs else None
    if any(isinstance(meta.get(k), (int, float)) and meta[k] < 0
           for k in ("completion_tokens", "prompt_tokens", "cached_tokens")):
        raise BackendBadResponse(f"/generate answered a negative token count: {json.dumps(meta)[:300]}")
    tokens = meta.get("completion_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool):
        tokens = len(logprobs) if logprobs is not None else -(-len(text) // 4)  # ~4 characters a token
    prompt_tokens = _int(meta.get("prompt_tokens"))
    sample = Sample(text=text, completion_tokens=tokens, finish_reason=finish, logprobs=logprobs,
                    stop_reason=matched)
    return sample, prompt_tokens, min(_int(meta.get("cached_tokens")), prompt_tokens)


def _finish(reason: Any) -> tuple[str, str | None]:
    """ponder's finish reason and the stop string that ended the output, from SGLang's
    {"type": "stop"|"length"|"abort", "matched": <token id or stop string>}."""
    if not isinstance(reason, dict):
        return "stop", None
    kind = reason.get("type")
    matched = reason.get("matched")
    if kind == "length":
        return "length", None
    if kind == "abort":
        return "cancelled", None
    return "stop", matched if isinstance(matched, str) else None  # an int is the end-of-turn token


def _logprobs(meta: dict[str, Any]) -> tuple[TokenLogprob, ...]:
    """`output_token_logprobs` and `output_top_logprobs`: [logprob, token_id, token_text] per token."""
    chosen = meta.get("output_token_logprobs")
    tops = meta.get("output_top_logprobs")
    chosen = chosen if isinstance(chosen, list) else []
    tops = tops if isinstance(tops, list) else []
    out: list[TokenLogprob] = []
    for i, entry in enumerate(chosen):
        token, logprob = _entry(entry)
        alternatives = tops[i] if i < len(tops) and isinstance(tops[i], list) else []
        ranked = sorted((_entry(a) for a in alternatives), key=lambda tl: -tl[1])
        out.append(TokenLogprob(token=token, logprob=logprob, top=tuple(ranked)))
    return tuple(out)


def _entry(raw: Any) -> tuple[str, float]:
    """(token text, logprob) from [logprob, token_id, text]; the id stands in when the text was not asked for."""
    if not isinstance(raw, list) or len(raw) < 2:
        return "", float("-inf")
    logprob = float(raw[0]) if isinstance(raw[0], (int, float)) else float("-inf")
    text = raw[2] if len(raw) > 2 and isinstance(raw[2], str) else str(raw[1])
    return text, logprob


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

