"""Project errors -> OpenAI error bodies, in one place."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backends.errors import BackendError

log = logging.getLogger("ponder")


class ApiError(Exception):
    """An error the client should see, with its HTTP status and OpenAI error fields."""

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error",
        param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(error.message, error.type, error.param, error.code), status_code=error.status,
                        headers=error.headers)


def from_backend(exc: BackendError) -> ApiError:
    kind = "invalid_request_error" if exc.status < 500 else "backend_error"
    name = f"backend {exc.backend!r}: " if exc.backend else ""
    return ApiError(exc.status, f"{name}{exc}", type=kind, code=exc.code)


def _validation_error(exc: RequestValidationError | ValidationError) -> ApiError:
    errors = list(exc.errors())
    first: dict[str, Any] = dict(errors[0]) if errors else {}
    if first.get("type") == "json_invalid":
        return ApiError(400, f"request body is not valid JSON: {first.get('ctx', {}).get('error', '')}".strip(),
                        code="invalid_json")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = first.get("msg", "invalid request")
    if first.get("type") == "extra_forbidden":
        return ApiError(400, f"unsupported parameter: {param}", param=param, code="unsupported_parameter")
    if first.get("type") == "missing":
        message = f"missing required parameter: {param}"
    elif param:
        message = f"invalid value for {param}: {message}"
    return ApiError(400, message, param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(BackendError)
    async def _backend(_: Request, exc: BackendError) -> JSONResponse:
        return error_response(from_backend(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_error(exc))

    @app.exception_handler(ValidationError)
    async def _derived_invalid(_: Request, exc: ValidationError) -> JSONResponse:
        # A request another endpoint translates (Responses, /v1/reason) into a chat request.
        return error_response(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return error_response(ApiError(exc.status_code, str(exc.detail), type=kind,
                                       headers=dict(exc.headers or {})))  # 405 keeps its Allow

    @app.exception_handler(json.JSONDecodeError)
    async def _json(_: Request, exc: json.JSONDecodeError) -> JSONResponse:
        return error_response(ApiError(400, f"request body is not valid JSON: {exc}", code="invalid_json"))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(ApiError(500, "internal error", type="server_error"))
