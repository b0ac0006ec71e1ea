"""One reasoning request: plan it (budget, strategy, verifier), run the search, summarise it."""
