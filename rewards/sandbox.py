"""Run untrusted (model-written) Python in a separate, limited process. Never in ours.

Limits: CPU time, address space, file size, process count and core dumps (rlimits), a
wall clock (the whole process group is killed), output capped, a fresh temporary
directory as the working directory, and a scrubbed environment (no secrets). Where this
machine allows it (root with `unshare` and `setpriv`), the child also runs in an empty
network namespace as the unprivileged user 65534, so the process limit holds and the
temporary directory is the only place it can write. Everywhere, an audit hook in the
child refuses sockets, process creation, ctypes and writes outside the temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PRELUDE = r'''
import os, sys
_home = os.path.realpath(os.getcwd())
_write = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def _guard(event, args):
    if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo", "socket.__new__"):
        raise PermissionError("network access is disabled in the sandbox")
    if event in ("os.fork", "os.forkpty", "os.system", "os.posix_spawn", "os.spawn", "os.exec",
                 "subprocess.Popen", "ctypes.dlopen", "ctypes.dlsym"):
        raise PermissionError(f"{event} is disabled in the sandbox")
    if event == "open" and len(args) >= 3 and isinstance(args[0], (str, bytes)):
        mode, flags = args[1], args[2]
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & _write)
        if writing and not os.path.realpath(os.fsdecode(args[0])).startswith(_home + os.sep):
            raise PermissionError("writing outside the sandbox directory is not allowed")
sys.addaudithook(_guard)
del _guard
__file__ = "candidate.py"
exec(compile(open("candidate.py").read(), "candidate.py", "exec"), {"__name__": "__main__"})
'''


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 5
    wall_s: float = 10.0
    memory_mb: int = 512
    file_mb: int = 8
    processes: int = 32
    output_bytes: int = 64_000


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    output_truncated: bool = False
    duration_s: float = 0.0
    isolation: str = ""


@cache
def _isolation() -> tuple[list[str], str] | None:
    """The command prefix for namespace + user isolation, if this machine allows it."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        return None
    python = sys.executable if os.access(os.path.realpath(sys.executable), os.X_OK) and not str(
        os.path.realpath(sys.executable)).startswith("/root") else shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        return None
    prefix = ["unshare", "--net", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python]
    try:  # a container may lack the capability for namespaces: then fall back, once, for good
        probe = subprocess.run([*prefix, "-I", "-S", "-c", "pass"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (prefix, python) if probe.returncode == 0 else None


def _limit(limits: SandboxLimits) -> None:
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


async def _read_capped(stream: asyncio.StreamReader, cap: int, on_overflow: Callable[[], None]) -> tuple[bytes, bool]:
    """Read until EOF, keeping at most `cap` bytes; past the cap the child is killed at once."""
    data = bytearray()
    while chunk := await stream.read(65536):
        data.extend(chunk[: cap - len(data)])
        if len(data) >= cap:
            on_overflow()
            return bytes(data), True
    return bytes(data), False


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the whole group: the children of a fork bomb too
    except (ProcessLookupError, PermissionError):
        pass


async def run_sandboxed(code: str, *, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run `code` as a script in a limited child process; never raises for what the code does."""
    workdir = Path(tempfile.mkdtemp(prefix="ponder-sandbox-"))
    (workdir / "candidate.py").write_text(code)
    (workdir / "prelude.py").write_text(PRELUDE)
    isolated = await asyncio.to_thread(_isolation)  # probed once (a subprocess), then cached
    if isolated is not None:
        prefix, _ = isolated
        os.chown(workdir, 65534, 65534)
        for f in workdir.iterdir():  # noqa: ASYNC240 (two small files just written)
            os.chown(f, 65534, 65534)
        argv, isolation = [*prefix, "-I", "-S", "prelude.py"], "netns+uid65534+rlimits+audit"
    else:
        argv, isolation = [sys.executable, "-I", "-S", "prelude.py"], "rlimits+audit"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=workdir, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True, preexec_fn=lambda: _limit(limits),
    )
    assert proc.stdout is not None and proc.stderr is not None
    def kill() -> None:
        _kill_group(proc.pid)

    reading = asyncio.gather(_read_capped(proc.stdout, limits.output_bytes, kill),
                             _read_capped(proc.stderr, limits.output_bytes, kill))
    timed_out = False
    try:
        (out, out_cut), (err, err_cut) = await asyncio.wait_for(reading, timeout=limits.wall_s)
    except TimeoutError:
        timed_out, out, err, out_cut, err_cut = True, b"", b"", False, False
    finally:
        kill()  # also when our caller is cancelled: nothing outlives the call
        code_ = await proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    return SandboxResult(
        exit_code=None if timed_out else code_, stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"), timed_out=timed_out, output_truncated=out_cut or err_cut,
        duration_s=round(time.monotonic() - started, 3), isolation=isolation,
    )
