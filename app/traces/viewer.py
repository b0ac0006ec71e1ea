"""The trace viewer page (`GET /v1/traces/{id}/view`, `ponder ask --view`, `ponder export --html`).

One self-contained HTML file: the page's CSS and script (app/static/viewer/, package data) are
inlined and a finished search's trace is embedded as JSON, so a saved copy opens offline as it was
served; nothing is fetched from elsewhere. A running search's page carries the relative URL of its
event stream instead (`events?token=...`) and draws the tree as rounds end."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

STATIC = "static/viewer"
# Browsers may run only the page's own inline script and style, and connect only back to its origin.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")


@cache
def _asset(name: str) -> str:
    return files("app").joinpath(STATIC, name).read_text(encoding="utf-8")


def _script_json(data: object) -> str:
    """JSON that cannot end the <script> block it sits in (model text may contain "</script>")."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _page(data: dict[str, Any], title: str) -> str:
    escaped_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # One pass over the template: a placeholder-like string inside the CSS or script stays as it is.
    pieces = {"{{TITLE}}": escaped_title, "{{CSS}}": _asset("viewer.css"), "{{JS}}": _asset("viewer.js"),
              "{{DATA}}": _script_json(data)}
    out: list[str] = []
    rest = _asset("viewer.html")
    while (start := rest.find("{{")) >= 0:
        end = rest.find("}}", start) + 2
        key = rest[start:end]
        out += [rest[:start], pieces.get(key, key)]
        rest = rest[end:]
    out.append(rest)
    return "".join(out)


def finished_page(trace: dict[str, Any]) -> str:
    """The page of a finished search: its whole trace is inside."""
    return _page({"trace": trace, "live": None}, f"{trace.get('strategy', 'search')} {trace.get('id', '')}")


def live_page(trace_id: str, events_url: str, strategy: str) -> str:
    """The page of a running search: it follows `events_url` (relative) and becomes the finished page."""
    return _page({"trace": None, "live": {"id": trace_id, "events": events_url, "strategy": strategy}},
                 f"live {strategy} {trace_id}")


def page_name(trace: dict[str, Any]) -> str:
    """`<id>.html`, the id reduced to characters that cannot leave a folder or surprise a shell."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(trace.get("id") or "trace"))[:100] + ".html"


def write_page(trace: dict[str, Any], path: Path) -> Path:
    """Write the finished page for `trace` to `path` (owner-only: it holds the prompt), and return it."""
    path.write_text(finished_page(trace), encoding="utf-8")
    path.chmod(0o600)
    return path
