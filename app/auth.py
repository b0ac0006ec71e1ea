"""Bearer API keys: checked on every API route; never logged or echoed."""

from __future__ import annotations

import hmac

from fastapi import Request

from app.errors import ApiError


def require_api_key(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries one of the configured keys."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not any(hmac.compare_digest(token, k) for k in keys):
        raise ApiError(401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                       type="authentication_error", code="invalid_api_key")
