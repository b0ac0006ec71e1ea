"""One reasoning request: resolve the budget and strategy, run the search."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from app.ops.metrics import Metrics
from app.ops.observe import SEARCH_LOG
from app.ops.shutdown import SHUTDOWN, ServerShuttingDown
from app.protocol import unsupported
from app.protocol.chat import ChatCompletionRequest
from app.protocol.errors import ApiError
from app.protocol.unsupported import refuse_unsupported
from app.protocol.verifier_specs import VerifierSpec
from app.reasoning.wiring import (
    CountedVerifier,
    FinalTextVerifier,
    RewardsAnswerTools,
    SandboxPolicy,
    build_code_tests,
    build_verifier,
)
from app.settings import Settings, Tier
from backends.http_retry import SEARCH_SESSION
from backends.types import Backend
from rewards.exact_prm import ExactStepsPRM
from rewards.judge import LLMJudgePRM, value_judge
from rewards.remote_prm import RemotePRM
from rewards.thinking import split_thinking
from sampling import ClientSampling, Sampling
from search.budget import Budget
from search.charged import ChargedGenerator
from search.driver import Emit, SearchResult, run_search
from search.instruction_prompts import checks_messages
from search.programs import SEARCH_PROGRAM_INSTRUCTION, program_messages
from search.protocols import Generator, StepScorer, Verifier
from search.registry import STRATEGIES, build_strategy, strategy_names
from search.registry import strategy_settings as strategy_settings_of
from search.request_kind import asks_bare_answer, wants_program
from search.strategy import Problem, SearchDeps, StrategySettings


@dataclass(frozen=True)
class Plan:
    strategy: str
    effort: str
    settings: StrategySettings  # the strategy's, validated
    messages: list[dict[str, Any]]
    budget_tokens: int
    max_calls: int
    deadline_s: float | None
    sampling: Sampling  # every call's base: per-sample cap, seed, stop strings, the client's choices but temperature
    # What the client set, laid over every hot sample (Problem.hot).
    client_sampling: ClientSampling = field(default_factory=ClientSampling)
    verifier: VerifierSpec | None = None
    default_system: bool = False  # messages[0] is the server's default system prompt, not the client's

    @property
    def seed(self) -> int | None:
        return self.sampling.seed


def plan_request(req: ChatCompletionRequest, settings: Settings) -> Plan:
    """Turn a validated request into a plan; ApiError (4xx) names any limit it breaks."""
    if len(req.messages) > settings.max_messages:
        raise ApiError(400, f"too many messages: {len(req.messages)} > {settings.max_messages}", param="messages")
    opts = req.reasoning
    # A UI that can only pick a model picks `MODEL:EFFORT` from /v1/models; an effort field wins over it.
    _, _, suffix = req.model.rpartition(":")
    aliased = suffix if suffix and settings.tier_for(suffix) is not None else None
    effort = (opts.effort if opts and opts.effort else None) or req.reasoning_effort or aliased \
        or settings.default_effort
    tier_name = settings.tier_for(effort)
    if tier_name is None:
        raise ApiError(400, f"no effort tier {effort!r} is configured; efforts: {', '.join(settings.efforts())}",
                       param="reasoning_effort")
    tier = settings.tiers[tier_name]
    refuse_unsupported(req.model_dump(), unsupported.CHAT)
    _refuse_lone_surrogates(req)
    verifier = opts.verifier if opts else None
    if req.response_format is not None and req.response_format.verifier() is not None:
        if verifier is not None:
            raise ApiError(400, "response_format asks for JSON and reasoning.verifier for another check: send one",
                           param="response_format")
        verifier = req.response_format.verifier()
    strategy = (opts.strategy if opts else None) or tier.strategy
    if strategy not in STRATEGIES:
        raise ApiError(400, f"unknown strategy {strategy!r}; known: {', '.join(strategy_names())}",
                       param="reasoning.strategy", code="unknown_strategy")
    if opts and opts.n is not None and opts.n > settings.max_n:
        raise ApiError(400, f"reasoning.n {opts.n} exceeds the limit {settings.max_n}", param="reasoning.n")
    strategy_settings = _strategy_settings(strategy, tier, req)
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
        raise ApiError(400, f"max_calls {max_calls} exceeds the limit {settings.max_calls}",
                       param="reasoning.max_calls")
    # The effort's own deadline is the default, bounded by the server's (an operator lowers every tier at once).
    default_deadline_s = min(tier.deadline_s or settings.default_deadline_s, settings.default_deadline_s)
    deadline_s = (opts.deadline_s if opts else None) or default_deadline_s
    if deadline_s > settings.max_deadline_s:
        raise ApiError(400, f"deadline_s {deadline_s} exceeds the limit {settings.max_deadline_s}",
                       param="reasoning.deadline_s")
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    default_system = bool(settings.system_prompt) and not any(m["role"] == "system" for m in messages)
    if default_system:
        messages.insert(0, {"role": "system", "content": settings.system_prompt})
    per_sample = (opts.max_tokens_per_sample if opts else None) or tier.max_tokens_per_sample \
        or settings.max_tokens_per_sample
    if per_sample > settings.max_sample_tokens:
        raise ApiError(400, f"max_tokens_per_sample {per_sample} exceeds the limit {settings.max_sample_tokens}",
                       param="reasoning.max_tokens_per_sample")
    client_sampling = ClientSampling.of(req)
    # A greedy pass stays greedy: the client's temperature heats only the hot samples (Problem.hot).
    sampling = client_sampling.over(Sampling(max_tokens=min(per_sample, budget_tokens), seed=req.seed,
                                             stop=req.stop_strings()), greedy=True)
    return Plan(strategy=strategy, effort=effort, settings=strategy_settings, messages=messages,
                budget_tokens=budget_tokens, max_calls=max_calls, deadline_s=deadline_s, sampling=sampling,
                client_sampling=client_sampling, verifier=verifier, default_system=default_system)


def _refuse_lone_surrogates(req: ChatCompletionRequest) -> None:
    """400 for text no backend can encode (a lone UTF-16 surrogate such as "\\ud800" in JSON)."""
    try:
        json.dumps(req.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(400, f"the request holds text that is not valid Unicode ({exc.reason}: a lone surrogate)",
                       param="messages", code="invalid_unicode") from None


def _strategy_settings(strategy: str, tier: Tier, req: ChatCompletionRequest) -> StrategySettings:
    """The tier's settings (when the tier runs this strategy), then the request's: `reasoning.settings`
    (a nested group such as auto's `vote` merged into the tier's, field by field) and `reasoning.n`;
    validated by the strategy's own settings model, so a field it lacks is a 400 that names it. The
    request's sampling fields are no settings: they go over every hot sample (Problem.hot)."""
    values: dict[str, Any] = dict(tier.settings) if strategy == tier.strategy else {}
    given: dict[str, str] = {}  # setting -> the request field it came from
    opts = req.reasoning
    for name, value in ((opts.settings if opts else None) or {}).items():
        values[name], given[name] = _merged(values.get(name), value), f"reasoning.settings.{name}"
    if opts and opts.n is not None:
        values["n"], given["n"] = opts.n, "reasoning.n"
    fields = STRATEGIES[strategy].Settings.model_fields
    try:
        return strategy_settings_of(strategy, values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(x) for x in error["loc"])
        param = given.get(str(error["loc"][0]) if error["loc"] else "", f"tier {tier.strategy!r}")
        if error["type"] == "extra_forbidden":
            known = ", ".join(sorted(_fields_at(STRATEGIES[strategy].Settings, error["loc"][:-1]) or fields))
            raise ApiError(400, f"{param}: strategy {strategy!r} has no setting {where!r} (its settings: {known})",
                           param=param, code="unknown_setting") from None
        raise ApiError(400, f"{param}: {where}: {error['msg']}", param=param) from None


def _merged(base: Any, over: Any) -> Any:
    """`over` laid on `base`: two groups of settings merge key by key (recursively), anything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{key: _merged(base.get(key), value) for key, value in over.items()}}
    return over


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The setting names of the nested group at `loc` ([] where `loc` names no group of settings)."""
    for name in loc:
        field = model.model_fields.get(str(name))
        group = next((t for t in (field.annotation, *get_args(field.annotation)) if isinstance(t, type)
                      and issubclass(t, BaseModel)), None) if field else None
        if group is None:
            return []
        model = group
    return list(model.model_fields)


class ReasoningService:
    """Runs planned searches against one backend; holds no per-request state."""

    def __init__(self, settings: Settings, backend: Backend, tools: RewardsAnswerTools, *, generator: Generator,
                 sandbox: SandboxPolicy, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self.settings = settings
        self.sandbox = sandbox
        self.backend = backend
        self.tools = tools
        self.generator = generator
        self.judge: LLMJudgePRM | RemotePRM = (
            RemotePRM(settings.prm_url, model=settings.prm_model, step_tag=settings.prm_step_tag,
                      timeout_s=settings.backend_timeout_s)
            if settings.prm_url else LLMJudgePRM(backend.render_chat))
        exact = settings.step_reward == "exact+judge"
        self.step_scorer: StepScorer = ExactStepsPRM(self.judge) if exact else self.judge
        self.valuer = value_judge(backend.render_chat)

    async def aclose(self) -> None:
        """Close what the service opened itself (a remote PRM's connections)."""
        if isinstance(self.judge, RemotePRM):
            await self.judge.aclose()

    async def run(self, plan: Plan, emit: Emit | None = None) -> SearchResult:
        SEARCH_SESSION.set(uuid.uuid4().hex)  # this task's calls carry it; a router keeps them on one engine
        budget = Budget.create(max_tokens=plan.budget_tokens, max_calls=plan.max_calls, deadline_s=plan.deadline_s)
        try:
            # Rendering may ask the server (its own chat template): it counts against the deadline too.
            async with asyncio.timeout(plan.deadline_s):
                problem = await self._problem(plan)
        except TimeoutError:
            raise ApiError(504, f"the deadline ({plan.deadline_s:g} s) passed while the prompt was rendered",
                           type="timeout_error", param="reasoning.deadline_s", code="deadline_exceeded") from None
        # One charged generator for the strategy and its judge: both spend the same budget.
        charged = ChargedGenerator(self.generator, budget, concurrency=self.settings.search_concurrency,
                                   max_failures=self.settings.search_max_failures)
        verifier: Verifier | None = None
        if plan.verifier is not None and plan.verifier.type == "python_tests":
            reason = await self.sandbox.unavailable()
            if reason is not None:  # the tests could not run: say so rather than fail every candidate
                raise ApiError(503, reason, type="server_error", param="reasoning.verifier", code="sandbox_unavailable")
        if plan.verifier is not None:
            verifier = FinalTextVerifier(build_verifier(plan.verifier, self.tools.equivalence, self.sandbox),
                                         self.settings.reasoning_parser)
            if self.metrics is not None:
                verifier = CountedVerifier(verifier, plan.verifier.type, self.metrics.verifier_runs)
        code_tests = (build_code_tests(plan.verifier, self.sandbox, self.settings.reasoning_parser)
                      if plan.verifier is not None else None)
        deps = SearchDeps(tools=self.tools, generator=charged, scorer=self.step_scorer, valuer=self.valuer,
                          verifier=verifier, render=self.backend.render_chat, code_tests=code_tests)
        strategy = build_strategy(plan.strategy, problem, deps, plan.settings)
        result = await run_search(strategy, generator=charged, emit=emit)
        result = _in_form_asked(self._without_thinking(result), problem.question)
        logged = SEARCH_LOG.get()
        if logged is not None:  # the access log line's search fields: never any prompt or answer text
            logged.update(strategy=result.strategy, completion_tokens=result.usage.completion_tokens,
                          calls=result.usage.calls, stop_reason=result.stop_reason)
        if result.outcome is None and result.stop_reason == SHUTDOWN:
            # Stopped by the server's shutdown before finding anything: retry elsewhere (503), not an empty 200.
            raise ServerShuttingDown("the server is shutting down; retry on another instance")
        if result.outcome is None and result.stop_reason == "deadline":
            raise ApiError(504, f"the deadline ({plan.deadline_s:g} s) passed before any answer was found",
                           type="timeout_error", param="reasoning.deadline_s", code="deadline_exceeded")
        return result

    async def _problem(self, plan: Plan) -> Problem:
        """The problem's prompts, rendered with the model's chat template."""
        prompt = await self.backend.render_chat(plan.messages)
        question = next((m["content"] for m in reversed(plan.messages) if m["role"] == "user"), "")
        problem = Problem(prompt=prompt, question=question, messages=tuple(plan.messages), sampling=plan.sampling,
                          client_sampling=plan.client_sampling)
        if plan.verifier is None and problem.kind != "answer":
            # No answer to box: the reply is written to the client's own chat, without the default math prompt.
            reply_messages = plan.messages[1:] if plan.default_system else plan.messages
            reply_prompt = await self.backend.render_chat(reply_messages) if plan.default_system else None
            checks_prompt = (await self.backend.render_chat(checks_messages(question), add_generation_prompt=False)
                             if plan.settings.wants_checks() else None)
            sampling = plan.sampling
            if plan.client_sampling.frequency_penalty is None and plan.client_sampling.presence_penalty is None:
                # A small model loops on some writing (all capitals, long lists); a request it can vote on keeps none.
                sampling = replace(sampling, frequency_penalty=self.settings.open_frequency_penalty)
            problem = replace(problem, reply_messages=tuple(reply_messages), reply_prompt=reply_prompt,
                              checks_prompt=checks_prompt, sampling=sampling)
        if plan.settings.wants_programs() and wants_program(question):
            # A game-24 verifier says the answer is an expression to search for, not a number to compute.
            searched = plan.verifier is not None and plan.verifier.type == "game24"
            messages = (program_messages(plan.messages, SEARCH_PROGRAM_INSTRUCTION) if searched
                        else program_messages(plan.messages))
            program_prompt = await self.backend.render_chat(messages, add_generation_prompt=False)
            problem = replace(problem, program_prompt=program_prompt)
        return problem

    def _without_thinking(self, result: SearchResult) -> SearchResult:
        """The chosen sample's final text as the content: a thinking model's chain never reaches
        `message.content` (its length is the outcome's `thinking_chars`)."""
        outcome = result.outcome
        if outcome is None:
            return result
        thinking, final = split_thinking(outcome.content, self.settings.reasoning_parser)
        if not thinking:
            return result
        return replace(result, outcome=replace(outcome, content=final.strip(), thinking_chars=len(thinking)))


def _in_form_asked(result: SearchResult, question: str) -> SearchResult:
    """The bare answer as the content when the request asks for only that ("the number only"); the
    work it came from moves to the outcome's `work`, which reasoning_content shows."""
    outcome = result.outcome
    if outcome is None or outcome.answer is None or not asks_bare_answer(question):
        return result
    if outcome.content.strip() == outcome.answer.strip():
        return result
    return replace(result, outcome=replace(outcome, content=outcome.answer.strip(), work=outcome.content))
