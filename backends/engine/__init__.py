"""A small continuous-batching engine over llama.cpp's low-level API (nano-vllm shaped):
sequences in KV slots, a prefix index to fork from, one `step()` that decodes a batch."""
