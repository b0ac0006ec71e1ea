"""Answer extraction, verifiers, scorers and voting.

Import from the modules (`rewards.verifiers`, `rewards.sandbox`, ...): the package re-exports nothing, so that
importing one verifier does not load the sandbox or the judge."""
