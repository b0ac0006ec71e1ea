"""What a shared trace folder costs (app/traces/store.py): `python -m bench.trace_store`.

Writes `--count` traces of about 54 kB (150 events, a 100-node tree) through one TraceStore, reads
them back through it (memory) and through a second store on the same folder (another gateway: the
files), and prints the mean time of each, in one run."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from app.traces.store import TraceStore


async def measure(count: int) -> dict[str, float]:
    trace = {"id": "chatcmpl-x", "events": [{"kind": "sample", "text": "x" * 200}] * 150,
             "tree": [{"id": i, "text": "y" * 150, "parent": i - 1} for i in range(100)]}
    with tempfile.TemporaryDirectory() as folder:
        writer, other = TraceStore(count, Path(folder)), TraceStore(count, Path(folder))
        ids = [f"chatcmpl-{i}" for i in range(count)]
        times: dict[str, float] = {"trace_bytes": len(json.dumps(trace))}
        for name, step in (("put_ms", lambda i: writer.put(i, trace, owner="o")),
                           ("get_memory_ms", lambda i: writer.get(i, "o")),
                           ("get_folder_ms", lambda i: other.get(i, "o"))):
            started = time.perf_counter()
            for trace_id in ids:
                await step(trace_id)
            times[name] = round((time.perf_counter() - started) / count * 1000, 3)
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    print(json.dumps(asyncio.run(measure(parser.parse_args().count))))


if __name__ == "__main__":
    main()
