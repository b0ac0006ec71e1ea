"""`auto`: choose the search from what the request offers and how hard the problem looks.

- A ground-truth verifier: best-of-N against it (greedy first, stop at the first pass), with
  `programs` of the candidates written as programs where the question suits one.
- Otherwise a probe: the greedy pass plus a few samples (and, with `probe_programs`, the
  greedy program-aided answer: search.programs). If they agree, the problem is
  easy and the search stops there (compute-optimal scaling, Snell et al. 2024: spend
  little where the first samples already agree). If not, it is hard: more samples are
  voted on (`hard="self_consistency"`: with programs, up to `programs` of them beside
  `chains_with_programs` chains), or a PRM-guided beam search runs (`hard="beam"`) and its answer joins
  the probe's votes.
- With `settle_if_program_fails`, a probe whose greedy program printed nothing while its greedy chain
  stated an answer is settled on that chain: on GSM8K-100 the greedy chain was right on every Qwen
  item where this happened (4 items); SmolLM2's programs print nothing on 86 of 100 items, whose
  votes gained nothing (README, Benchmarks).
"""

from __future__ import annotations

from typing import Any

from search.protocols import AnswerTools, Generation, Verifier
from search.strategies.beam import Beam
from search.strategies.best_of_n import BestOfN
from search.strategies.self_consistency import SelfConsistency
from search.strategy import Ask, Outcome, Problem, Strategy


class Auto:
    def __init__(
        self, problem: Problem, tools: AnswerTools, *, verifier: Verifier | None = None, n: int = 6, probe: int = 3,
        agree: float = 1.0, hard: str = "self_consistency", batch: int | None = None, probe_programs: int = 0,
        programs: int = 0, chains_with_programs: int = 1, settle_if_program_fails: bool = False,
        judge_close: float = 0.0, **config: Any,
    ) -> None:
        # The judge settles a close final vote, not the probe's disagreement (that is what the vote is for).
        self.judge_close = float(judge_close)
        self.problem, self.tools, self.config = problem, tools, config
        self.batch = int(batch or probe)
        self.n, self.agree, self.hard = int(n), float(agree), hard
        self.programs, self.chains_with_programs = int(programs), int(chains_with_programs)
        self.settle_if_program_fails = bool(settle_if_program_fails)
        self.probe_outcome: Outcome | None = None
        self.child: Strategy
        if verifier is not None:
            self.phase = "verify"
            self.child = BestOfN(problem, tools, verifier=verifier, n=n, batch=self.batch, programs=self.programs,
                                 **config)
        else:
            self.phase = "probe"
            # With a program prompt, part of the probe is the greedy program (a second, independent
            # way to the answer); without one the probe is all chains of thought.
            programs_now = min(int(probe_programs), int(probe) - 1) if problem.program_prompt else 0
            self.child = SelfConsistency(problem, tools, n=int(probe) - programs_now, batch=probe, greedy_first=True,
                                         programs=programs_now, **config)

    @property
    def name(self) -> str:
        return f"auto:{self.child.name}" if self.phase != "search" else "auto:self_consistency+beam"

    @property
    def tree(self) -> Any:
        return getattr(self.child, "tree", None)

    def ask(self) -> list[Ask]:
        asks = self.child.ask()
        if asks or self.phase != "probe":
            return asks
        if self.settle_if_program_fails and self._program_failed():
            return []  # settled on the greedy chain
        probe = self.child.best()
        if probe is None or probe.answer is None or probe.confidence < self.agree:
            if self.hard == "beam":
                self.probe_outcome = probe
                self.phase = "search"
                self.child = Beam(self.problem, self.tools, **self.config)
            else:
                self.phase = "vote"
                assert isinstance(self.child, SelfConsistency)
                if self.child.programs:  # more programs (cheaper and surer than hot chains of thought)
                    self.child.programs = max(self.programs, self.child.programs)
                    self.child.n = max(self.chains_with_programs, self.child.n)
                else:
                    self.child.n = max(self.n, self.child.n)  # the same vote, with more samples
                self.child.batch = self.batch
                self.child.judge_close = self.judge_close
            return self.child.ask()
        return []  # the probe agreed: settled

    def _program_failed(self) -> bool:
        """The probe's programs printed nothing and one of its chains stated an answer."""
        assert isinstance(self.child, SelfConsistency)
        programs = self.child.answered(programs=True)
        return bool(programs) and not any(programs) and any(self.child.answered(programs=False))

    async def tell(self, ask: Ask, generation: Generation | None, error: Exception | None) -> None:
        await self.child.tell(ask, generation, error)

    def best(self) -> Outcome | None:
        found = self.child.best()
        if self.phase != "search" or self.probe_outcome is None:
            return found
        # The beam's answer is one more (PRM-backed) vote beside the probe's.
        if found is None or found.answer is None:
            return self.probe_outcome
        probe_votes = {c.answer: c.votes for c in self.probe_outcome.candidates}
        if probe_votes.get(found.answer, 0.0) + 1.0 >= max(probe_votes.values(), default=0.0):
            return found
        return self.probe_outcome
