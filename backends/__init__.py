"""LLM clients behind one async interface (`backends.types.Backend`). The engines themselves
(embedded llama.cpp, OpenAI-compatible HTTP, SGLang) are imported from their modules, so that the
HTTP ones never load llama.cpp; the package re-exports nothing."""
