"""An OpenAI-compatible completions server that answers with fixed text, and fails a share
of its completions calls: `python -m bench.fake_openai --port 8080 --fail-share 0.1`.

For soak runs of the gateway (bench/soak.py): no model, so the CPU goes to ponder. It speaks what
ponder's openai backend asks of a llama.cpp server, over plain HTTP/1.1 with keep-alive:
`GET /health`, `GET /v1/models`, `GET /props` (a ChatML template), and `POST /v1/completions`
with `n` choices; `GET /stats` counts its completions calls and the failures it made. A
chain-of-thought prompt gets "2 + 2 = 4 ... \\boxed{4}"; a program prompt (ending in the opening
fence, search/programs.py) gets a two-line program that prints 4. Each completions call, after
`--latency-ms`, fails with probability `--fail-share`: half of those answer 500 with an OpenAI
error body, half close the connection without answering. The other endpoints never fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

from backends.chat_template import CHATML_TEMPLATE

CHAIN_TEXT = "2 + 2 = 4, so the answer is \\boxed{4}."
PROGRAM_TEXT = "answer = 2 + 2\nprint(answer)\n"
PROGRAM_OPENING = "```python\n"  # search.programs.PROGRAM_OPENING: how a program prompt ends
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Faults:
    """How the completions endpoint misbehaves: `fail_share` of calls fail, split evenly between
    a 500 and a dropped connection; every call first waits `latency_s`."""

    fail_share: float = 0.0
    latency_s: float = 0.0
    model: str = "fake"


@dataclass
class Counts:
    completions: int = 0
    errors_500: int = 0
    drops: int = 0


class FakeOpenAI:
    """The request handler: one coroutine per connection, requests answered in order."""

    def __init__(self, faults: Faults, seed: int = 0) -> None:
        self.faults = faults
        self.counts = Counts()
        self._random = random.Random(seed)

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await read_request(reader)) is not None:
                method, path, body = request
                if method == "POST" and path == "/v1/completions":
                    answer = await self.completions(body)
                    if answer is None:
                        return  # the drop: the connection closes with the request unanswered
                    status, payload = answer
                else:
                    status, payload = self.route(method, path)
                writer.write(response_bytes(status, payload))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or sent what HTTP/1.1 is not: this connection ends
        finally:
            writer.close()

    def route(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/health":
            return 200, {"status": "ok"}
        if method == "GET" and path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": self.faults.model, "object": "model", "owned_by": "fake"}]}
        if method == "GET" and path == "/props":
            return 200, {"chat_template": CHATML_TEMPLATE, "bos_token": "", "eos_token": "<|im_end|>"}
        if method == "GET" and path == "/stats":  # what it did so far, for the soak's summary
            return 200, asdict(self.counts)
        return 404, error_body(f"no route {method} {path}", "not_found_error")

    async def completions(self, body: Any) -> tuple[int, dict[str, Any]] | None:
        """The answer to one completions call, or None for a dropped connection."""
        self.counts.completions += 1
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
        if self._random.random() < self.faults.fail_share:
            if self._random.random() < 0.5:
                self.counts.errors_500 += 1
                return 500, error_body("injected failure", "server_error")
            self.counts.drops += 1
            return None
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return 400, error_body("prompt must be a string", "invalid_request_error")
        prompt: str = body["prompt"]
        asked = body.get("n")
        n = asked if isinstance(asked, int) and asked > 0 else 1
        text = PROGRAM_TEXT if prompt.endswith(PROGRAM_OPENING) else CHAIN_TEXT
        each = max(1, len(text) // 4)  # about 4 characters a token
        return 200, {
            "id": f"cmpl-{self.counts.completions}", "object": "text_completion", "created": int(time.time()),
            "model": self.faults.model,
            "choices": [{"index": i, "text": text, "finish_reason": "stop", "logprobs": None} for i in range(n)],
            "usage": {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": each * n,
                      "total_tokens": max(1, len(prompt) // 4) + each * n},
        }


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, Any] | None:
    """One HTTP/1.1 request (method, path, parsed JSON body or None); None at a clean end of stream."""
    line = await reader.readline()
    if not line:
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    length = 0
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    raw = await reader.readexactly(length) if length else b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return method, target.split("?", 1)[0], body


def response_bytes(status: int, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def serve(host: str, port: int, faults: Faults, seed: int) -> None:
    fake = FakeOpenAI(faults, seed)
    server = await asyncio.start_server(fake.serve_connection, host, port)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_openai", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-share", type=float, default=0.0, help="share of completions calls that fail")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait before each completions answer")
    parser.add_argument("--model", default="fake", help="the id GET /v1/models lists")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    faults = Faults(fail_share=args.fail_share, latency_s=args.latency_ms / 1000, model=args.model)
    asyncio.run(serve(args.host, args.port, faults, args.seed))


if __name__ == "__main__":
    main()
