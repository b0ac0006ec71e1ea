"""Bearer API keys: checked on every API route; never logged or echoed."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from app.errors import ApiError

# Per process: a caller digest identifies a key inside this server only, and cannot be brute-forced offline.
_CALLER_SECRET = secrets.token_bytes(32)


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


def caller_of(request: Request) -> str | None:
    """Who is calling, as an HMAC digest of its API key (never the key itself); None on an open server."""
    if not request.app.state.settings.api_keys:
        return None
    return hmac.new(_CALLER_SECRET, _presented_key(request).encode(), hashlib.sha256).hexdigest()
