"""A process reward model served by vLLM's pooling runner (e.g. Qwen2.5-Math-PRM-7B:
`vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling`).

The solution's steps go to `POST /pooling` as the assistant's turn, each step followed by the
step tag (`<extra_0>` for Qwen's PRMs); the server applies the PRM's own chat template and
returns, per tag, the softmax over (incorrect, correct). The score of a step is its p(correct).
Calls go through the backends' `JsonApi` (connect errors and 5xx retried, the search's session
header, the whole exchange bounded). A failed call scores the step 0.5 (no verdict), so a search
degrades to unguided, not to an error; failures are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from backends.errors import BackendError
from backends.http_retry import JsonApi, server_root

QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


class RemotePRM:
    """search.protocols.StepScorer over a vLLM `/pooling` PRM server."""

    def __init__(self, base_url: str, *, model: str | None = None, step_tag: str = "<extra_0>",
                 system_prompt: str = QWEN_PRM_SYSTEM, timeout_s: float = 30.0, max_retries: int = 2,
                 backoff_s: float = 0.5, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = server_root(base_url)
        self.model, self.step_tag, self.system_prompt = model, step_tag, system_prompt
        self._api = JsonApi(self.base_url, backend="prm", timeout_s=timeout_s, max_retries=max_retries,
                            backoff_s=backoff_s, client=client)
        self.failures = 0

    def request_body(self, messages: Sequence[dict[str, Any]], steps: Sequence[str]) -> dict[str, Any]:
        question = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        answer = "".join(step.strip() + self.step_tag for step in steps)
        body: dict[str, Any] = {"messages": [{"role": "system", "content": self.system_prompt},
                                             {"role": "user", "content": question},
                                             {"role": "assistant", "content": answer}]}
        if self.model:
            body["model"] = self.model
        return body

    async def step_scores(self, messages: Sequence[dict[str, Any]], steps: Sequence[str]) -> list[float]:
        """p(correct) of every step; raises BackendError, or ValueError (and friends) on an answer of
        the wrong shape."""
        answer = await self._api.send_object("POST", "/pooling", body=self.request_body(messages, steps))
        rows = answer["data"][0]["data"]
        scores = [float(row[1]) for row in rows]
        if len(scores) != len(steps):
            raise ValueError(f"the PRM scored {len(scores)} step tags for {len(steps)} steps")
        return scores

    async def score(self, messages: Sequence[dict[str, Any]], steps: Sequence[str], generator: Any) -> float:
        """p(the last step is correct); 0.5 when there are no steps or the server fails."""
        if not steps:
            return 0.5
        try:
            return (await self.step_scores(messages, steps))[-1]
        except (BackendError, ValueError, KeyError, IndexError, TypeError):
            self.failures += 1
            return 0.5

    async def aclose(self) -> None:
        await self._api.aclose()
