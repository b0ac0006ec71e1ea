"""DESIGN.md's import rules: backends imports nothing of the project; rewards may use
backends; search uses none of them; only app wires everything together. `sampling` (the one
sampling record) is a leaf every package may import; it imports none of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"app", "search", "rewards", "backends", "bench", "sampling"}
FORBIDDEN = {
    "sampling": {"app", "search", "rewards", "backends", "bench"},
    "backends": {"app", "search", "rewards", "bench"},
    "rewards": {"app", "search", "bench"},
    "search": {"app", "backends", "rewards", "bench"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & PROJECT


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_package_imports_another_that_imports_it_back():
    """No import circle between packages (bench drives app; app reaches bench only by entry point)."""
    edges = {package: set() for package in PROJECT}
    for package in PROJECT:
        for path in (ROOT / package).rglob("*.py"):
            edges[package] |= imported_packages(path) - {package}
    circles = {(a, b) for a in PROJECT for b in edges[a] if a in edges.get(b, set())}
    assert circles == set()
