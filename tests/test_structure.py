"""DESIGN.md's import rules: backends imports nothing of the project; rewards may use
backends; search uses none of them; only app wires everything together. `sampling` (the one
sampling record) is a leaf every package may import; it imports none of them.

Inside app, rooms by role, imports pointing one way (APP_ROOMS): settings reads no room; protocol (the
OpenAI wire format) reads only settings; ops (running the server) and traces (the trace store, live
searches, the viewer page, export) read only protocol and know nothing of each other; reasoning (one
request: plan, run, summarise) reads settings, protocol and ops; http (the routers and streams) reads
everything below it; compose (the composition root) reads every room. The entry points (cli,
openapi_doc, the package's own __init__) may import any room, and no room imports them."""

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


APP = ROOT / "app"
APP_ROOMS: dict[str, set[str]] = {
    "settings": set(),
    "protocol": {"settings"},
    "ops": {"protocol"},
    "traces": {"protocol"},
    "reasoning": {"settings", "protocol", "ops"},
    "http": {"settings", "protocol", "ops", "traces", "reasoning"},
    "compose": {"settings", "protocol", "ops", "traces", "reasoning", "http"},
}
ENTRY_POINTS = {"__init__", "cli", "openapi_doc"}


def app_room(path: Path) -> str:
    """The room a module of app lives in: its sub-package, or its own name at app's top level."""
    parts = path.relative_to(APP).parts
    return parts[0] if len(parts) > 1 else path.stem


def imported_rooms(path: Path) -> set[str]:
    """The rooms of app a module imports (`from app import x` imports the room `x`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules += [f"app.{alias.name}" for alias in node.names] if node.module == "app" else [node.module]
    return {module.split(".")[1] for module in modules if module.startswith("app.")}


def test_every_module_of_app_lives_in_a_room():
    rooms = {app_room(path) for path in APP.rglob("*.py")}
    assert rooms - set(APP_ROOMS) - ENTRY_POINTS == set()


@pytest.mark.parametrize("room", sorted(APP_ROOMS))
def test_app_rooms_import_one_way(room):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_rooms(path) - APP_ROOMS[room] - {room})
        for path in APP.rglob("*.py")
        if app_room(path) == room
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_app_rooms_have_no_circle():
    """The rules themselves point one way: no room may reach itself through the rooms it may import."""

    def reach(room: str) -> set[str]:
        seen: set[str] = set()
        todo = list(APP_ROOMS[room])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += APP_ROOMS[current]
        return seen

    assert {room for room in APP_ROOMS if room in reach(room)} == set()
