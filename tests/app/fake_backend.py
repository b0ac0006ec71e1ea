"""A scripted Backend for gateway tests (test code): fixed answers, optional delay."""

from __future__ import annotations

import asyncio

from backends.types import Completion, Sample
from sampling import Sampling


class ScriptedBackend:
    name = "scripted"
    model = "scripted-model"
    chat_template_source = "scripted (role tags)"

    def __init__(self, text: str = "The answer is \\boxed{4}", delay_s: float = 0.0) -> None:
        self.text = text
        self.delay_s = delay_s
        self.calls = 0
        self.prompts: list[str] = []

    async def render_chat(self, messages, *, add_generation_prompt: bool = True) -> str:
        text = "".join(f"<{m['role']}>{m['content']}" for m in messages)
        return text + "<assistant>" if add_generation_prompt else text  # else the last message continues

    async def complete(self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None) -> Completion:
        self.calls += 1
        self.prompts.append(prompt)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        tokens = min(params.max_tokens, 7)  # a max_tokens below 7 cuts the text: finish "length"
        finish = "length" if params.max_tokens < 7 else "stop"
        return Completion(samples=tuple(Sample(self.text, tokens, finish) for _ in range(n)),
                          prompt_tokens=10 * n, cached_tokens=9 * (n - 1), backend=self.name)

    async def resolve_chat_template(self) -> str:
        return self.chat_template_source

    async def health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None
