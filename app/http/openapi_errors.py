"""The OpenAPI document says what the API really answers: errors in OpenAI's format with
the statuses ponder uses (400, not FastAPI's default 422), and the SSE streams."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"], "title": "ErrorResponse",
    "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}},
    }},
}
ERRORS = {
    "400": "Invalid request (names the parameter or limit)", "401": "Missing or wrong API key",
    "404": "Not found", "405": "Method not allowed", "413": "Request body too large",
    "429": "Too many searches (see Retry-After)", "500": "Internal error", "502": "The backend failed",
    "503": "The backend is unavailable or the server is shutting down", "504": "The deadline passed with no answer",
}
STREAMING = {"/v1/chat/completions", "/v1/responses"}  # `stream: true` answers text/event-stream


def document_errors(app: FastAPI) -> None:
    """Replace `app.openapi` with one that documents ponder's error responses and streams."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
        for schemas in (schema["components"]["schemas"],):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status, description in ERRORS.items():
                    responses.setdefault(status, {"description": description, "content": ref})
                if path in STREAMING and "200" in responses:
                    responses["200"].setdefault("content", {})["text/event-stream"] = {
                        "schema": {"description": "server-sent events (`stream: true`)"}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
