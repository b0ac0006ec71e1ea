"""Settings from the environment (prefix PONDER_), built by a factory, never a global."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backends.http_retry import CALL_BASE_S, MIN_TOKENS_PER_S

# OpenAI's reasoning efforts; each names a tier, or an alias of one (Settings.effort_aliases).
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]

DEFAULT_SYSTEM_PROMPT = (
    "Solve the problem step by step, briefly. End with the final answer as \\boxed{ANSWER}."
)


class Tier(BaseModel):
    """What one `reasoning_effort` level buys: a strategy, its budget and its settings (validated
    against the strategy's settings model when settings load; `config` is the field's former name)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    strategy: str
    budget_tokens: int = Field(gt=0)
    max_calls: int = Field(gt=0)
    max_tokens_per_sample: int | None = Field(default=None, gt=0)  # None: the server's default
    # A search at this effort ends by then unless its request sets a deadline; never past default_deadline_s.
    deadline_s: float | None = Field(default=None, gt=0)
    settings: dict[str, Any] = Field(default_factory=dict, validation_alias=AliasChoices("settings", "config"))


def default_tiers() -> dict[str, Tier]:
    """The effort tiers; why each is shaped so, with its measurements, is in docs/benchmarks/."""
    return {
        # Deadlines by effort: a single pass answers (or fails) within a minute; a search gets room for its
        # calls on a CPU server (docs/benchmarks/index.md: medium about 9x a single pass) but a drip cannot hold it.
        "none": Tier(strategy="single", budget_tokens=1024, max_calls=1, deadline_s=60.0),
        # Quantitative questions: the probe is the greedy chain of thought and the greedy program
        # (search.programs). If the program prints nothing the greedy chain stands; if they disagree,
        # more chains and programs vote together: programs alone outvote right greedy chains.
        # Other questions: self-consistency. With a verifier: best-of-N, which stops once 4 candidates
        # are checked and none is even well-formed (give_up_after); programs stop there once the greedy
        # one is not well-formed (program_trial: 1; on a quantitative question without a verifier this
        # can only matter when the greedy chain stated no answer either). A chain whose stated arithmetic is
        # wrong (checked exactly) votes half: such chains are nearly always wrong answers.
        "low": Tier(strategy="auto", budget_tokens=2048, max_calls=8, deadline_s=150.0,
                    settings={"n": 5, "batch": 2,
                              "probe": {"samples": 2, "programs": 1, "settle_if_program_fails": True},
                              "vote": {"programs": 3, "chains_with_programs": 3, "program_trial": 1,
                                       "wrong_arithmetic_weight": 0.5},
                              "verify": {"programs": 3, "give_up_after": 4, "program_trial": 1},
                              "open": {"n": 1, "batch": 1, "checks": False, "repairs": 0, "revisions": 0}}),
        "medium": Tier(strategy="auto", budget_tokens=4096, max_calls=64, deadline_s=300.0,
                       settings={"n": 8, "batch": 3,
                                 "probe": {"samples": 2, "programs": 1, "settle_if_program_fails": True},
                                 "vote": {"programs": 5, "chains_with_programs": 4, "program_trial": 1,
                                          "wrong_arithmetic_weight": 0.5},
                                 "verify": {"programs": 5, "give_up_after": 4, "program_trial": 1},
                                 "open": {"n": 1, "batch": 1, "checks": False, "repairs": 0, "revisions": 0}}),
        # An open-ended request (search.strategies.open_ended): high writes the model's instruction checks and the
        # greedy reply, and two hot replies when a check fails; a hot reply wins only by meeting more checks. low
        # and medium write one reply, as none does. On ifgen_heldout high followed 24 of 40 prompts against none's
        # 21 at 3.5x its tokens; one reply with checks and a repair, 21 at 2.4x; a repair and a rewrite on top of
        # high's replies bought nothing on the first 24 (16 either way) at 5.8x (docs/benchmarks/open-ended.md).
        # high votes as medium does on a quantitative question (a bigger vote does not select better);
        # it samples more where more can change the answer: 12 chains without a program prompt, 12
        # candidates against a verifier.
        "high": Tier(strategy="auto", budget_tokens=8192, max_calls=128, deadline_s=600.0,
                     settings={"n": 12, "batch": 3,
                               "probe": {"samples": 2, "programs": 1, "settle_if_program_fails": True},
                               "vote": {"programs": 5, "chains_with_programs": 4, "program_trial": 1,
                                        "wrong_arithmetic_weight": 0.5},
                               "verify": {"programs": 5, "give_up_after": 4, "program_trial": 1},
                               "open": {"n": 3, "batch": 2, "repairs": 0, "revisions": 0}}),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PONDER_", env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    backend: Literal["embedded", "openai", "sglang"] = "embedded"
    model: str = "smollm2"  # short name or a .gguf path (embedded); served model name (openai, sglang)
    base_url: str = "http://127.0.0.1:8080"  # the OpenAI-compatible or SGLang server
    # Replicas of that server: PONDER_BACKEND_URLS="http://a:30000,http://b:30000" (or a JSON list);
    # more than one routes each search to one replica by prompt prefix. Empty means [base_url].
    backend_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    backend_api_key: str | None = None
    backend_timeout_s: float = 120.0  # the most one backend exchange may take, whatever it asks for
    # A generation call may take backend_call_base_s (queueing, the prompt) + its tokens (n * max_tokens) /
    # backend_min_tokens_per_s, never past backend_timeout_s: a server that drips its answer is cut early.
    backend_call_base_s: float = Field(default=CALL_BASE_S, gt=0)  # 30
    backend_min_tokens_per_s: float = Field(default=MIN_TOKENS_PER_S, gt=0)  # 2: a CPU server at ~5 tokens/s passes
    # A PRM served by vLLM's pooling runner (rewards/remote_prm.py) scores steps instead of the
    # policy model's own judge: PONDER_PRM_URL=http://HOST:8001 PONDER_PRM_MODEL=Qwen/Qwen2.5-Math-PRM-7B
    prm_url: str | None = None
    prm_model: str | None = None
    prm_step_tag: str = "<extra_0>"
    # How tree searches score a step: "judge" (the PRM above), or "exact+judge" (a step's arithmetic
    # checked exactly first, rewards/exact_prm.py; the PRM only for steps that compute nothing).
    step_reward: Literal["judge", "exact+judge"] = "judge"
    # Requests in flight at each remote server, all searches together (the server batches them).
    backend_max_in_flight: int = Field(default=32, ge=1)
    # openai backend: send prompts as token ids from the server's /tokenize (vLLM), so a search's
    # prompts extend each other token for token (backends/token_prompts.py); turns itself off
    # where the server has no /tokenize or the tokenizer cannot be joined piecewise.
    backend_token_prompts: bool = False
    backend_cooldown_s: float = Field(default=10.0, gt=0)  # an unreachable replica is skipped this long, then probed
    model_cache_dir: Path = Path.home() / ".cache" / "ponder" / "models"
    n_ctx: int = 8192  # the embedded engine's KV cache, shared by all its slots
    n_threads: int | None = None
    # The embedded engine: "batched" decodes several sequences per step over a shared,
    # forked KV cache; "simple" is one sequence at a time with a prefix-ordered queue.
    engine: Literal["batched", "simple"] = "batched"
    engine_slots: int = 16  # sequences kept in the KV cache (running or cached for forks)
    engine_batch_width: int = 4  # sequences per step, the best (docs/benchmarks/serving.md#engine-efficiency)
    prefill_chunk: int = 256

    # The served model's chat template: a Jinja file, an HF model folder or its tokenizer_config.json, or
    # a GGUF file. Unset: the model's own (the embedded GGUF's; a remote server's, backends/templates.py).
    chat_template: str | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT  # added when the client sends no system message
    # How samples split into a thinking model's chain and its answer (rewards/thinking.py): none,
    # think_tags, or auto (split where a sample carries <think> tags).
    reasoning_parser: Literal["none", "think_tags", "auto"] = "auto"
    default_effort: Effort = "medium"
    max_tokens_per_sample: int = 512  # the default cap per sample, where neither tier nor request sets one
    # Open-ended replies (no answer to vote on) are sampled with this frequency penalty unless the client
    # sends a penalty of its own: it stops most of a small model's loops (docs/benchmarks/open-ended.md).
    open_frequency_penalty: float = Field(default=0.3, ge=0, le=2)
    tiers: dict[str, Tier] = Field(default_factory=default_tiers)
    # Efforts without a tier of their own run the tier they name (OpenAI's minimal and xhigh, the SDK's max).
    effort_aliases: dict[str, str] = Field(default_factory=lambda: {"minimal": "none", "xhigh": "high", "max": "high"})
    search_concurrency: int = 4
    # A search stops after this many backend calls fail in a row (its best so far, or a 502/503).
    search_max_failures: int = Field(default=3, ge=1)
    # Every search ends by this deadline, or by its tier's when that is sooner, unless the request sets one
    # (a request may not go past max_deadline_s): a hanging backend cannot hold a request open.
    default_deadline_s: float = Field(default=900.0, gt=0)

    # Auth: PONDER_API_KEYS="key1,key2" (or a JSON list); empty means no auth.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, repr=False)
    metrics_require_auth: bool = False
    max_concurrent_searches: int = 8
    max_queued_searches: int = 32
    sandbox: Literal["bwrap", "unsafe-rlimits"] = "bwrap"  # unsafe-rlimits: no isolation boundary (docs/security.md)
    sandbox_concurrency: int = Field(default=2, ge=1)  # python_tests runs at once (each uses a core)
    sandbox_timeout_s: float = Field(default=20.0, gt=0)  # the most wall time one run may have
    sandbox_memory_mb: int = Field(default=512, ge=64)
    sandbox_cpu_s: int = Field(default=10, ge=1)
    shutdown_grace_s: float = Field(default=10.0, ge=0)  # in-flight searches at shutdown; then best-so-far
    # Client connections (app/ops/connections.py): one that has not sent a whole request head within
    # header_timeout_s is closed; past max_connections (held 256 below the open-file limit) a new one
    # closes the oldest still waiting for a head, or is answered 503 when every one is inside a request.
    header_timeout_s: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=2048, ge=1)
    max_traces: int = 256  # recent search traces kept for GET /v1/traces/{id}
    # Also write every kept trace (prompts included) to <trace_dir>/<id>.json; gateways sharing the folder
    # (a shared volume) and caller_secret answer GET /v1/traces/{id} for each other's traces.
    trace_dir: Path | None = None
    caller_secret: SecretStr | None = Field(default=None, repr=False)  # keys a trace's owner digest (app/http/auth.py)
    keep_all_traces: bool = False  # keep every search's trace, not only those a client asked for (trace: true)

    @field_validator("caller_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # compose passes ${PONDER_CALLER_SECRET:-} through as ""

    @field_validator("api_keys", "backend_urls", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [k.strip() for k in text.split(",") if k.strip()]
        return value

    @model_validator(mode="after")
    def _tiers_are_valid(self) -> Settings:
        """A tier naming an unknown strategy or setting stops the server at startup, naming both."""
        from search.registry import STRATEGIES, strategy_settings

        for effort, tier in self.tiers.items():
            if tier.strategy not in STRATEGIES:
                known = ", ".join(sorted(STRATEGIES))
                raise ValueError(f"tier {effort!r}: unknown strategy {tier.strategy!r}; known: {known}")
            try:
                strategy_settings(tier.strategy, tier.settings)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"tier {effort!r} ({tier.strategy}): {problems}") from None
        return self

    # Limits on what one client request may ask for.
    max_body_bytes: int = 1_000_000
    max_messages: int = 256
    max_budget_tokens: int = 65_536
    max_calls: int = 256
    max_deadline_s: float = 1800.0
    max_n: int = 64
    max_sample_tokens: int = 32_768  # the most `reasoning.max_tokens_per_sample` may ask for

    def tier_for(self, effort: str) -> str | None:
        """The tier an effort runs: its own, else the one its alias names; None when neither exists."""
        if effort in self.tiers:
            return effort
        target = self.effort_aliases.get(effort)
        return target if target in self.tiers else None

    def efforts(self) -> list[str]:
        """Every effort a request may name: the tiers, and the aliases whose tier exists."""
        return [*self.tiers, *(a for a, t in self.effort_aliases.items() if a not in self.tiers and t in self.tiers)]


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
