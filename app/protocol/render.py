"""SearchResult -> OpenAI response pieces: summary text, usage, progress lines."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from app.protocol.chat import CompletionTokensDetails, PonderInfo, PromptTokensDetails, UsageOut
from search.driver import SearchResult
from search.events import Event, RoundStart
from search.records import CodeSearchRecord, Selection, TreeChoice
from search.tree import node_records


def usage_of(result: SearchResult) -> UsageOut:
    u = result.usage
    # Every generated token is a reasoning token: the answer is one of the samples.
    return UsageOut(
        prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
        total_tokens=u.prompt_tokens + u.completion_tokens,
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=u.completion_tokens),
        prompt_tokens_details=PromptTokensDetails(cached_tokens=u.cached_tokens),
    )


def finish_reason(result: SearchResult) -> str:
    """"length" when the shown text was cut by max_tokens, or when nothing was found within the budget."""
    o = result.outcome
    return "length" if o is None or not o.content or o.truncated else "stop"


def summary_text(result: SearchResult, level: str = "concise") -> str | None:
    """A short account of the search, written from its result (no model call)."""
    if level == "none":
        return None
    o = result.outcome
    u = result.usage
    lines = [f"strategy: {result.strategy}; {u.calls} call(s), {u.completion_tokens} tokens generated "
             f"in {result.elapsed_s:.1f}s; stopped: {result.stop_reason}"]
    if o is None:
        lines.append("no answer was found within the budget")
        return "\n".join(lines)
    if o.vote is not None:
        lines.append(f"samples: {o.vote.samples} ({o.vote.answered} stated an answer)")
        if o.vote.programs:
            lines.append(f"program-aided: {o.vote.programs} program(s) run in the sandbox, "
                         f"{o.vote.programs_agreeing} agree with the chosen answer")
    if o.verified is not None:
        lines.append(f"samples: {o.verified.samples}")
        lines.append(f"{o.verified.passed} of {o.verified.samples} passed the verifier; "
                     f"the chosen one: {o.verified.verdict}")
    if o.code is not None:
        lines.append(code_line(o.code))
    if o.revisions is not None and o.revisions.verdict:
        lines.append(f"the chosen one: {o.revisions.verdict}")
    if o.path is not None:
        lines.append(tree_line(o.path))
    if o.candidates:
        shown = o.candidates if level == "detailed" else o.candidates[:5]
        lines.append("answers: " + ", ".join(f"{c.answer} ({c.votes:g} votes)" for c in shown))
    if o.selection is not None:
        lines.append(selection_line(o.selection))
        if o.answer is not None:
            lines.append(f"answer: {o.answer}")
    else:
        lines.append(f"chosen: {o.answer if o.answer is not None else '(none extracted)'}; "
                     f"confidence {o.confidence:.2f}")
    if result.errors:
        lines.append(f"failed calls: {len(result.errors)} ({result.errors[0]})")
    if o.work is not None:
        lines.append(f"work behind the answer:\n{o.work.strip()}")
    if level == "detailed":
        for event in result.events:
            lines.append(progress_line(event).rstrip())
    return "\n".join(lines)


def selection_line(selection: Selection) -> str:
    """How an open-ended reply was chosen, in one line ("selected by instruction checks among 6 ...")."""
    s = selection
    line = f"selected by {s.method} among {s.replies} repl{'y' if s.replies == 1 else 'ies'}"
    if s.checks:
        line += f" ({s.met} of {len(s.checks)} instructions met"
        line += f"; not met: {'; '.join(s.failed)})" if s.failed else ")"
    if s.revised:
        line += "; the chosen reply is a revision that met more instructions"
    if s.broken:
        line += f"; {s.broken} looping repl{'y' if s.broken == 1 else 'ies'} set aside"
    return line


def tree_line(path: TreeChoice) -> str:
    """What a tree search grew and which path it shows, in one line."""
    grown = f"tree: {path.nodes} node(s), {path.finished} finished path(s)"
    if path.rollouts is not None:
        grown += f" ({path.rollouts} of them rollouts)"
    if path.simulations is not None:
        grown += f" in {path.simulations} simulation(s)"
    return f"{grown}; shown: the path to node {path.chosen} (weight {path.score:g})"


def code_line(code: CodeSearchRecord) -> str:
    """How a code search chose its candidate, in one line."""
    c = code
    line = (f"code search: {c.candidates} candidate(s) ({c.revisions} revised given what failed), "
            f"{c.client_passed} passed the client's tests")
    if c.tests or c.untrusted:
        dropped = f" ({c.untrusted} more dropped for contradicting the client's examples)" if c.untrusted else ""
        line += f"; the chosen one passed {c.generated_passed} of {c.tests} test(s) the model wrote{dropped}"
    if c.client_passed > 1:
        line += f"; {c.group} of the {c.client_passed} behave alike with it ({c.groups} behaviour group(s))"
    if c.depth:
        line += f"; it is revision {c.depth} of a first attempt"
    return line + (f"; the client's tests: {c.verdict}" if c.verdict else "")


def progress_line(event: Event) -> str:
    """One streamed reasoning line per search round."""
    if isinstance(event, RoundStart):
        calls = ", ".join(f"{c.tag} (n={c.n})" for c in event.calls)
        return f"round {event.round}: {calls}\n"
    best, conf = event.best_answer, event.confidence
    spent = f"{event.tokens_used}/{event.tokens_budget} tokens"
    lead = f"best so far: {best} (confidence {conf:.2f})" if best is not None and conf is not None else "no answer yet"
    if (chosen := event.selection) is not None and (best is None or conf is None):
        checked = f", meeting {chosen.met} of {chosen.checks} instructions" if chosen.checks else ""
        lead = f"best of {chosen.replies} repl{'y' if chosen.replies == 1 else 'ies'}{checked}"
    return f"round {event.round} done: {lead}; {spent}\n"


def event_json(event: Event) -> dict[str, Any]:
    """An event as the wire carries it (`ponder.trace`, traces, the viewer's event stream); a round that
    grew no nodes, or chose no reply, leaves those keys out."""
    fields = asdict(event)
    return {key: value for key, value in fields.items()
            if not (key == "expanded" and not value) and not (key == "selection" and value is None)}


def ponder_info(result: SearchResult, trace: bool) -> PonderInfo:
    o = result.outcome
    return PonderInfo(
        strategy=result.strategy, answer=o.answer if o else None, confidence=o.confidence if o else 0.0,
        candidates=[{"answer": c.answer, "votes": c.votes, "score": c.score} for c in (o.candidates if o else ())],
        stop_reason=result.stop_reason, rounds=result.rounds, calls=result.usage.calls,
        elapsed_s=round(result.elapsed_s, 3), errors=list(result.errors),
        trace=[event_json(e) for e in result.events] if trace else None, tree=tree_records(result) if trace else None,
    )


def tree_records(result: SearchResult) -> list[dict[str, object]] | None:
    """A tree search's nodes as plain records (the API's `ponder.tree`, traces); None for other searches."""
    return node_records(result.tree) if result.tree is not None else None
