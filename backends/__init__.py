"""LLM clients behind one async interface (see `backends.types.Backend`)."""
