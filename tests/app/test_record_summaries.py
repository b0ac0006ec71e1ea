"""The summary's lines for a code search and a tree search: what their records say, in one line each."""

from __future__ import annotations

from app.protocol.render import summary_text
from search.charged import Usage
from search.driver import SearchResult
from search.records import CodeSearchRecord, TreeChoice
from search.strategy import Outcome


def result(record: CodeSearchRecord) -> SearchResult:
    outcome = Outcome(content="def f(): ...", answer=None, confidence=0.9, code=record)
    return SearchResult(strategy="code_search", outcome=outcome, usage=Usage(), stop_reason="done", rounds=3,
                        elapsed_s=1.0)


def test_the_summary_says_how_the_code_search_chose_in_one_line():
    record = CodeSearchRecord(candidates=7, revisions=3, client_passed=3, tests=6, untrusted=1, generated_passed=5,
                              groups=2, group=2, depth=1, verdict="all tests passed")
    lines = summary_text(result(record)).splitlines()
    [line] = [ln for ln in lines if ln.startswith("code search:")]
    assert line == ("code search: 7 candidate(s) (3 revised given what failed), 3 passed the client's tests; "
                    "the chosen one passed 5 of 6 test(s) the model wrote (1 more dropped for contradicting the "
                    "client's examples); 2 of the 3 behave alike with it (2 behaviour group(s)); it is revision 1 "
                    "of a first attempt; the client's tests: all tests passed")


def test_a_search_without_model_tests_or_rivals_says_less():
    record = CodeSearchRecord(candidates=1, revisions=0, client_passed=1, tests=0, untrusted=0, generated_passed=0,
                              groups=1, group=1, depth=0, verdict="all tests passed")
    [line] = [ln for ln in summary_text(result(record)).splitlines() if ln.startswith("code search:")]
    assert line == ("code search: 1 candidate(s) (0 revised given what failed), 1 passed the client's tests; "
                    "the client's tests: all tests passed")


def test_a_tree_search_says_what_it_grew_and_which_path_it_shows():
    outcome = Outcome(content="so 4", answer="4", confidence=0.75,
                      path=TreeChoice(chosen=7, score=1.0, nodes=8, finished=4, simulations=2, rollouts=4))
    text = summary_text(SearchResult(strategy="mcts", outcome=outcome, usage=Usage(), stop_reason="done", rounds=4,
                                     elapsed_s=1.0))
    assert ("tree: 8 node(s), 4 finished path(s) (4 of them rollouts) in 2 simulation(s); "
            "shown: the path to node 7 (weight 1)") in text.splitlines()
