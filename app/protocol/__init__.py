"""The OpenAI wire format: request and response models, error bodies, the verifier specs a request may name,
the parameters ponder refuses, and a search result rendered as response pieces. Imports no other room of app."""
