"""The OpenAI chat-completions protocol (plus ponder's `reasoning` extension) as pydantic models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from app.protocol.verifier_specs import JsonSchemaSpec, VerifierSpec
from app.settings import Effort
from sampling import ClientSampling


class ReasoningOptions(BaseModel):
    """ponder's extension object: `extra_body={"reasoning": {...}}` from the OpenAI SDK."""

    model_config = ConfigDict(extra="forbid")

    strategy: str | None = None
    effort: Effort | None = None
    budget_tokens: int | None = Field(default=None, ge=1, strict=True)
    max_calls: int | None = Field(default=None, ge=1, strict=True)
    deadline_s: float | None = Field(default=None, ge=0.05, strict=True,
                                     description="seconds; at least 0.05 (less leaves no time to call a model)")
    n: int | None = Field(default=None, ge=1, strict=True)
    summary: Literal["none", "concise", "detailed", "model"] = "concise"
    trace: bool = Field(default=False, strict=True)
    verifier: VerifierSpec | None = None
    max_tokens_per_sample: int | None = Field(
        default=None, ge=1, strict=True,
        description="the most tokens one sample may have (a thinking model's chain); at most the budget")
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


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="answer", max_length=64)
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool | None = Field(default=None, strict=True)


class ResponseFormat(BaseModel):
    """OpenAI's `response_format`: a JSON answer becomes a json_schema verifier the search checks."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def verifier(self) -> JsonSchemaSpec | None:
        """The verifier this format asks for (None for text)."""
        if self.type == "text":
            return None
        schema = self.json_schema.schema_ if self.type == "json_schema" and self.json_schema else {"type": "object"}
        return JsonSchemaSpec.model_validate({"type": "json_schema", "schema": schema})


class RequestLabels(BaseModel):
    """OpenAI parameters that label a request and, by OpenAI's definition, change no answer."""

    user: str | None = None
    metadata: dict[str, str] | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = Field(default=None, strict=True)


class ChatCompletionRequest(RequestLabels, ClientSampling):
    # Every OpenAI parameter is declared: honoured, accepted as a label, or refused at any value that
    # asks for something ponder cannot do (app/protocol/unsupported.py). A parameter OpenAI lacks is a 400, but
    # for the sampling fields the open servers share (`min_p`), declared with the rest in ClientSampling.
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    reasoning_effort: Effort | None = None
    max_completion_tokens: int | None = Field(default=None, ge=1, strict=True)
    max_tokens: int | None = Field(default=None, ge=1, strict=True)
    seed: int | None = Field(default=None, strict=True)
    stop: str | list[str] | None = None
    stream: bool = Field(default=False, strict=True)
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, strict=True,
                   description="ponder returns one choice; use reasoning.n for samples")
    response_format: ResponseFormat | None = None
    reasoning: ReasoningOptions | None = None
    # Refused unless absent or neutral (app/protocol/unsupported.py says why).
    logprobs: Any = None
    top_logprobs: Any = None
    tools: Any = None
    tool_choice: Any = None
    functions: Any = None
    function_call: Any = None
    audio: Any = None
    modalities: Any = None
    logit_bias: Any = None
    prediction: Any = None
    web_search_options: Any = None
    store: Any = None
    service_tier: Any = None
    verbosity: Any = None
    moderation: Any = None

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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reasoning(self) -> str | None:
        """`reasoning_content` under vLLM's newer name (clients read either)."""
        return self.reasoning_content


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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reasoning(self) -> str | None:
        """`reasoning_content` under vLLM's newer name (clients read either)."""
        return self.reasoning_content


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
