"""Bearer API keys: checked on every API route; never logged or echoed."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from app.errors import ApiError

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


def caller_of(request: Request) -> str | None:
    """Who is calling, as an HMAC digest of its API key (never the key itself); None on an open server."""
    if not request.app.state.settings.api_keys:
        return None
    shared = request.app.state.settings.caller_secret
    secret = shared.get_secret_value().encode() if shared is not None else _PROCESS_SECRET
    return hmac.new(secret, _presented_key(request).encode(), hashlib.sha256).hexdigest()
