"""HTTP gateway: knows HTTP, knows no algorithm."""

from app.main import create_app
from app.settings import Settings, load_settings

__all__ = ["Settings", "create_app", "load_settings"]
