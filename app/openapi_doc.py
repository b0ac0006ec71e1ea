"""Write the OpenAPI document generated from the app: `python -m app.openapi_doc`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app.compose.gateway import create_app
from app.settings import load_settings

DOC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def render() -> str:
    schema: dict[str, Any] = create_app(load_settings()).openapi()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render())
    sys.stdout.write(f"wrote {DOC}\n")


if __name__ == "__main__":
    main()
