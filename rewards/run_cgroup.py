"""A cgroup per sandbox run, where the machine lets this server make one: memory (no swap) and
processes bounded for the run as a whole, and every process of the run killed when it ends.

cgroup v2: runs go under the nearest cgroup above this process (its own included) that hands the
memory and pids controllers to its children and that this server may write (root on most hosts; a
user with a delegated subtree whose subtree_control names both). cgroup v1 (hybrid hosts): under
this process's own cgroup in the memory hierarchy and in the pids hierarchy. Elsewhere (an
unprivileged server with nothing delegated; Docker's read-only /sys/fs/cgroup) `run_cgroups` says
why not, and the sandbox bounds a run with rlimits whose product is the whole (rewards/sandbox.py).
Stdlib only: rewards/sandbox.py loads it, also where the package's dependencies are absent.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

ResourceLimit = Literal["memory", "processes"]
_CONTROLLERS = ("memory", "pids")


@dataclass(frozen=True)
class CgroupParents:
    """Where run cgroups are made: one directory per controller (the same one in v2)."""

    version: Literal[1, 2]
    memory: Path
    pids: Path


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)  # cgroup files take one write(2) each, no truncation
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _counters(path: Path) -> dict[str, int]:
    """`key value` lines (memory.events, pids.events, memory.oom_control) as a dict."""
    pairs = (line.split() for line in _read(path).splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}


@dataclass(frozen=True)
class RunCgroup:
    """One run's cgroup (one per hierarchy in v1). `join` runs in the child between fork and exec,
    before it drops to the run's uid; `limit_hit` and `close` run after the run."""

    version: Literal[1, 2]
    memory: Path
    pids: Path

    @classmethod
    def create(cls, parents: CgroupParents, memory_mb: int, processes: int) -> RunCgroup:
        name = f"ponder-run-{secrets.token_hex(8)}"
        cgroup = cls(parents.version, parents.memory / name, parents.pids / name)
        for directory in cgroup._directories():
            directory.mkdir()
        try:
            cgroup._set_limits(memory_mb * 1024 * 1024, processes)
        except OSError:
            cgroup.close()
            raise
        return cgroup

    def _directories(self) -> tuple[Path, ...]:
        return (self.memory,) if self.memory == self.pids else (self.memory, self.pids)

    def _set_limits(self, memory: int, processes: int) -> None:
        if self.version == 2:
            _write(self.memory / "memory.max", str(memory))
            if (self.memory / "memory.swap.max").exists():  # absent where swap is not accounted (or none)
                _write(self.memory / "memory.swap.max", "0")
            _write(self.memory / "memory.oom.group", "1")  # an OOM kill ends the whole run, not one child of it
        else:
            _write(self.memory / "memory.limit_in_bytes", str(memory))
            if (self.memory / "memory.memsw.limit_in_bytes").exists():  # memory + swap = memory: no swap
                _write(self.memory / "memory.memsw.limit_in_bytes", str(memory))
        _write(self.pids / "pids.max", str(processes))

    def join(self) -> None:
        """Move the calling process into the run's cgroup(s): everything it starts is counted there."""
        for directory in self._directories():
            _write(directory / "cgroup.procs", "0")  # 0: the writer itself

    def limit_hit(self) -> ResourceLimit | None:
        """Which of the run's limits stopped something: an OOM kill, or a refused fork."""
        with contextlib.suppress(OSError):
            events = self.memory / ("memory.events" if self.version == 2 else "memory.oom_control")
            if _counters(events).get("oom_kill", 0):
                return "memory"
            if _counters(self.pids / "pids.events").get("max", 0):
                return "processes"
        return None

    def close(self) -> None:
        """SIGKILL whatever is left in the run's cgroup (a `setsid` child too), then remove it.
        Blocking (up to about a second): call it from a thread."""
        with contextlib.suppress(OSError):
            if self.version == 2 and (self.memory / "cgroup.kill").exists():
                _write(self.memory / "cgroup.kill", "1")  # atomic: no fork can race it
        for _ in range(100):  # v1: kill until empty; pids.max bounds what a racing fork can add
            try:
                left = _read(self.memory / "cgroup.procs").split()
            except OSError:
                break
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.01)
        for directory in self._directories():
            for _ in range(50):  # a killed process leaves its cgroup a moment after SIGKILL
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _mounts() -> dict[str, tuple[Path, str]]:
    """'' (cgroup2) or a v1 controller -> (mount point, the cgroup path mounted there)."""
    found: dict[str, tuple[Path, str]] = {}
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        left, _, right = line.partition(" - ")
        fields, (fstype, _source, options) = left.split(), right.split()[:3]
        if fstype == "cgroup2":
            found.setdefault("", (Path(fields[4]), fields[3]))
        elif fstype == "cgroup":
            for controller in set(options.split(",")) & set(_CONTROLLERS):
                found.setdefault(controller, (Path(fields[4]), fields[3]))
    return found


def _own_cgroups() -> dict[str, str]:
    """'' (cgroup2) or a v1 controller -> this process's cgroup path, from /proc/self/cgroup."""
    own: dict[str, str] = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _directory(mount: tuple[Path, str], path: str) -> Path | None:
    point, root = mount
    if root != "/" and not (path == root or path.startswith(root + "/")):
        return None  # this process's cgroup is outside what is mounted here
    return point / path[len(root.rstrip("/")):].lstrip("/")


def _find_parents() -> CgroupParents | str:
    mounts, own = _mounts(), _own_cgroups()
    if "memory" in mounts and "pids" in mounts and "memory" in own and "pids" in own:
        memory, pids = _directory(mounts["memory"], own["memory"]), _directory(mounts["pids"], own["pids"])
        if memory is None or pids is None:
            return "this process's v1 cgroups are not under their mounts"
        if not (os.access(memory, os.W_OK) and os.access(pids, os.W_OK)):
            return f"{memory} or {pids} is not writable by this user"
        return CgroupParents(1, memory, pids)
    if "" not in mounts or "" not in own:
        return "no cgroup v2 hierarchy and no v1 memory and pids hierarchies are mounted"
    start = _directory(mounts[""], own[""])
    if start is None:
        return "this process's cgroup is not under the cgroup2 mount"
    for candidate in (start, *start.parents):
        if not candidate.is_relative_to(mounts[""][0]):
            break
        with contextlib.suppress(OSError):
            handed_down = _read(candidate / "cgroup.subtree_control").split()
            if set(_CONTROLLERS) <= set(handed_down) and os.access(candidate, os.W_OK):
                return CgroupParents(2, candidate, candidate)
    return f"no cgroup above {start} both hands memory and pids to its children and is writable by this user"


@cache
def run_cgroups(python: str) -> CgroupParents | str:
    """Where this server can make a bounded cgroup per run, proven by moving a trial `python` into
    one; else why not. Probed once per process."""
    found = _find_parents()
    if isinstance(found, str):
        return found
    try:
        trial = RunCgroup.create(found, 64, 8)
    except OSError as exc:
        return f"a cgroup could not be made under {found.memory}: {exc}"
    try:
        done = subprocess.run([python, "-I", "-S", "-c", ""], preexec_fn=trial.join, capture_output=True,
                              timeout=10, check=False)
        if done.returncode != 0:
            return f"a trial process in a run cgroup failed: {done.stderr.decode('utf-8', 'replace')[-200:]}"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"a process could not be moved into a cgroup under {found.memory}: {exc}"
    finally:
        trial.close()
    return found
