"""LLM clients behind one async interface (see `backends.types.Backend`). The engines themselves
(embedded llama.cpp, OpenAI-compatible HTTP, SGLang) are imported from their modules, so that the
HTTP ones never load llama.cpp."""

from backends.errors import BackendError, BackendUnavailable
from backends.types import Backend, ChatMessage, Completion, Sample, TokenLogprob

__all__ = ["Backend", "BackendError", "BackendUnavailable", "ChatMessage", "Completion", "Sample", "TokenLogprob"]
