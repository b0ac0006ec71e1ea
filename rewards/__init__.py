"""Answer extraction, verifiers, scorers and voting."""
