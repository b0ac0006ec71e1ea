"""Search traces: the store behind `GET /v1/traces/{id}`, searches followed live, the viewer page, export."""
