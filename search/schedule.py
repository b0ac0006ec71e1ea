"""The sampling schedule that voting strategies share: the greedy sample first, then batches of
hot samples, until the wanted number has been asked for. A call the budget cut short gives its
missing samples back, so they are asked for again."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Draw:
    """One call's worth of the schedule: `n` samples, greedy or hot, the first of them the `first`-th."""

    greedy: bool
    n: int
    first: int


@dataclass
class Schedule:
    total: int  # how many samples are wanted in all
    batch: int  # hot samples per call
    greedy_first: bool = False  # the first sample is the greedy one
    greedy_alone: bool = True  # the greedy sample is its round's only call of this kind
    requested: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.requested)

    def draws(self) -> list[Draw]:
        """The next round's calls: nothing once `total` have been asked for."""
        size = min(self.batch, self.remaining)
        if size <= 0:
            return []
        out: list[Draw] = []
        if self.requested == 0 and self.greedy_first:
            out.append(Draw(greedy=True, n=1, first=0))
            self.requested, size = 1, 0 if self.greedy_alone else size - 1
        if size > 0:
            out.append(Draw(greedy=False, n=size, first=self.requested))
            self.requested += size
        return out

    def stop(self) -> None:
        """No more samples than those already asked for."""
        self.total = self.requested

    def refund(self, missing: int) -> None:
        """Samples asked for but not granted (a budget cut, a failed call): they may be asked for again."""
        self.requested -= max(0, missing)
