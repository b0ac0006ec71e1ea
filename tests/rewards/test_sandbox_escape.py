"""Escape attempts against the sandbox (issue 24). Each is what client test code or a model's program
did against the rlimits + audit hook sandbox; none may get through, whether the server is root or not."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from rewards import sandbox
from rewards.sandbox import SandboxLimits, SandboxMode, SandboxResult, run_sandboxed

PROJECT = Path(__file__).resolve().parents[2]
NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"  # a server process as uid 65534 cannot reach an interpreter under /root

# A server process that is not root (as in docker/Dockerfile): it runs one program in the sandbox.
UNPRIVILEGED_SERVER = r'''
import asyncio, dataclasses, importlib.util, json, os, sys, types
rewards = types.ModuleType("rewards")  # the sandbox's stdlib-only sibling modules, without the package's __init__
rewards.__path__ = [os.path.dirname(sys.argv[1])]
sys.modules["rewards"] = rewards
spec = importlib.util.spec_from_file_location("sandbox_under_test", sys.argv[1])
sandbox = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = sandbox
spec.loader.exec_module(sandbox)
limits = sandbox.SandboxLimits(wall_s=float(sys.argv[2]), mode=sys.argv[3], memory_mb=int(sys.argv[4]))
try:
    result = asyncio.run(sandbox.run_sandboxed(sys.stdin.read(), limits=limits))
except Exception as exc:  # SandboxUnavailable: this machine cannot run the sandbox for this user
    print(json.dumps({"unavailable": str(exc)}))
else:
    print(json.dumps(dataclasses.asdict(result)))
'''

# Starts an interpreter the audit hook never sees: _posixsubprocess is not audited.
SPAWN = '''
import multiprocessing.util, os, sys
def spawn(path, *args):
    try:
        os.waitpid(multiprocessing.util.spawnv_passfds(os.fsencode(path), [path, *args], []), 0)
    except Exception as exc:
        print("spawn", path, type(exc).__name__, exc)
def python(code):
    spawn(sys.executable, "-I", "-S", "-c", code)
'''

Run = Callable[..., Awaitable[SandboxResult]]


async def _run_in_process(code: str, wall_s: float = 10.0, mode: SandboxMode = "bwrap",
                          memory_mb: int = 512) -> SandboxResult:
    return await run_sandboxed(code, limits=SandboxLimits(wall_s=wall_s, mode=mode, memory_mb=memory_mb))


async def _run_as_nobody(code: str, wall_s: float = 10.0, mode: SandboxMode = "bwrap",
                         memory_mb: int = 512) -> SandboxResult:
    proc = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, "-I", "-c", UNPRIVILEGED_SERVER, sandbox.__file__, str(wall_s), mode, str(memory_mb), cwd="/",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, user=NOBODY, group=NOBODY, extra_groups=[])
    out, _ = await proc.communicate(code.encode())
    data = json.loads(out)
    if "unavailable" in data:
        pytest.skip(f"the sandbox cannot run for an unprivileged server here: {data['unavailable']}")
    return SandboxResult(**data)


@pytest.fixture(params=["root server", "unprivileged server"])
def run(request) -> Run:
    root = os.geteuid() == 0
    if request.param == "root server" and not root:
        pytest.skip("the test process is not root: the root-server mode cannot be exercised")
    if request.param == "unprivileged server" and root:
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            pytest.skip(f"no {SYSTEM_PYTHON} for a server process running as uid {NOBODY}")
        return _run_as_nobody
    if (reason := sandbox.sandbox_unavailable()) is not None:
        pytest.skip(f"the sandbox cannot run here: {reason}")
    return _run_in_process


@pytest.fixture
def secret(monkeypatch) -> str:
    """A fake API key in the server's environment (and so in its memory)."""
    value = "ponder-escape-" + secrets.token_hex(16)
    monkeypatch.setenv("PONDER_API_KEYS", value)
    return value


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory anyone may write to: only the sandbox can stop a write there."""
    path = Path(tempfile.mkdtemp(prefix="ponder-escape-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_cannot_read_the_servers_environment(run, secret):
    code = SPAWN + '''
import glob
for path in [f"/proc/{os.getppid()}/environ", *glob.glob("/proc/[0-9]*/environ")]:
    try:
        print(path, open(path, "rb").read()[:4000])
    except Exception as exc:
        print(path, type(exc).__name__)
print("done")
'''
    r = await run(code)
    assert "done" in r.stdout, r.stderr
    assert secret not in r.stdout + r.stderr


async def test_cannot_read_the_servers_memory(run, secret):
    code = '''
import os, re
wanted = re.compile(b"ponder-" + b"escape-[0-9a-f]{32}")
found = set()
try:
    pid = os.getppid()
    mem = open(f"/proc/{pid}/mem", "rb", 0)
    for line in open(f"/proc/{pid}/maps").read().splitlines():
        span, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in span.split("-"))
        for start in range(lo, hi, 8 << 20) if "r" in perms else ():
            try:
                mem.seek(start)
                found.update(wanted.findall(mem.read(min(8 << 20, hi - start))))
            except (OSError, ValueError, OverflowError):
                break
    print("scanned", sorted(found))
except Exception as exc:
    print("refused", type(exc).__name__, exc)
'''
    r = await run(code)
    assert "scanned" in r.stdout or "refused" in r.stdout, r.stderr
    assert secret not in r.stdout + r.stderr


async def test_cannot_write_outside_its_directory(run, open_dir):
    token = secrets.token_hex(8)
    targets = [str(PROJECT / f"escaped-{token}"), str(open_dir / f"escaped-{token}")]
    code = SPAWN + f'''
for i, target in enumerate({targets!r}):
    for how in ("open", "hook off", "rename", "unhooked python"):
        try:
            if how == "open":
                open(target, "w").write("escaped")
            elif how == "rename":
                open(f"payload{{i}}", "w").write("escaped")
                os.rename(f"payload{{i}}", target)
            elif how == "unhooked python":
                python(f"open({{target!r}}, 'w').write('escaped')")
            else:
                sys.modules["__main__"]._home = ""  # the audit hook reads this global
                open(target, "w").write("escaped")
        except Exception as exc:
            print(target, how, type(exc).__name__)
print("done")
'''
    try:
        r = await run(code)
        assert "done" in r.stdout, r.stderr
        assert not [t for t in targets if os.path.exists(t)]
    finally:
        Path(targets[0]).unlink(missing_ok=True)


async def test_cannot_reach_a_listener_on_the_servers_loopback(run):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = SPAWN + f'''
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"hello")
except Exception as exc:
    print("direct", type(exc).__name__)
python("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hello')")
print("done")
'''
        r = await run(code)
        assert "done" in r.stdout, r.stderr
        with pytest.raises(BlockingIOError):
            listener.accept()  # a connection would be waiting here, accepted or not


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("ending", ["exits", "times out"])
async def test_a_setsid_child_does_not_outlive_the_run(run, open_dir, ending):
    token, marker = secrets.token_hex(8), open_dir / "survived"
    child = ("import os, time\nos.setsid()\nif os.fork(): os._exit(0)\nnull = os.open('/dev/null', os.O_RDWR)\n"
             f"for fd in (0, 1, 2): os.dup2(null, fd)\ntime.sleep(2)\nopen({str(marker)!r}, 'w').write('alive')")
    code = SPAWN + f'''
spawn(sys.executable, "-I", "-S", "-c", {child!r}, "{token}")
print("spawned", flush=True)
if {ending == "times out"}:
    import time
    time.sleep(60)
'''
    r = await run(code, wall_s=1.5)
    assert "spawned" in r.stdout or r.timed_out, r.stderr
    assert r.timed_out == (ending == "times out")
    for _ in range(20):  # SIGKILL is sent; give the kernel a moment to reap
        if not _processes_with(token):
            break
        await asyncio.sleep(0.05)
    assert not _processes_with(token)
    await asyncio.sleep(2.5)
    assert not marker.exists()


async def test_a_spawned_shell_or_interpreter_stays_inside_and_sees_nothing_secret(run, secret):
    look = ("import glob, os\npids = [p for p in glob.glob('/proc/[0-9]*')]\nprint('visible=%d' % len(pids))\n"
            "for p in pids:\n    try: print(p, open(p + '/environ', 'rb').read()[:4000])\n    except Exception: pass")
    code = SPAWN + f'''
spawn("/bin/sh", "-c", "cat /proc/{{}}/environ; id".format(os.getppid()))
python({look!r})
print("done")
'''
    r = await run(code)
    assert "done" in r.stdout and "visible=" in r.stdout, r.stderr
    assert secret not in r.stdout + r.stderr
    visible = int(r.stdout.split("visible=")[1].split()[0])
    assert visible < 8  # its own PID namespace: the run's processes only, not the server's


async def test_two_runs_cannot_see_each_others_files(run):
    token = secrets.token_hex(8)
    shared = f"/tmp/ponder-shared-{token}"
    writer = f'''
import os, sys, time
sys.modules["__main__"]._home = ""  # past the audit hook's write check
for path in ({shared!r}, "mine"):
    open(path, "w").write("A-secret-{token}")
print("wrote", flush=True)
time.sleep(3)
'''
    reader = f'''
import glob, time
seen = []
for _ in range(30):
    for path in [{shared!r}, *glob.glob("/tmp/ponder-sandbox-*/mine"), *glob.glob("/tmp/*/mine")]:
        try:
            seen.append(open(path).read())
        except OSError:
            pass
    if seen:
        break
    time.sleep(0.1)
print("looked", seen)
'''
    try:
        # Both runs end before the test does, even when one skips or fails: a run left behind would
        # outlive the test's event loop.
        a, b = await asyncio.gather(run(writer, wall_s=5.0), run(reader, wall_s=5.0), return_exceptions=True)
        for outcome in (a, b):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(a, SandboxResult) and isinstance(b, SandboxResult)
        assert "wrote" in a.stdout, a.stderr
        assert "looked" in b.stdout, b.stderr
        assert f"A-secret-{token}" not in b.stdout + b.stderr
    finally:
        Path(shared).unlink(missing_ok=True)



# Eight children of 400 MB, every page written, alive together: 3.2 GB where only each process is bounded.
EIGHT_CHILDREN_OF_400_MB = '''
import multiprocessing.util, os, sys
child = ("import time\\npages = bytearray(400 * 2**20)\\n"
         "for i in range(0, len(pages), 4096): pages[i] = 1\\ntime.sleep(1)")
pids = [multiprocessing.util.spawnv_passfds(os.fsencode(sys.executable), [sys.executable, "-I", "-S", "-c", child], [])
        for _ in range(8)]
print("exits", [os.waitpid(pid, 0)[1] for pid in pids])
'''


def _mem_available_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("/proc/meminfo has no MemAvailable")


async def _drop_during(run, mode) -> tuple[int, SandboxResult]:
    """How far the host's MemAvailable fell while one run of the eight children went on, and the run."""
    before, samples, done = _mem_available_mb(), [], threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_mem_available_mb())
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:  # 448 MB: each child's 400 MB fits its own address-space limit, so only a whole-run bound holds
        r = await run(EIGHT_CHILDREN_OF_400_MB, wall_s=10.0, mode=mode, memory_mb=448)
    finally:
        done.set()
        sampler.join()
    return before - min(samples), r


@pytest.mark.parametrize("mode", ["bwrap", "unsafe-rlimits"])
async def test_a_run_is_bounded_in_memory_as_a_whole_and_reported_as_a_resource_failure(run, mode):
    # MemAvailable counts every process on the machine: what others allocate meanwhile reads as the run's
    # (CI saw 607 and 651 MB once each, 0-285 MB in ten quiet runs). The least of up to three runs is the
    # run's own; every one of them must be stopped as a resource failure.
    drops = []
    for _ in range(3):
        drop, r = await _drop_during(run, mode)
        assert r.resource_limit in ("memory", "processes"), (r.isolation, r.stdout, r.stderr)
        drops.append(drop)
        if drop <= 600:
            break
    assert min(drops) <= 600, (r.isolation, drops)
