"""The HTTP edge: routers, server-sent events, API keys, the OpenAPI document's error responses."""
