"""HTTP gateway: knows HTTP, knows no algorithm."""

from typing import Any

from app.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]


def __getattr__(name: str) -> Any:
    # The app (FastAPI, routes, the backends' wiring) loads only when asked for, so that `app.settings`
    # or `app.protocol` stay light for the CLI and the benchmarks.
    if name == "create_app":
        from app.compose.gateway import create_app

        return create_app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
