"""Bearer API keys: checked on every API route; never logged or echoed. Short-lived view link tokens
stand in for the key where a browser opens a trace's page (a URL must never carry the key)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from fastapi import Request

from app.protocol.errors import ApiError

# Without PONDER_CALLER_SECRET a caller digest identifies a key inside this process only; gateways that
# share a trace folder share the secret. Either way a stored digest cannot be brute-forced offline.
_PROCESS_SECRET = secrets.token_bytes(32)


def _presented_key(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def require_api_key(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries one of the configured keys."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        return
    token = _presented_key(request)
    if not token or not any(hmac.compare_digest(token, k) for k in keys):
        raise ApiError(401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                       type="authentication_error", code="invalid_api_key")


def _secret(request: Request) -> bytes:
    shared = request.app.state.settings.caller_secret
    return shared.get_secret_value().encode() if shared is not None else _PROCESS_SECRET


def caller_of(request: Request) -> str | None:
    """Who is calling, as an HMAC digest of its API key (never the key itself); None on an open server."""
    if not request.app.state.settings.api_keys:
        return None
    return hmac.new(_secret(request), _presented_key(request).encode(), hashlib.sha256).hexdigest()


def _view_signature(request: Request, trace_id: str, expires: int, owner: str) -> str:
    message = f"ponder-view\0{trace_id}\0{expires}\0{owner}".encode()
    return hmac.new(_secret(request), message, hashlib.sha256).hexdigest()


def view_token(request: Request, trace_id: str, ttl_s: int) -> tuple[str, int]:
    """A link token that lets a browser read trace `trace_id` as this caller for `ttl_s` seconds
    (the page and its event stream only); the key itself never goes into a URL. Returns (token, expiry)."""
    expires = int(time.time()) + ttl_s
    owner = caller_of(request) or "open"
    return f"{expires}.{owner}.{_view_signature(request, trace_id, expires, owner)}", expires


def caller_of_view(request: Request, trace_id: str, token: str | None) -> str | None:
    """Who reads trace `trace_id`: the holder of a valid view link token, else the caller of
    `require_api_key` (401 for a missing key, or for a link that is forged, for another trace, or expired)."""
    if token is None or not request.app.state.settings.api_keys:
        require_api_key(request)
        return caller_of(request)
    expires, _, rest = token.partition(".")
    owner, _, signature = rest.partition(".")
    valid = (expires.isdigit() and int(expires) >= time.time()
             and hmac.compare_digest(signature, _view_signature(request, trace_id, int(expires), owner)))
    if not valid:
        raise ApiError(401, "the view link is invalid or has expired: ask for a new one "
                            "(POST /v1/traces/{id}/view-link with the key)", type="authentication_error",
                       code="invalid_view_link")
    return None if owner == "open" else owner
