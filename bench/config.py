"""What a benchmark run is configured with, and where its results go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path("docs/results")  # recorded results: data the docs cite, outside the code package


@dataclass(frozen=True)
class Config:
    """One benchmark configuration: a strategy, an effort tier, or both; optionally a budget."""

    strategy: str | None = None
    effort: str | None = None
    budget_tokens: int | None = None
    settings: dict[str, Any] | None = field(default=None, hash=False, compare=False)  # reasoning.settings
    deadline_s: float | None = None  # reasoning.deadline_s (default: the tier's or the server's)

    @property
    def label(self) -> str:
        parts = [p for p in (self.strategy, f"effort={self.effort}" if self.effort else None) if p]
        if self.budget_tokens:
            parts.append(f"budget={self.budget_tokens}")
        return " ".join(parts) or "default"

    def slug(self) -> str:
        return self.label.replace(" ", "_").replace("=", "-")


def default_paths(dataset: str, model: str, tag: str) -> tuple[Path, Path]:
    """docs/results/<dataset>_<model>_<tag>.jsonl and the .json summary next to it."""
    stem = f"{dataset.replace(':', '-')}_{Path(model).stem if model.endswith('.gguf') else model}_{tag}"
    return RESULTS / f"{stem}.jsonl", RESULTS / f"{stem}.json"
