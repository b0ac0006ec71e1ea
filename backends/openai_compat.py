"""Any OpenAI-compatible `/v1/completions` server (vLLM, SGLang, llama.cpp's) as a Backend."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import replace
from typing import Any

import httpx

from backends.chat_template import CHATML_TEMPLATE, ChatTemplate
from backends.errors import BackendBadResponse, BackendError, BackendTimeout, BackendUnavailable, PromptTooLong
from backends.types import ChatMessage, Completion, Sample, SamplingParams, TokenLogprob

_CONTEXT_ERROR = re.compile(r"context length|maximum context|context window|context_length", re.IGNORECASE)
_HEALTH_TIMEOUT_S = 5.0


class OpenAICompatBackend:
    """Raw-prompt completions over HTTP; chat is rendered here with `chat_template` (ChatML by default)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        chat_template: ChatTemplate | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        # Accept both the server root and the OpenAI SDK's ".../v1" form.
        root = base_url.rstrip("/")
        self.base_url = root[: -len("/v1")] if root.endswith("/v1") else root
        self.model = model or ""  # filled from /v1/models on first use when not given
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._template = chat_template or ChatTemplate(CHATML_TEMPLATE)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._discovery = asyncio.Lock()
        self._one_choice_per_request = False  # learnt when a server ignores `n`

    async def resolve_model(self, *, deadline: float | None = None) -> str:
        """The model name sent with every request: the configured one, else the first id of GET /v1/models."""
        if self.model:
            return self.model
        async with self._discovery:
            if not self.model:
                listing = await self._send("GET", "/v1/models", deadline=deadline)
                data = listing.get("data")
                first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
                if not isinstance(first.get("id"), str) or not first["id"]:
                    raise BackendBadResponse(f"{self.base_url}/v1/models lists no model", backend=self.name)
                self.model = first["id"]
        return self.model

    async def render_chat(self, messages: list[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        """The prompt for `messages`; a final assistant message with `add_generation_prompt=False` is continued."""
        return self._template.render(messages, add_generation_prompt=add_generation_prompt)

    async def complete(
        self, prompt: str, *, n: int, params: SamplingParams, deadline: float | None = None
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
            try:
                response = await self._client.get(self.base_url + path, headers=self._headers,
                                                   timeout=min(self.timeout_s, _HEALTH_TIMEOUT_S))
            except Exception:  # any failure means "not healthy", never an error
                return False
            if response.status_code == 200:
                return True
        return False

    async def aclose(self) -> None:
        """Close the HTTP client if this backend created it (an injected one belongs to the caller)."""
        if self._owns_client:
            await self._client.aclose()

    async def _fan_out(self, prompt: str, indices: range, params: SamplingParams,
                       deadline: float | None) -> list[Completion]:
        # A distinct seed per sample, or a seeded server would answer the same text n times.
        calls = [
            asyncio.ensure_future(self._request(
                prompt, 1, params if params.seed is None else replace(params, seed=params.seed + i), deadline))
            for i in indices
        ]
        try:
            return list(await asyncio.gather(*calls))
        except BaseException:
            for call in calls:
                call.cancel()
            raise

    async def _request(self, prompt: str, n: int, params: SamplingParams, deadline: float | None) -> Completion:
        """One POST /v1/completions, parsed; may hold fewer than `n` samples."""
        body: dict[str, Any] = {
            "model": self.model, "prompt": prompt, "n": n, "max_tokens": params.max_tokens,
            "temperature": params.temperature, "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if params.logprobs is not None:
            body["logprobs"] = params.logprobs
        answer = await self._send("POST", "/v1/completions", body=body, deadline=deadline)
        return self._parse(answer, want_logprobs=params.logprobs is not None)

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
            for c, k, lp in zip(choices, counts, logprobs)
        )
        # vLLM and OpenAI count the prompt once per request; ponder counts it once per sample.
        prompt_tokens = _int(usage.get("prompt_tokens"), 0) * len(samples)
        details = usage.get("prompt_tokens_details")
        cached = _int(details.get("cached_tokens"), 0) if isinstance(details, dict) else 0
        return Completion(samples=samples, prompt_tokens=prompt_tokens,
                          cached_tokens=min(cached * len(samples), prompt_tokens), backend=self.name)

    async def _send(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                    deadline: float | None = None) -> dict[str, Any]:
        """One HTTP exchange, retried with exponential backoff on connect errors and 5xx only."""
        failure: BackendError | None = None
        cause: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            timeout = self._timeout(deadline)
            try:
                response = await self._client.request(method, self.base_url + path, json=body,
                                                      headers=self._headers, timeout=timeout)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure, cause = BackendUnavailable(
                    f"cannot reach the backend at {self.base_url} ({type(exc).__name__}: {exc})", backend=self.name
                ), exc
                continue
            except httpx.TimeoutException as exc:
                raise BackendTimeout(f"{self.base_url}{path} did not answer within {timeout:.1f}s",
                                     backend=self.name) from exc
            except httpx.TransportError as exc:  # the server dropped a request it had taken: do not resend
                raise BackendUnavailable(f"the backend at {self.base_url} broke off ({type(exc).__name__}: {exc})",
                                         backend=self.name) from exc
            if response.status_code >= 500:
                failure, cause = self._status_error(response, path), None
                continue
            if not response.is_success:
                raise self._status_error(response, path)
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                raise BackendBadResponse(f"{self.base_url}{path} answered no JSON object: {response.text[:300]!r}",
                                         backend=self.name)
            return answer
        assert failure is not None
        raise failure from cause

    def _timeout(self, deadline: float | None) -> float:
        if deadline is None:
            return self.timeout_s
        left = deadline - time.monotonic()
        if left <= 0:
            raise BackendTimeout(f"the deadline passed before calling {self.base_url}", backend=self.name)
        return min(self.timeout_s, left)

    def _status_error(self, response: httpx.Response, path: str) -> BackendError:
        message, code = _error_detail(response)
        text = f"{self.base_url}{path} answered {response.status_code}: {message}"
        if response.status_code == 400 and (code == "context_length_exceeded" or _CONTEXT_ERROR.search(message)):
            return PromptTooLong(text, backend=self.name)
        if response.status_code == 503:
            return BackendUnavailable(text, backend=self.name)
        return BackendBadResponse(text, backend=self.name)


def _error_detail(response: httpx.Response) -> tuple[str, str | None]:
    """The server's error message and code: OpenAI's {"error": {...}}, vLLM's flat form, or FastAPI's."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase, None
    if not isinstance(body, dict):
        return str(body)[:500], None
    error = body.get("error")
    inner = error if isinstance(error, dict) else body
    message = inner.get("message") or (error if isinstance(error, str) else None) or body.get("detail") or body
    code = inner.get("code")
    return str(message)[:500], code if isinstance(code, str) else None


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
