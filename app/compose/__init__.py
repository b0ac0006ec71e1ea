"""The composition root: the backend and the reasoning service from settings, and `create_app(settings)`."""
