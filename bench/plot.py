"""Accuracy against completion tokens per item, from a bench summary JSON (`ponder bench plot`);
and a soak run's samples over time (bench/soak.py).

One point per configuration with its Wilson 95% interval as the error bar; configurations
of one strategy at several budgets (or the effort tiers) are joined by a line. matplotlib
is imported here only (the `bench` extra), with the Agg backend: no display is needed.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any


def _series(configs: dict[str, dict[str, Any]]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Configurations grouped into lines: one per strategy across budgets; the effort tiers together."""
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for label, s in configs.items():
        if s.get("strategy"):
            key = s["strategy"] + (f" (effort={s['effort']})" if s.get("effort") else "")
        elif s.get("effort"):
            key = "effort tiers"
        else:
            key = label
        groups[key].append((label, s))
    return {k: sorted(v, key=lambda p: p[1]["completion_tokens_per_item"]) for k, v in groups.items()}


def plot_summary(summary_path: Path, out: Path | None = None) -> Path:
    """Write the PNG for `summary_path` (default: the same name with .png) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads(Path(summary_path).read_text())
    out = out or Path(summary_path).with_suffix(".png")
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, points in _series(report["configs"]).items():
        xs = [s["completion_tokens_per_item"] for _, s in points]
        ys = [100 * s["accuracy"] for _, s in points]
        low = [100 * (s["accuracy"] - s["wilson95"][0]) for _, s in points]
        high = [100 * (s["wilson95"][1] - s["accuracy"]) for _, s in points]
        ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=4, linestyle="-" if len(points) > 1 else "none",
                    label=name)
        if len(points) > 1 or name == "effort tiers":
            for (label, s), x, y in zip(points, xs, ys, strict=True):
                tag = f"effort={s['effort']}" if name == "effort tiers" else label
                ax.annotate(tag, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=7)
    ax.set_xlabel("completion tokens per item")
    ax.set_ylabel("accuracy (%), Wilson 95% CI")
    ax.set_ylim(0, 100)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.set_title(f"{report.get('dataset', '?')} · {report.get('model', '?')} · {report.get('items', '?')} items "
                 f"({report.get('date', '')})", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


SOAK_PANELS = (("rss_mb", "RSS (MB)"), ("fds", "open fds"), ("threads", "threads"), ("requests", "requests/s"))


def plot_soak(samples_csv: Path, out: Path, *, warmup_s: float, traffic_s: float, title: str) -> Path:
    """The soak's samples (bench/soak.py's samples.csv) as one panel per metric over minutes, with the
    rate of finished requests between samples last, and the end of the warm-up and of the traffic
    marked; write the PNG to `out` and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with Path(samples_csv).open() as f:
        rows = list(csv.DictReader(f))
    minutes = [float(r["t_s"]) / 60 for r in rows]
    fig, axes = plt.subplots(len(SOAK_PANELS), 1, figsize=(7, 7.5), dpi=100, sharex=True)
    for ax, (metric, label) in zip(axes, SOAK_PANELS, strict=True):
        xs, values = minutes, [float(r[metric]) for r in rows]
        if metric == "requests":  # a count so far: its rate between samples
            xs = minutes[1:]
            values = [(b - a) / max(60 * (t1 - t0), 1e-9)
                      for a, b, t0, t1 in zip(values, values[1:], minutes, minutes[1:], strict=False)]
        ax.plot(xs, values, marker=".", markersize=3, linewidth=1)
        ax.axvline(warmup_s / 60, color="grey", linestyle=":", linewidth=1)
        ax.axvline(traffic_s / 60, color="grey", linestyle="--", linewidth=1)
        ax.set_ylabel(label)
        ax.set_ylim(0, max(values, default=0) * 1.15 or 1)  # from zero: a drift shows at its true size
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes (dotted: end of warm-up; dashed: traffic stops)")
    axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
