"""The sandbox holds model-written code to its limits, with and without namespace isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rewards import sandbox
from rewards.sandbox import SandboxLimits, run_sandboxed

FAST = SandboxLimits(cpu_s=2, wall_s=4.0, memory_mb=256)


@pytest.fixture(params=["isolated", "rlimits_only"])
def mode(request, monkeypatch):
    if request.param == "isolated":
        if sandbox._isolation() is None:
            pytest.skip("this machine cannot drop to a user in a network namespace (needs root, unshare, setpriv)")
    else:
        monkeypatch.setattr(sandbox, "_isolation", lambda: None)
    return request.param


async def test_runs_code_and_returns_its_output(mode):
    r = await run_sandboxed("print(sum(range(10)))", limits=FAST)
    assert r.exit_code == 0 and r.stdout.strip() == "45" and not r.timed_out
    assert ("netns" in r.isolation) == (mode == "isolated")


async def test_infinite_loop_is_stopped(mode):
    r = await run_sandboxed("while True: pass", limits=FAST)
    assert r.exit_code != 0 and r.duration_s < FAST.wall_s + 2


async def test_sleeping_code_is_killed_at_the_wall_clock(mode):
    r = await run_sandboxed("import time\ntime.sleep(60)", limits=SandboxLimits(wall_s=1.0))
    assert r.timed_out and r.exit_code is None and r.duration_s < 3


async def test_fork_bomb_is_contained(mode):
    r = await run_sandboxed("import os\nwhile True:\n    os.fork()", limits=FAST)
    assert r.exit_code != 0 and r.duration_s < FAST.wall_s + 2


async def test_huge_allocation_fails_inside_the_child(mode):
    r = await run_sandboxed("x = bytearray(10 * 1024**3)\nprint('allocated')", limits=FAST)
    assert r.exit_code != 0 and "allocated" not in r.stdout and "MemoryError" in r.stderr


async def test_cannot_write_outside_its_directory(mode, tmp_path):
    target = Path("/tmp") / f"ponder_escape_test_{os.getpid()}"
    code = f"open({str(target)!r}, 'w').write('escaped')"
    r = await run_sandboxed(code, limits=FAST)
    assert r.exit_code != 0 and not target.exists()


async def test_can_write_in_its_own_directory_which_is_removed_after(mode):
    r = await run_sandboxed("import os\nopen('x.txt', 'w').write('ok')\nprint(os.getcwd())", limits=FAST)
    assert r.exit_code == 0 and not Path(r.stdout.strip()).exists()


async def test_file_size_is_capped(mode):
    r = await run_sandboxed("open('big', 'wb').write(b'x' * (100 * 1024 * 1024))", limits=FAST)
    assert r.exit_code != 0 and "File too large" in r.stderr


async def test_no_network(mode):
    r = await run_sandboxed("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)", limits=FAST)
    assert r.exit_code != 0 and ("disabled" in r.stderr or "unreachable" in r.stderr.lower())


async def test_environment_is_scrubbed(mode, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("PONDER_API_KEYS", "k1,k2")
    r = await run_sandboxed("import os\nprint(dict(os.environ))", limits=FAST)
    assert r.exit_code == 0 and "sk-secret-value" not in r.stdout and "k1,k2" not in r.stdout
    assert "OPENAI_API_KEY" not in r.stdout


async def test_output_flood_is_capped_and_killed(mode):
    r = await run_sandboxed("import sys\nwhile True:\n    sys.stdout.write('x' * 100000)", limits=FAST)
    assert r.output_truncated and len(r.stdout) == FAST.output_bytes and r.duration_s < 3


async def test_isolated_child_runs_as_nobody_in_an_empty_network_namespace():
    """The layers under the audit hook: they hold even for code that gets past the hook."""
    if sandbox._isolation() is None:
        pytest.skip("no namespace isolation on this machine")
    code = "import os\nprint(os.getuid())\nimport socket\nprint(socket.if_nameindex())"
    r = await run_sandboxed(code, limits=FAST)
    uid, interfaces = r.stdout.splitlines()[:2]
    assert uid == "65534"
    assert "eth" not in interfaces  # an empty network namespace: loopback only
