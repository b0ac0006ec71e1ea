"""A scripted Backend that branches (test code): step searches grow real trees through the gateway.

A step request (its stop strings hold the step delimiter) gets `n` different steps, and a whole
solution from the third step on; the LLM judge gets a Yes/No logprob that depends on the path it
judges, so siblings score differently (and a step asked for logprobs gets one its text decides); a
whole-solution request gets answers that disagree (4, 4, 5, 4, 6, ...), so a vote has a minority."""

from __future__ import annotations

import asyncio
import math
import zlib

from backends.types import Completion, Sample, TokenLogprob
from rewards.judge import JUDGE_QUESTION
from sampling import Sampling
from search.tree import STEP_DELIMITER

ANSWERS = ("4", "4", "5", "4", "6")


class BranchingBackend:
    name = "branching"
    model = "branching-model"
    chat_template_source = "scripted (role tags)"

    def __init__(self, delay_s: float = 0.0, depth: int = 3) -> None:
        self.delay_s, self.depth = delay_s, depth
        self.calls = 0
        self.samples = 0

    async def render_chat(self, messages, *, add_generation_prompt: bool = True) -> str:
        text = "".join(f"<{m['role']}>{m['content']}" for m in messages)
        return text + "<assistant>" if add_generation_prompt else text

    async def complete(self, prompt: str, *, n: int, params: Sampling, deadline: float | None = None) -> Completion:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if prompt.endswith(f"{JUDGE_QUESTION}<assistant>"):
            p = 0.05 + (zlib.crc32(prompt.encode()) % 90) / 100  # the path decides its score
            top = (("Yes", math.log(p)), ("No", math.log(1 - p)))
            verdict = Sample("Yes", 1, "stop", logprobs=(TokenLogprob("Yes", top[0][1], top=top),))
            return Completion(samples=(verdict,) * n, prompt_tokens=len(prompt) // 4 * n, backend=self.name)
        samples = []
        depth = prompt.rpartition("<assistant>")[2].count("Step ")
        for _ in range(n):
            self.samples += 1
            answer = ANSWERS[self.samples % len(ANSWERS)]
            if STEP_DELIMITER in params.stop and depth + 1 < self.depth:
                text = f"Step {depth + 1}: try path {self.samples}"
                samples.append(Sample(text, 6, "stop", stop_reason=STEP_DELIMITER, logprobs=_logprobs(text, params)))
            else:
                samples.append(Sample(f"Step {depth + 1}: so 2+2 = {answer}. The answer is \\boxed{{{answer}}}", 12,
                                      "stop"))
        prompt_tokens = len(prompt) // 4 * n
        return Completion(samples=tuple(samples), prompt_tokens=prompt_tokens,
                          cached_tokens=prompt_tokens * (n - 1) // max(n, 1), backend=self.name)

    async def resolve_chat_template(self) -> str:
        return self.chat_template_source

    async def health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def _logprobs(text: str, params: Sampling) -> tuple[TokenLogprob, ...] | None:
    """One token logprob that the step's text decides, when logprobs were asked for (MCTS's priors)."""
    if params.logprobs is None:
        return None
    return (TokenLogprob(text, -(zlib.crc32(text.encode()) % 100) / 50),)
