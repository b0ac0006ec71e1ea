"""The server's logs on stderr: the access log as one JSON object per line (app/ops/observe.py), every
other `ponder` message as `LEVEL logger: message`. uvicorn's own plain access lines are turned off."""

from __future__ import annotations

import logging
import sys


class _Lines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.name == "ponder.access":
            return record.getMessage()  # already a JSON object
        return f"{record.levelname} {record.name}: {record.getMessage()}"


def configure_logging(level: int = logging.INFO) -> None:
    """Send the `ponder` loggers to stderr (once; a second call changes nothing)."""
    root = logging.getLogger("ponder")
    if any(isinstance(h.formatter, _Lines) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Lines())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
