"""The trace viewer in a real browser: headless Chromium (Debian's package, driven by Playwright's
client) opens the pages of a recorded beam search, MCTS search and vote, a saved page offline, and a
running search's page as it grows. Screenshots go to tmp_path, and to PONDER_VIEWER_SHOTS when set
(docs/img/viewer-*.png were made so)."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from .step_backend import BranchingBackend
from .viewer_server import A, B, body_for, recorded, running_gateway, view_link

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
SHOT_LIMIT = 200_000  # bytes: what docs/img may hold per picture


def chromium() -> str:
    """Debian's chromium, installed with apt when missing and this is root; else the tests skip."""
    found = shutil.which("chromium")
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "chromium"], env=env, capture_output=True, timeout=1200)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("no chromium: `apt-get install chromium` (as root) to run the browser tests")
    return found


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    with playwright_sync.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == []  # the script never threw


def shoot(page, tmp_path: Path, name: str) -> None:
    shot = tmp_path / f"viewer-{name}.png"
    page.screenshot(path=str(shot))
    assert 0 < shot.stat().st_size < SHOT_LIMIT
    if os.environ.get("PONDER_VIEWER_SHOTS"):
        shutil.copy(shot, Path(os.environ["PONDER_VIEWER_SHOTS"]) / shot.name)


def chosen_path(trace: dict) -> list[int]:
    nodes = {n["id"]: n for n in trace["tree"]}
    path, node = [], trace["path"]["chosen"]
    while node in nodes:
        path.append(node)
        node = nodes[node]["parent"]
    return sorted(path)


def test_beam_mcts_and_vote_pages_show_what_their_traces_hold(page, tmp_path):
    with running_gateway() as url:
        for search in ("beam", "mcts", "vote"):
            trace = recorded(url, search)
            page.goto(view_link(url, trace["id"]))
            page.wait_for_selector("body[data-rendered=finished]")
            assert page.inner_text("#chosen-answer") == trace["answer"]
            assert page.inner_text("#summary").count(trace["strategy"]) >= 1
            if search == "vote":
                votes = trace["vote"]["ballots"]
                assert page.locator("#vote tr[data-sample]").count() == len(votes)
                assert page.locator("#vote tr.agrees").count() == len(trace["vote"]["agreeing"]) > 0
                assert page.locator("#tree").is_hidden()
            else:
                assert page.locator("#tree li.node").count() == len(trace["tree"])
                assert page.locator("#tree svg g[data-node]").count() == len(trace["tree"])
                shown = page.eval_on_selector_all("#tree li.node[data-status=chosen]",
                                                  "els => els.map(e => +e.dataset.nodeId)")
                assert sorted(shown) == chosen_path(trace)
                assert page.locator("#tree svg path.edge.chosen").count() == len(chosen_path(trace))
            shoot(page, tmp_path, search)
            if search != "vote":
                page.click(f"#tree svg g[data-node='{trace['path']['chosen']}']")
                assert page.locator("#tree li.node.selected").count() == 1
        # Another key's trace is a 404 in the browser too.
        refused = page.context.request.get(f"{url}/v1/traces/{trace['id']}/view", headers=B)
        assert refused.status == 404


def test_a_saved_page_opens_offline_as_it_was_served(page, tmp_path):
    with running_gateway() as url:
        trace = recorded(url, "beam")
        saved = tmp_path / "saved.html"
        saved.write_text(httpx.get(f"{url}/v1/traces/{trace['id']}/view", headers=A, timeout=10).text)
    # The server is gone; any request the page made would fail.
    page.route("http*://**", lambda route: route.abort())
    page.goto(saved.as_uri())
    page.wait_for_selector("body[data-rendered=finished]")
    assert page.locator("#tree li.node").count() == len(trace["tree"])
    assert page.inner_text("#chosen-answer") == trace["answer"]


def test_a_running_search_page_grows_its_tree_then_shows_the_whole_search(page, tmp_path):
    backend = BranchingBackend(delay_s=0.3)
    ids: queue.Queue[str] = queue.Queue()
    body = body_for("mcts", stream=True)
    body["reasoning"]["settings"] = {"simulations": 14, "expansions": 2, "parallel": 2}

    def chat(url: str) -> None:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=A, timeout=60) as reply:
            for line in reply.iter_lines():
                if line.startswith("data: {") and ids.empty():
                    ids.put(httpx.Response(200, content=line[6:]).json()["id"])

    with running_gateway(backend) as url:
        runner = threading.Thread(target=chat, args=(url,))
        runner.start()
        trace_id = ids.get(timeout=30)
        page.goto(view_link(url, trace_id))
        page.wait_for_selector("body[data-rendered=live]", timeout=20_000)
        page.wait_for_selector("#tree li.node", timeout=20_000)
        assert "live: round" in page.inner_text("#live-status")
        growing = page.locator("#tree li.node").count()
        shoot(page, tmp_path, "live")
        page.wait_for_selector("body[data-rendered=finished]", timeout=60_000)
        runner.join(timeout=60)
        trace = httpx.get(f"{url}/v1/traces/{trace_id}", headers=A, timeout=10).json()
    assert 0 < growing < len(trace["tree"])
    assert page.locator("#tree li.node").count() == len(trace["tree"])
    assert page.inner_text("#chosen-answer") == trace["answer"]
    assert "finished" in page.inner_text("#live-status")


def _finished(trace_extra: dict) -> dict:
    """A finished trace with no tree or vote, as a search that records `trace_extra` keeps it."""
    return {"id": "chatcmpl-0d1e", "strategy": "auto:open_ended", "messages": [{"role": "user", "content": "Write."}],
            "answer": None, "content": "A REPLY IN CAPITALS", "confidence": 1.0, "candidates": [], "events": [],
            "tree": None, "vote": None, "verified": None, "revisions": None, "path": None, "code": None,
            "selection": None, "stop_reason": "done", "rounds": 2, "elapsed_s": 3.5, "errors": [], "work": None,
            "budget": {"tokens": 4000, "calls": 12, "deadline_s": 150.0},
            "usage": {"completion_tokens": 600, "prompt_tokens": 900, "cached_tokens": 300, "calls": 4,
                      "failed_calls": 0}, **trace_extra}


def test_open_ended_and_code_search_pages_show_their_records(page, tmp_path):
    from app.traces.viewer import finished_page

    selection = {"method": "instruction checks", "replies": 3, "checks": ["Use all capital letters.", "End with P.S."],
                 "met": 1, "failed": ["End with P.S."], "broken": 1, "revised": True, "rejected_revisions": 0,
                 "texts": ["A QUIET ROAD", "A QUIET ROAD. P.S. ROAD ROAD ROAD", "A QUIET ROAD AT DUSK"], "chosen": 2}
    code = {"candidates": 5, "revisions": 2, "client_passed": 3, "tests": 6, "untrusted": 1, "generated_passed": 5,
            "groups": 2, "group": 2, "depth": 1, "verdict": "all 2 tests passed"}
    for name, extra in (("selection", {"selection": selection}), ("code", {"code": code, "strategy": "code_search"})):
        saved = tmp_path / f"{name}.html"
        saved.write_text(finished_page(_finished(extra)))
        page.goto(saved.as_uri())
        page.wait_for_selector("body[data-rendered=finished]")
        shown = page.inner_text(f"#{name}")
        assert page.locator(f"#{name}").is_visible() and page.locator("#tree").is_hidden()
        if name == "selection":
            assert "1 of 2 instructions met" in shown and "End with P.S." in shown and "looping" in shown
            assert page.locator("#selection .tag.fail").count() == 1
            replies = page.locator("#selection ol.replies li")
            assert replies.count() == 3 and "chosen" in replies.nth(2).inner_text()
            assert "chosen" not in replies.nth(0).inner_text() and "A QUIET ROAD AT DUSK" in replies.nth(2).inner_text()
        else:
            assert "5 candidates" in shown and "5 of 6" in shown and "1 dropped" in shown
            assert "all 2 tests passed" in shown
