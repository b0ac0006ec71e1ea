"""Answer extraction, verifiers, scorers and voting."""

from rewards.equivalence import MathEquivalence
from rewards.extraction import extract_answer, normalize_answer
from rewards.judge import LLMJudgePRM, value_judge
from rewards.python_tests import PythonTestsVerifier
from rewards.remote_prm import RemotePRM
from rewards.sandbox import SandboxLimits, SandboxResult
from rewards.verifiers import ExactVerifier, Game24Verifier, JsonSchemaVerifier, MathEquivVerifier, RegexVerifier

__all__ = [
    "ExactVerifier", "Game24Verifier", "JsonSchemaVerifier", "LLMJudgePRM", "MathEquivVerifier", "MathEquivalence",
    "PythonTestsVerifier", "RegexVerifier", "RemotePRM", "SandboxLimits", "SandboxResult", "extract_answer",
    "normalize_answer", "value_judge",
]
