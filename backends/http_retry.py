"""One server's JSON API over httpx: retries with backoff, deadlines, and failures as typed BackendErrors.

Shared by the HTTP backends (OpenAI-compatible, SGLang native) so that they fail the same way."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import httpx

from backends.connection_pool import async_client
from backends.errors import BackendBadResponse, BackendError, BackendTimeout, BackendUnavailable, PromptTooLong

# The search a call belongs to, set by the gateway for the task running the search (asyncio tasks
# inherit it). Sent as `X-Session-ID`, so a fleet router's session affinity (vllm-router's
# consistent_hash, SGLang's routing key) keeps every call of one search on one engine and its cache.
SEARCH_SESSION: ContextVar[str | None] = ContextVar("ponder_search_session", default=None)
# Headers of the client's request that every backend call of it carries (its request id, a W3C
# traceparent), set by the gateway per request, so one request can be followed across a fleet.
FORWARDED_HEADERS: ContextVar[dict[str, str] | None] = ContextVar("ponder_forwarded_headers", default=None)

_CONTEXT_ERROR = re.compile(r"context length|maximum context|context window|context_length", re.IGNORECASE)

# Defaults of the bound on one generation call (docs/operations.md): a server gets CALL_BASE_S for
# queueing and the prompt, then must keep up MIN_TOKENS_PER_S over the tokens it may generate; a CPU
# server at about 5 tokens/s passes with room to spare.
CALL_BASE_S = 30.0
MIN_TOKENS_PER_S = 2.0


def generation_timeout(tokens: int, *, base_s: float, min_tokens_per_s: float, cap_s: float) -> float:
    """The most time one call that may generate `tokens` tokens (all its samples together) is allowed:
    `base_s + tokens / min_tokens_per_s`, never more than `cap_s` (the whole-exchange cut)."""
    return min(cap_s, base_s + max(0, tokens) / min_tokens_per_s)


def server_root(base_url: str) -> str:
    """A server's root from its URL as clients write it: the OpenAI SDK's ".../v1" form or the root itself."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


class JsonApi:
    """JSON requests to `base_url`; connect errors and 5xx are retried, everything else raised at once."""

    def __init__(
        self,
        base_url: str,
        *,
        backend: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
        max_in_flight: int | None = None,
        call_base_s: float = CALL_BASE_S,
        min_tokens_per_s: float = MIN_TOKENS_PER_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.backend = backend  # the name errors carry
        # At most this many requests at the server at once, from every search together: the
        # engine batches what it gets, and a flood only queues there, out of our sight.
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self.timeout_s = timeout_s
        self.call_base_s = call_base_s
        self.min_tokens_per_s = min_tokens_per_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.owns_client = client is None
        self.client = client or async_client(timeout_s=timeout_s)

    async def send(self, method: str, path: str, *, body: Any = None, deadline: float | None = None,
                   tokens: int | None = None) -> Any:
        """The parsed JSON object or array of one exchange, retried with exponential backoff on
        connect errors and 5xx only. Raises BackendTimeout when `deadline` (time.monotonic()) passes,
        or, for a call that may generate `tokens` tokens, when it outlasts `generation_timeout`."""
        limit = self.timeout_s if tokens is None else generation_timeout(
            tokens, base_s=self.call_base_s, min_tokens_per_s=self.min_tokens_per_s, cap_s=self.timeout_s)
        failure: BackendError | None = None
        cause: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                pause = self.backoff_s * 2 ** (attempt - 1)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    break  # no time left for another try: the last failure stands
                await asyncio.sleep(pause)
            try:
                async with self._slot(deadline):
                    timeout = min(limit, self._timeout(deadline))
                    # The whole exchange, not each read: a server dripping a byte at a time cannot hold a call.
                    response = await asyncio.wait_for(
                        self.client.request(method, self.base_url + path, json=body, headers=self._headers(),
                                            timeout=timeout), timeout)
            except TimeoutError as exc:
                raise BackendTimeout(f"{self.base_url}{path} did not answer within {timeout:.1f}s"
                                     f"{self._bound_note(tokens, timeout)}", backend=self.backend) from exc
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure, cause = BackendUnavailable(
                    f"cannot reach the backend at {self.base_url} ({type(exc).__name__}: {exc})", backend=self.backend
                ), exc
                continue
            except httpx.TimeoutException as exc:
                raise BackendTimeout(f"{self.base_url}{path} did not answer within {timeout:.1f}s"
                                     f"{self._bound_note(tokens, timeout)}", backend=self.backend) from exc
            except httpx.TransportError as exc:  # the server dropped a request it had taken: do not resend
                raise BackendUnavailable(f"the backend at {self.base_url} broke off ({type(exc).__name__}: {exc})",
                                         backend=self.backend) from exc
            if response.status_code >= 500:
                failure, cause = self._status_error(response, path), None
                continue
            if not response.is_success:
                raise self._status_error(response, path)
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, (dict, list)):
                raise BackendBadResponse(f"{self.base_url}{path} answered no JSON object: {response.text[:300]!r}",
                                         backend=self.backend)
            return answer
        assert failure is not None
        raise failure from cause

    def _bound_note(self, tokens: int | None, timeout: float) -> str:
        """Why a generation call had `timeout`, when its token-rate bound set it (an operator tunes that)."""
        if tokens is None or timeout >= self.timeout_s:
            return ""
        return (f" ({self.call_base_s:g} s + {tokens} tokens at {self.min_tokens_per_s:g} tokens/s, "
                f"or the search's deadline)")

    def _headers(self) -> dict[str, str]:
        session, forwarded = SEARCH_SESSION.get(), FORWARDED_HEADERS.get()
        if session is None and not forwarded:
            return self.headers
        return {**(forwarded or {}), **self.headers, **({"X-Session-ID": session} if session else {})}

    async def send_object(self, method: str, path: str, *, body: Any = None, deadline: float | None = None,
                          tokens: int | None = None) -> dict[str, Any]:
        """`send` for endpoints that answer one JSON object."""
        answer = await self.send(method, path, body=body, deadline=deadline, tokens=tokens)
        if not isinstance(answer, dict):
            raise BackendBadResponse(f"{self.base_url}{path} answered no JSON object: {str(answer)[:300]}",
                                     backend=self.backend)
        return answer

    async def status(self, path: str, *, timeout_s: float) -> int | None:
        """The HTTP status of GET `path`, or None when the server cannot be reached; never raises."""
        try:
            response = await self.client.get(self.base_url + path, headers=self.headers,
                                             timeout=min(self.timeout_s, timeout_s))
        except Exception:  # any failure means "not reachable", never an error
            return None
        return response.status_code

    async def aclose(self) -> None:
        """Close the HTTP client if this API created it (an injected one belongs to the caller)."""
        if self.owns_client:
            await self.client.aclose()

    @asynccontextmanager
    async def _slot(self, deadline: float | None) -> AsyncIterator[None]:
        """One of the `max_in_flight` request slots, waited for no longer than the deadline allows."""
        if self._slots is None:
            yield
            return
        try:
            async with asyncio.timeout(self._timeout(deadline)):
                await self._slots.acquire()
        except TimeoutError:
            raise BackendTimeout(f"no free request slot for {self.base_url} before the deadline",
                                 backend=self.backend) from None
        try:
            yield
        finally:
            self._slots.release()

    def _timeout(self, deadline: float | None) -> float:
        if deadline is None:
            return self.timeout_s
        left = deadline - time.monotonic()
        if left <= 0:
            raise BackendTimeout(f"the deadline passed before calling {self.base_url}", backend=self.backend)
        return min(self.timeout_s, left)

    def _status_error(self, response: httpx.Response, path: str) -> BackendError:
        """The typed error for a failed status: context overflow is the client's fault, 503 is unavailable."""
        message, code = error_detail(response)
        text = f"{self.base_url}{path} answered {response.status_code}: {message}"
        if response.status_code == 400 and (code == "context_length_exceeded" or _CONTEXT_ERROR.search(message)):
            return PromptTooLong(text, backend=self.backend, upstream_status=400)
        if response.status_code == 503:
            return BackendUnavailable(text, backend=self.backend, upstream_status=503)
        return BackendBadResponse(text, backend=self.backend, upstream_status=response.status_code)


def error_detail(response: httpx.Response) -> tuple[str, str | None]:
    """The server's error message and code: OpenAI's {"error": {...}}, vLLM's and SGLang's flat form, or FastAPI's."""
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
