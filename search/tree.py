"""The append-only tree of reasoning steps that tree strategies grow.

Nodes are frozen; statistics that change (visits, value) are recorded by replacing a
node with an updated copy under the same id, so every reader sees a consistent node.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

STEP_DELIMITER = "\n\n"  # a reasoning step ends at a blank line by default


@dataclass(frozen=True, kw_only=True)
class Node:
    id: int
    parent: int | None
    depth: int
    text: str  # this step's text, delimiter included when it has one
    tokens: int = 0
    prm_score: float | None = None
    visits: int = 0
    value: float = 0.0  # sum of backed-up values (mean = value / visits)
    prior: float = 1.0  # the policy's probability of this step among its siblings (set by MCTS)
    terminal: bool = False
    rollout: bool = False  # a simulation's finished continuation (MCTS): a value sample, not a step to search
    answer: str | None = None
    verdict: str = ""  # what a verifier or judge said

    @property
    def mean_value(self) -> float:
        return self.value / self.visits if self.visits else 0.0


class Tree:
    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {0: Node(id=0, parent=None, depth=0, text="")}
        self.children: dict[int, list[int]] = {0: []}

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def add(self, parent: int, text: str, **fields: object) -> Node:
        node = Node(id=len(self.nodes), parent=parent, depth=self.nodes[parent].depth + 1, text=text,
                    **fields)  # type: ignore[arg-type]
        self.nodes[node.id] = node
        self.children[node.id] = []
        self.children[parent].append(node.id)
        return node

    def update(self, node_id: int, **fields: object) -> Node:
        node = replace(self.nodes[node_id], **fields)  # type: ignore[arg-type]
        self.nodes[node_id] = node
        return node

    def path(self, node_id: int) -> list[Node]:
        """Root's first step to `node_id`, in order (the root itself excluded)."""
        out: list[Node] = []
        current: int | None = node_id
        while current is not None and current != 0:
            node = self.nodes[current]
            out.append(node)
            current = node.parent
        return out[::-1]

    def path_text(self, node_id: int) -> str:
        return "".join(n.text for n in self.path(node_id))

    def leaves(self) -> Iterator[Node]:
        return (self.nodes[i] for i, kids in self.children.items() if not kids and i != 0)

    def grown(self) -> tuple[Node, ...]:
        """Every node but the root, in the order they were added."""
        return tuple(n for n in self.nodes.values() if n.id != 0)


def node_records(nodes: Iterable[Node]) -> list[dict[str, object]]:
    """Nodes as plain records (traces, the API's `ponder.tree`): the mean value, not the sum."""
    return [{"id": n.id, "parent": n.parent, "depth": n.depth, "text": n.text, "tokens": n.tokens,
             "prm_score": n.prm_score, "visits": n.visits, "value": round(n.mean_value, 4), "prior": n.prior,
             "terminal": n.terminal, "rollout": n.rollout, "answer": n.answer, "verdict": n.verdict}
            for n in nodes]
