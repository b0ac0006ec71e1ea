"""The trace viewer (issue 36) without a browser: the page carries its trace, follows the trace's key,
links stand in for the key, the event stream follows a running search, the CLI writes the same page.
tests/app/test_viewer_browser.py opens the pages in Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.resources import files

import httpx
from typer.testing import CliRunner

from app.cli import cli
from app.traces.viewer import finished_page

from .step_backend import BranchingBackend
from .test_ops import client_for
from .viewer_server import KEY_A, KEY_B, QUESTION, A, B, body_for, running_gateway

PAGE_DATA = re.compile(r'<script type="application/json" id="ponder-page">(.*?)</script>', re.S)


def data_of(page: str) -> dict:
    found = PAGE_DATA.search(page)
    assert found is not None
    return json.loads(found.group(1))  # type: ignore[no-any-return]


async def test_the_page_carries_its_trace_and_only_its_key_or_a_link_opens_it():
    hostile = [{"role": "user", "content": "2+2? </script><script>alert(1)</script>"}]
    async with client_for(BranchingBackend(), api_keys=f"{KEY_A},{KEY_B}") as http:
        reply = await http.post("/v1/chat/completions", json={**body_for("beam"), "messages": hostile}, headers=A)
        trace_id = reply.json()["id"]
        trace = (await http.get(f"/v1/traces/{trace_id}", headers=A)).json()
        page = await http.get(f"/v1/traces/{trace_id}/view", headers=A)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'unsafe-inline'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        assert data_of(page.text) == {"trace": trace, "live": None}  # the whole trace: a saved copy is complete
        assert "<script>alert(1)" not in page.text and KEY_A not in page.text
        # Another key's trace is the 404 an unknown id gets, on the page as on the JSON.
        json_404 = await http.get(f"/v1/traces/{trace_id}", headers=B)
        for path in ("view", "events"):
            refused = await http.get(f"/v1/traces/{trace_id}/{path}", headers=B)
            assert refused.status_code == json_404.status_code == 404 and refused.json() == json_404.json()
            assert (await http.get(f"/v1/traces/{trace_id}/{path}")).status_code == 401
        assert (await http.post(f"/v1/traces/{trace_id}/view-link", headers=B)).status_code == 404
        link = (await http.post(f"/v1/traces/{trace_id}/view-link", headers=A)).json()
        assert link["url"].startswith("view?token=") and KEY_A not in link["url"]
        token = link["url"].removeprefix("view?token=")
        by_link = await http.get(f"/v1/traces/{trace_id}/{link['url']}")  # no header: the link stands in
        assert by_link.status_code == 200 and data_of(by_link.text)["trace"] == trace
        events = await http.get(f"/v1/traces/{trace_id}/{link['events_url']}")
        assert events.status_code == 200 and "event: trace" in events.text
        other = (await http.post("/v1/chat/completions", json=body_for("vote"), headers=A)).json()["id"]
        expires, owner, signature = token.split(".")
        for forged in (f"/v1/traces/{other}/view?token={token}",  # a link is for one trace
                       f"/v1/traces/{trace_id}/view?token={int(expires) + 3600}.{owner}.{signature}",
                       f"/v1/traces/{trace_id}/view?token=1.{owner}.{signature}"):
            refused = await http.get(forged)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_view_link"


def test_the_page_uses_no_url_but_relative_ones_and_fetches_nothing():
    assets = "".join(files("app").joinpath("static/viewer", name).read_text()
                     for name in ("viewer.html", "viewer.css", "viewer.js"))
    assert set(re.findall(r"[a-z]+://[^\s\"'`<>)]+", assets)) == {"http://www.w3.org/2000/svg"}
    assert "/v1/" not in assets and "@import" not in assets and "src=" not in assets


async def test_traces_hold_what_the_page_shows():
    async with client_for(BranchingBackend(), api_keys=KEY_A) as http:
        traces = {}
        for search in ("beam", "mcts", "vote"):
            trace_id = (await http.post("/v1/chat/completions", json=body_for(search), headers=A)).json()["id"]
            traces[search] = (await http.get(f"/v1/traces/{trace_id}", headers=A)).json()
    for search in ("beam", "mcts"):
        t = traces[search]
        nodes = {n["id"]: n for n in t["tree"]}
        chosen = nodes[t["path"]["chosen"]]
        assert chosen["terminal"] and chosen["answer"] == t["answer"]
        assert all({"prior", "visits", "prm_score", "text"} <= n.keys() for n in nodes.values())
        if search == "beam":
            assert len({n["prm_score"] for n in nodes.values()}) > 2  # the judge told siblings apart
        else:  # MCTS values by rollouts, its priors from the steps' logprobs
            assert len({n["prior"] for n in nodes.values() if not n["rollout"]}) > 2
            assert any(n["rollout"] and n["answer"] for n in nodes.values())
        assert t["budget"]["tokens"] == 8000 and 0 < t["usage"]["completion_tokens"] <= 8000
        # Each round's new nodes (with their text) are in its event: what the live page draws.
        expanded = [x for e in t["events"] if e["type"] == "round.end" for x in e.get("expanded", [])]
        assert {x["node"]: x["text"] for x in expanded} == {i: n["text"] for i, n in nodes.items()}
    assert max(n["visits"] for n in traces["mcts"]["tree"]) > 1
    vote = traces["vote"]["vote"]
    assert len(vote["ballots"]) == vote["samples"] == 7 and all(b["text"] for b in vote["ballots"])
    assert [i for i, b in enumerate(vote["ballots"]) if b["answer"] == traces["vote"]["answer"]] == vote["agreeing"]
    assert 0 < len(vote["agreeing"]) < 7


def test_the_event_stream_follows_a_running_search_then_sends_its_trace():
    backend = BranchingBackend(delay_s=0.15)
    with running_gateway(backend) as url, httpx.Client(timeout=30) as http:
        with http.stream("POST", f"{url}/v1/chat/completions", json=body_for("mcts", stream=True), headers=A) as chat:
            lines = chat.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            trace_id = json.loads(first[6:])["id"]
            assert http.get(f"{url}/v1/traces/{trace_id}/events", headers=B).status_code == 404
            frames, calls_at_first_round = [], None
            with http.stream("GET", f"{url}/v1/traces/{trace_id}/events", headers=A) as follow:
                kind = "message"
                for line in follow.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        frames.append((kind, line[6:]))
                        if calls_at_first_round is None and '"round.end"' in line:
                            calls_at_first_round = backend.calls
                        kind = "message"
            rest = [line for line in lines if line]  # the chat stream goes on to its answer
        assert rest[-1] == "data: [DONE]"
        trace = http.get(f"{url}/v1/traces/{trace_id}", headers=A).json()
    events = [json.loads(d) for k, d in frames if k == "message" and d != "[DONE]"]
    assert events == trace["events"]  # every event, from the first, in order
    assert calls_at_first_round is not None and calls_at_first_round < backend.calls  # it was followed live
    assert [k for k, _ in frames][-2:] == ["trace", "message"] and frames[-1][1] == "[DONE]"
    assert json.loads(frames[-2][1]) == trace


async def test_export_html_writes_the_page_the_server_serves(tmp_path):
    async with client_for(BranchingBackend(), trace_dir=tmp_path / "traces") as http:
        ids = [(await http.post("/v1/chat/completions", json=body_for(s))).json()["id"] for s in ("beam", "vote")]
        served = (await http.get(f"/v1/traces/{ids[0]}/view")).text
    done = CliRunner().invoke(cli, ["export", str(tmp_path / "traces"), "--html", str(tmp_path / "pages"),
                                    "--id", ids[0]])
    assert done.exit_code == 0, done.output
    assert [p.name for p in (tmp_path / "pages").iterdir()] == [f"{ids[0]}.html"]
    assert (tmp_path / "pages" / f"{ids[0]}.html").read_text() == served


def test_ask_view_writes_the_page_and_opens_it_in_the_browser(tmp_path):
    trace = {"id": "ask-1", "strategy": "single", "messages": QUESTION, "answer": "4", "events": [], "tree": None}
    (tmp_path / "trace.json").write_text(json.dumps(trace))
    opened = tmp_path / "opened.txt"
    (tmp_path / "browser.py").write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_text(sys.argv[2])\n")
    script = ("import json, sys; from rich.console import Console; from app.cli import _open_view; "
              "_open_view(json.load(open(sys.argv[1])), Console())")
    env = {**os.environ, "BROWSER": f"{sys.executable} {tmp_path / 'browser.py'} {opened} %s"}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "trace.json")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip().removeprefix("trace page: ")
    assert opened.read_text() == f"file://{path}"
    with open(path) as f:
        assert f.read() == finished_page(trace)
