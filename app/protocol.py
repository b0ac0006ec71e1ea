"""The OpenAI chat-completions protocol (plus ponder's `reasoning` extension) as pydantic models."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

Effort = Literal["none", "low", "medium", "high"]


class Game24Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["game24"]
    numbers: list[StrictInt] = Field(min_length=2, max_length=6)


class MathEquivSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["math_equiv"]
    reference: str = Field(min_length=1, max_length=1000)


class ExactSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["exact"]
    reference: str = Field(min_length=1, max_length=1000)


class RegexSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["regex"]
    pattern: str = Field(min_length=1, max_length=500)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern


class PythonTestsSpec(BaseModel):
    """Run the answer's code against `tests` in the sandbox; with `entry_point`, HumanEval-style
    tests (`def check(candidate)`) are called as `check(entry_point)`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["python_tests"]
    tests: str = Field(min_length=1, max_length=50_000)
    entry_point: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    prelude: str = Field(default="", max_length=20_000, description="code run before the answer's (imports)")
    timeout_s: float = Field(default=10.0, gt=0, le=60, strict=True)


class JsonSchemaSpec(BaseModel):
    """The answer's JSON (the whole answer, a fenced block, or the last object in it) must match
    `schema` (JSON Schema; 2020-12 unless it says otherwise; remote $refs are not fetched)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        from jsonschema.exceptions import SchemaError

        from rewards.verifiers import schema_validator

        if len(json.dumps(schema)) > 50_000:
            raise ValueError("the schema is over 50,000 characters")
        try:
            schema_validator(schema)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return schema


VerifierSpec = Annotated[Game24Spec | MathEquivSpec | ExactSpec | RegexSpec | PythonTestsSpec | JsonSchemaSpec,
                         Field(discriminator="type")]


class ReasoningOptions(BaseModel):
    """ponder's extension object: `extra_body={"reasoning": {...}}` from the OpenAI SDK."""

    model_config = ConfigDict(extra="forbid")

    strategy: str | None = None
    effort: Effort | None = None
    budget_tokens: int | None = Field(default=None, ge=1, strict=True)
    max_calls: int | None = Field(default=None, ge=1, strict=True)
    deadline_s: float | None = Field(default=None, gt=0, strict=True)
    n: int | None = Field(default=None, ge=1, strict=True)
    summary: Literal["none", "concise", "detailed", "model"] = "concise"
    trace: bool = Field(default=False, strict=True)
    verifier: VerifierSpec | None = None
    settings: dict[str, Any] | None = Field(
        default=None, max_length=64,
        description="the strategy's own settings (e.g. beam's width), checked against that strategy's settings")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type in {"text", "input_text"})
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = Field(default=False, strict=True)


class ChatCompletionRequest(BaseModel):
    # Unknown OpenAI parameters (user, metadata, ...) are accepted and ignored, as vLLM does.
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    reasoning_effort: Effort | None = None
    max_completion_tokens: int | None = Field(default=None, ge=1, strict=True)
    max_tokens: int | None = Field(default=None, ge=1, strict=True)
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, gt=0, le=1, strict=True)
    seed: int | None = Field(default=None, strict=True)
    stop: str | list[str] | None = None
    stream: bool = Field(default=False, strict=True)
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, strict=True,
                   description="ponder returns one choice; use reasoning.n for samples")
    reasoning: ReasoningOptions | None = None

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails
    prompt_tokens_details: PromptTokensDetails


class MessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    reasoning_content: str | None = None


class ChoiceOut(BaseModel):
    index: int = 0
    message: MessageOut
    finish_reason: Literal["stop", "length"]


class PonderInfo(BaseModel):
    strategy: str
    answer: str | None
    confidence: float
    candidates: list[dict[str, Any]]
    stop_reason: str
    rounds: int
    calls: int
    elapsed_s: float
    errors: list[str] = Field(default_factory=list)
    trace: list[dict[str, Any]] | None = None
    tree: list[dict[str, Any]] | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut
    ponder: PonderInfo


class DeltaOut(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: DeltaOut
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: UsageOut | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "ponder"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
