"""The KV cache's sequence slots and what each holds: the prefix index to fork from."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class Slot:
    id: int
    tokens: list[int] = field(default_factory=list)  # what the KV cache holds for this sequence id
    busy: bool = False
    last_used: float = 0.0


class SlotTable:
    def __init__(self, n_slots: int) -> None:
        self.slots = [Slot(i) for i in range(n_slots)]

    def free(self) -> list[Slot]:
        return [s for s in self.slots if not s.busy]

    def best_source(self, prompt: list[int]) -> tuple[Slot | None, int]:
        """The slot (busy or not) whose cached tokens share the longest prefix with `prompt`."""
        best, length = None, 0
        for slot in self.slots:
            n = common_prefix(slot.tokens, prompt)
            if n > length:
                best, length = slot, n
        return best, length

    def pick_target(self, source: Slot | None) -> Slot | None:
        """A free slot to run in: the source itself when it is free (no copy needed), else
        the least recently used free slot (its cache is the cheapest to lose)."""
        free = self.free()
        if not free:
            return None
        if source is not None and not source.busy:
            return source
        return min(free, key=lambda s: (len(s.tokens) > 0, s.last_used))

    def touch(self, slot: Slot) -> None:
        slot.last_used = time.monotonic()
