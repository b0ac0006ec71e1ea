"""One reasoning request: resolve the budget and strategy, run the search."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from app.errors import ApiError
from app.metrics import Metrics
from app.protocol import ChatCompletionRequest, VerifierSpec
from app.settings import Settings
from app.shutdown import SHUTDOWN, ServerShuttingDown
from app.wiring import BackendGenerator, CountedVerifier, RewardsAnswerTools, SandboxPolicy, build_verifier
from backends.types import Backend
from rewards.judge import LLMJudgePRM, value_judge
from rewards.remote_prm import RemotePRM
from search.budget import Budget
from search.charged import ChargedGenerator
from search.driver import Emit, SearchResult, run_search
from search.programs import (PROGRAM_INSTRUCTION, SEARCH_PROGRAM_EXAMPLE, SEARCH_PROGRAM_INSTRUCTION, program_messages,
                             wants_program)
from search.registry import STRATEGIES, strategy_names
from search.strategy import Problem


@dataclass(frozen=True)
class Plan:
    strategy: str
    effort: str
    config: dict[str, Any]
    messages: list[dict[str, Any]]
    budget_tokens: int
    max_calls: int
    deadline_s: float | None
    max_tokens_per_sample: int
    temperature: float | None
    seed: int | None
    stop: tuple[str, ...] = field(default=())
    verifier: VerifierSpec | None = None


def plan_request(req: ChatCompletionRequest, settings: Settings) -> Plan:
    """Turn a validated request into a plan; ApiError (4xx) names any limit it breaks."""
    if len(req.messages) > settings.max_messages:
        raise ApiError(400, f"too many messages: {len(req.messages)} > {settings.max_messages}", param="messages")
    opts = req.reasoning
    effort = (opts.effort if opts and opts.effort else None) or req.reasoning_effort or settings.default_effort
    tier = settings.tiers.get(effort)
    if tier is None:
        raise ApiError(400, f"no effort tier {effort!r} is configured", param="reasoning_effort")
    verifier = opts.verifier if opts else None
    strategy = (opts.strategy if opts else None) or tier.strategy
    if strategy not in STRATEGIES:
        raise ApiError(400, f"unknown strategy {strategy!r}; known: {', '.join(strategy_names())}",
                       param="reasoning.strategy", code="unknown_strategy")
    config: dict[str, Any] = dict(tier.config) if strategy == tier.strategy else {}
    if opts and opts.n is not None:
        if opts.n > settings.max_n:
            raise ApiError(400, f"reasoning.n {opts.n} exceeds the limit {settings.max_n}", param="reasoning.n")
        config["n"] = opts.n
    budget_tokens = (opts.budget_tokens if opts and opts.budget_tokens else None) or tier.budget_tokens
    # max_completion_tokens bounds every token generated, reasoning included (OpenAI's meaning).
    cap = req.max_completion_tokens or req.max_tokens
    if cap is not None:
        budget_tokens = min(budget_tokens, cap)
    if budget_tokens > settings.max_budget_tokens:
        raise ApiError(400, f"budget_tokens {budget_tokens} exceeds the limit {settings.max_budget_tokens}",
                       param="reasoning.budget_tokens")
    max_calls = (opts.max_calls if opts and opts.max_calls else None) or tier.max_calls
    if max_calls > settings.max_calls:
        raise ApiError(400, f"max_calls {max_calls} exceeds the limit {settings.max_calls}", param="reasoning.max_calls")
    deadline_s = opts.deadline_s if opts else None
    if deadline_s is not None and deadline_s > settings.max_deadline_s:
        raise ApiError(400, f"deadline_s {deadline_s} exceeds the limit {settings.max_deadline_s}",
                       param="reasoning.deadline_s")
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    if settings.system_prompt and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": settings.system_prompt})
    return Plan(
        strategy=strategy, effort=effort, config=config, messages=messages, budget_tokens=budget_tokens,
        max_calls=max_calls, deadline_s=deadline_s,
        max_tokens_per_sample=min(settings.max_tokens_per_sample, budget_tokens),
        temperature=req.temperature, seed=req.seed, stop=req.stop_strings(), verifier=verifier,
    )


class ReasoningService:
    """Runs planned searches against one backend; holds no per-request state."""

    def __init__(self, settings: Settings, backend: Backend, tools: RewardsAnswerTools,
                 sandbox: SandboxPolicy | None = None, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self.settings = settings
        self.sandbox = sandbox or SandboxPolicy()
        self.backend = backend
        self.tools = tools
        self.generator = BackendGenerator(backend)
        self.judge: LLMJudgePRM | RemotePRM = (
            RemotePRM(settings.prm_url, model=settings.prm_model, step_tag=settings.prm_step_tag,
                      timeout_s=settings.backend_timeout_s)
            if settings.prm_url else LLMJudgePRM(backend.render_chat))
        self.valuer = value_judge(backend.render_chat)

    async def aclose(self) -> None:
        """Close what the service opened itself (a remote PRM's connections)."""
        if isinstance(self.judge, RemotePRM):
            await self.judge.aclose()

    async def run(self, plan: Plan, emit: Emit | None = None) -> SearchResult:
        prompt = await self.backend.render_chat(plan.messages)
        question = next((m["content"] for m in reversed(plan.messages) if m["role"] == "user"), "")
        problem = Problem(prompt=prompt, question=question, messages=tuple(plan.messages), max_tokens=plan.max_tokens_per_sample,
                          temperature=plan.temperature, seed=plan.seed, stop=plan.stop)
        if (plan.config.get("programs") or plan.config.get("probe_programs")) and wants_program(question):
            # A game-24 verifier says the answer is an expression to search for, not a number to compute.
            searched = plan.verifier is not None and plan.verifier.type == "game24"
            messages = (program_messages(plan.messages, SEARCH_PROGRAM_INSTRUCTION, SEARCH_PROGRAM_EXAMPLE) if searched
                        else program_messages(plan.messages))
            program_prompt = await self.backend.render_chat(messages, add_generation_prompt=False)
            problem = replace(problem, program_prompt=program_prompt)
        budget = Budget.create(max_tokens=plan.budget_tokens, max_calls=plan.max_calls, deadline_s=plan.deadline_s)
        # One charged generator for the strategy and its judge: both spend the same budget.
        charged = ChargedGenerator(self.generator, budget, concurrency=self.settings.search_concurrency)
        config: dict[str, Any] = {**plan.config, "generator": charged, "scorer": self.judge, "valuer": self.valuer,
                                  "render": self.backend.render_chat}
        if plan.verifier is not None:
            verifier = build_verifier(plan.verifier, self.tools.equivalence, self.sandbox)
            if self.metrics is not None:
                verifier = CountedVerifier(verifier, plan.verifier.type, self.metrics.verifier_runs)
            config["verifier"] = verifier
        strategy = STRATEGIES[plan.strategy](problem, self.tools, **config)
        result = await run_search(strategy, generator=charged, emit=emit)
        if result.outcome is None and result.stop_reason == SHUTDOWN:
            # Stopped by the server's shutdown before finding anything: retry elsewhere (503), not an empty 200.
            raise ServerShuttingDown("the server is shutting down; retry on another instance")
        return result
