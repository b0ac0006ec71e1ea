"""The reasoning summary of a finished search: written from its result (`concise`, `detailed`),
or, for `model`, written by the model in one extra backend call that the request's budget pays for."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

from app.protocol.render import summary_text
from app.reasoning.service import Plan
from backends.types import Backend
from sampling import Sampling
from search.charged import Usage
from search.driver import SearchResult

SUMMARY_MAX_TOKENS = 200  # 2-4 sentences
MIN_SUMMARY_TOKENS = 32  # below this a model summary would be cut off mid-sentence
TRACE_CHARS = 6000  # the trace shown to the model: its head and tail when longer
ANSWER_CHARS = 2000
DEADLINE_GRACE_S = 1.0

INSTRUCTION = (
    "You are given a question, the record of a search that sampled and compared several attempts at it, "
    "and the answer the search chose. In 2 to 4 plain sentences, summarise how that answer was reached: "
    "what was tried, how far the attempts agreed or were checked, and how confident the result is. "
    "Do not solve the problem again and do not use lists or headings."
)


@dataclass(frozen=True)
class Summarized:
    """A search's result (its usage includes the summary call, if one was made) and its summary."""

    result: SearchResult
    summary: str | None
    by_model: bool = False


async def summarize(result: SearchResult, level: str, *, plan: Plan, backend: Backend) -> Summarized:
    """The summary at `level` (none | concise | detailed | model).

    `model` spends at most what is left of the plan's budget (tokens, calls, deadline); when
    nothing is left, or the call fails, the concise written summary is returned and says why."""
    if level != "model":
        return Summarized(result, summary_text(result, level))
    left = _room(result, plan)
    if isinstance(left, str):
        return Summarized(result, _fallback(result, left))
    max_tokens, time_left = left
    params = Sampling(max_tokens=max_tokens, temperature=0.0, seed=plan.seed)
    deadline = time.monotonic() + time_left if time_left is not None else None
    u = result.usage
    try:
        prompt = await backend.render_chat(summary_messages(result, plan))
        call = backend.complete(prompt, n=1, params=params, deadline=deadline)
        completion = await (asyncio.wait_for(call, time_left + DEADLINE_GRACE_S) if time_left is not None else call)
    except Exception as exc:  # the answer stands without a model summary
        failed = replace(result, usage=replace(u, calls=u.calls + 1, failed_calls=u.failed_calls + 1))
        return Summarized(failed, _fallback(failed, f"the summary call failed ({type(exc).__name__}: {exc})"))
    charged = replace(result, usage=Usage(
        completion_tokens=u.completion_tokens + completion.completion_tokens,
        prompt_tokens=u.prompt_tokens + completion.prompt_tokens,
        cached_tokens=u.cached_tokens + completion.cached_tokens,
        calls=u.calls + 1, failed_calls=u.failed_calls,
    ))
    text = completion.samples[0].text.strip() if completion.samples else ""
    if not text:
        return Summarized(charged, _fallback(charged, "the model returned no summary"))
    return Summarized(charged, text, by_model=True)


def summary_messages(result: SearchResult, plan: Plan) -> list[dict[str, str]]:
    """The chat asking the model for its summary: the question, the detailed trace, the answer."""
    question = next((m["content"] for m in reversed(plan.messages) if m["role"] == "user"), "")
    trace = summary_text(result, "detailed") or ""
    if len(trace) > TRACE_CHARS:
        trace = f"{trace[: TRACE_CHARS // 2]}\n...\n{trace[-TRACE_CHARS // 2 :]}"
    answer = result.outcome.content if result.outcome else ""
    if len(answer) > ANSWER_CHARS:
        answer = answer[:ANSWER_CHARS] + " ..."
    return [
        {"role": "system", "content": INSTRUCTION},
        {"role": "user", "content": f"Question:\n{question}\n\nSearch record:\n{trace}\n\n"
                                    f"Chosen answer:\n{answer or '(none)'}\n\nSummary:"},
    ]


def _room(result: SearchResult, plan: Plan) -> tuple[int, float | None] | str:
    """(max tokens, seconds left) for the summary call, or why there is no room for one."""
    u = result.usage
    tokens_left = plan.budget_tokens - u.completion_tokens
    if tokens_left < MIN_SUMMARY_TOKENS:
        return f"the token budget is spent ({max(tokens_left, 0)} of {plan.budget_tokens} left)"
    if u.calls >= plan.max_calls:
        return f"the call budget is spent ({u.calls} of {plan.max_calls} calls made)"
    time_left = None if plan.deadline_s is None else plan.deadline_s - result.elapsed_s
    if time_left is not None and time_left <= 0:
        return "the deadline has passed"
    return min(SUMMARY_MAX_TOKENS, tokens_left), time_left


def _fallback(result: SearchResult, why: str) -> str:
    written = summary_text(result, "concise") or ""
    return f"{written}\n(written from the search record, not by the model: {why})"
