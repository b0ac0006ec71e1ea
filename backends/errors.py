"""Typed backend failures; the gateway maps each to an HTTP status."""

from __future__ import annotations


class BackendError(Exception):
    """A backend call failed. `status` is the HTTP status the gateway answers with."""

    status = 502
    code = "backend_error"

    def __init__(self, message: str, *, backend: str = "", upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.backend = backend
        self.upstream_status = upstream_status  # the HTTP status the backend answered, when it answered one


class BackendUnavailable(BackendError):
    """The backend cannot be reached (connection refused, DNS, not started)."""

    status = 503
    code = "backend_unavailable"


class BackendTimeout(BackendError):
    status = 504
    code = "backend_timeout"


class BackendBadResponse(BackendError):
    """The backend answered with an error status or a body we cannot read."""

    status = 502
    code = "backend_bad_response"


class PromptTooLong(BackendError):
    """The request does not fit the model's context window (a client error)."""

    status = 400
    code = "context_length_exceeded"
