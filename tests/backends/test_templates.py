"""Where a chat template comes from: a file named in the settings, the server, or ChatML as the last
resort; and continuing a partial assistant message the same way whatever the source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.model_files import resolve_model
from backends.templates import TemplateLoadError, TemplateRenderError, checked, load_template
from sampling import Sampling
from tests.backends.test_openai_compat import backend_on, vllm_completion
from tests.backends.wire import Wire

# Gemma's published chat format (its GGUF carries none): it trims every message's content.
GEMMA = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
CHAT = [{"role": "user", "content": "2 + 2?"}]
GEMMA_PROMPT = "<bos><start_of_turn>user\n2 + 2?<end_of_turn>\n<start_of_turn>model\n"


async def test_templates_load_from_a_jinja_file_an_hf_folder_its_config_and_a_gguf(tmp_path: Path):
    (tmp_path / "gemma.jinja").write_text(GEMMA)
    assert await load_template(str(tmp_path / "gemma.jinja")).render(CHAT) == GEMMA_PROMPT.replace("<bos>", "")
    folder = tmp_path / "gemma-hf"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": GEMMA, "bos_token": {"content": "<bos>"}, "eos_token": "<eos>"}))
    from_folder = load_template(str(folder))
    assert await from_folder.render(CHAT) == GEMMA_PROMPT and from_folder.bos_token == "<bos>"
    assert await load_template(str(folder / "tokenizer_config.json")).render(CHAT) == GEMMA_PROMPT
    (folder / "chat_template.jinja").write_text(GEMMA.replace("model", "assistant"))  # newer HF folders
    assert "<start_of_turn>assistant\n" in await load_template(str(folder)).render(CHAT)
    gguf = load_template(str(resolve_model("smollm2", tmp_path).path))
    assert gguf.source.startswith("file ") and (await gguf.render(CHAT)).endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("content, says", [
    (None, "cannot be read"),
    ("{% for message in messages %}", "does not render"),
    ("{{ raise_exception('no system messages') }}", "does not render"),
    ('{"bos_token": "<s>"}', "has no chat_template"),
])
def test_a_bad_template_is_an_error_naming_it(tmp_path: Path, content: str | None, says: str):
    path = tmp_path / ("tokenizer_config.json" if content and content.startswith("{\"") else "bad.jinja")
    if content is not None:
        path.write_text(content)
    with pytest.raises(TemplateLoadError, match=says) as info:
        load_template(str(path))
    assert str(path) in str(info.value)


async def test_a_continued_answer_keeps_its_bytes_under_a_template_that_trims():
    gemma = checked(GEMMA, "<bos>", "<eos>", source="test")
    partial = await gemma.render([*CHAT, {"role": "assistant", "content": "Step 1: 2 + 2 = 4.\n\n"}],
                                 add_generation_prompt=False)
    assert partial == GEMMA_PROMPT + "Step 1: 2 + 2 = 4.\n\n"


async def test_a_template_that_refuses_a_conversation_is_a_400_naming_it():
    strict = checked("{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
                     "{% for m in messages %}{{ m['content'] }}{% endfor %}", "", "", source="file strict.jinja")
    with pytest.raises(TemplateRenderError) as info:
        await strict.render([{"role": "system", "content": "be brief"}, *CHAT])
    assert info.value.status == 400 and "strict.jinja" in str(info.value) and "no system role" in str(info.value)


def encode(text: str) -> list[int]:
    """One token per character, the BOS text as token 0 (as a real tokenizer reads a special token)."""
    return ([0] if text.startswith("<bos>") else []) + [ord(c) for c in text.removeprefix("<bos>")]


class FakeVllm:
    """vLLM's /tokenize (with `messages` or a `prompt`) and /detokenize over a one-character-per-token
    tokenizer and the Gemma template; /v1/completions records its bodies."""

    def __init__(self) -> None:
        self.template = checked(GEMMA, "<bos>", "<eos>", source="fake vllm")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        if request.url.path == "/tokenize" and "messages" in body:
            messages = body["messages"]
            text = self.template.template.render(messages, add_generation_prompt=body["add_generation_prompt"])
            if body.get("continue_final_message"):  # vLLM cuts the rendered turn's end after the last message
                last = messages[-1]["content"].strip()
                text = text[: text.rfind(last) + len(last)]
            return httpx.Response(200, json={"tokens": encode(text), "count": len(text)})
        if request.url.path == "/tokenize":
            text = ("<bos>" if body.get("add_special_tokens") else "") + body["prompt"]
            return httpx.Response(200, json={"tokens": encode(text)})
        if request.url.path == "/detokenize":
            return httpx.Response(200, json={"prompt": "".join("<bos>" if t == 0 else chr(t) for t in body["tokens"])})
        if request.url.path == "/v1/completions":
            return httpx.Response(200, json=vllm_completion(["4"]))
        return httpx.Response(404, json={"detail": "Not Found"})


async def test_vllm_renders_with_its_own_template_and_ponder_sends_no_second_bos():
    wire = Wire(FakeVllm())
    backend = backend_on(wire)
    prompt = await backend.render_chat(CHAT)
    assert prompt == GEMMA_PROMPT
    assert backend.chat_template_source.startswith("server http://vllm.test:8000/tokenize")
    step = await backend.render_chat([*CHAT, {"role": "assistant", "content": "Step 1: 2 + 2 = 4.\n\n"}],
                                     add_generation_prompt=False)
    assert step == GEMMA_PROMPT + "Step 1: 2 + 2 = 4.\n\n"  # the blank line the template would trim stays
    await backend.complete(prompt, n=1, params=Sampling(max_tokens=4))
    assert wire.bodies()[-1]["add_special_tokens"] is False
    await backend.aclose()


async def test_llama_server_shows_its_template_at_props():
    props = {"chat_template": GEMMA, "bos_token": "<bos>", "eos_token": "<eos>"}
    backend = backend_on(Wire(lambda r: httpx.Response(200, json=props) if r.url.path == "/props"
                              else httpx.Response(404, json={})))
    assert await backend.render_chat(CHAT) == GEMMA_PROMPT
    assert backend.chat_template_source == "server http://vllm.test:8000/props"
    await backend.aclose()


async def test_an_explicit_template_wins_and_an_unreadable_one_stops_the_backend_at_start(tmp_path: Path):
    from app.compose.build import open_backend
    from app.settings import load_settings

    (tmp_path / "gemma.jinja").write_text(GEMMA)
    backend = await open_backend(load_settings(backend="openai", base_url="http://vllm.test:8000", model="m",
                                               chat_template=str(tmp_path / "gemma.jinja")))
    assert backend.chat_template_source == f"file {tmp_path / 'gemma.jinja'}"
    await backend.aclose()
    with pytest.raises(TemplateLoadError, match=r"missing\.jinja"):
        await open_backend(load_settings(backend="openai", chat_template=str(tmp_path / "missing.jinja")))
