"""A plain round-robin TCP load balancer: each new connection goes to the next upstream in turn.
It stands for the load balancer in front of several ponder gateways (a Kubernetes Service, nginx)
in tests and benchmarks; it knows no HTTP, so nothing sticks a client to one gateway.

    python -m bench.round_robin --port 9000 --to 127.0.0.1:8001,127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections.abc import Iterator


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(port: int, upstreams: list[tuple[str, int]]) -> None:
    turn: Iterator[tuple[str, int]] = itertools.cycle(upstreams)

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        host, upstream_port = next(turn)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, upstream_port)
        except OSError:
            client_writer.close()  # the client sees a reset connection, as behind a real balancer
            return
        await asyncio.gather(_pipe(client_reader, up_writer), _pipe(up_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to", required=True, help="HOST:PORT,HOST:PORT,...")
    args = parser.parse_args()
    upstreams = [(h, int(p)) for h, _, p in (u.strip().rpartition(":") for u in args.to.split(","))]
    asyncio.run(serve(args.port, upstreams))


if __name__ == "__main__":
    main()
