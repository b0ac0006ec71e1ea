"""Tenant isolation (issue 24): traces belong to the key that made them, only requested traces
are kept, trace files are owner-only, and the API docs follow the API's auth."""

from __future__ import annotations

import json
import os
import stat

from .fake_backend import ScriptedBackend
from .test_ops import BODY, client_for

KEY_A, KEY_B = "tenant-a-secret-key", "tenant-b-secret-key"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
TRACED = {**BODY, "reasoning": {"trace": True}}


async def test_a_trace_is_readable_only_with_the_key_that_created_it(tmp_path):
    async with client_for(ScriptedBackend(), api_keys=f"{KEY_A},{KEY_B}", trace_dir=tmp_path) as http:
        chat = (await http.post("/v1/chat/completions", json=TRACED, headers=A)).json()["id"]
        reason = (await http.post("/v1/reason", json={"problem": "2+2?", "trace": True}, headers=B)).json()["id"]
        assert (await http.get(f"/v1/traces/{chat}", headers=A)).json()["id"] == chat
        assert (await http.get(f"/v1/traces/{reason}", headers=B)).json()["id"] == reason
        unknown = await http.get("/v1/traces/ID", headers=B)
        for trace_id, other in ((chat, B), (reason, A)):
            refused = await http.get(f"/v1/traces/{trace_id}", headers=other)
            assert refused.status_code == unknown.status_code == 404
            # The very answer an unknown id gets: whether the trace exists does not leak.
            assert refused.text == unknown.text.replace("'ID'", f"'{trace_id}'")
        assert (await http.get(f"/v1/traces/{chat}")).status_code == 401
    written = "".join(p.read_text() for p in tmp_path.glob("*.json"))
    assert chat in written and KEY_A not in written and KEY_B not in written  # the key is never stored


async def test_only_requested_traces_are_kept_unless_the_operator_keeps_all(tmp_path):
    async with client_for(ScriptedBackend(), trace_dir=tmp_path / "quiet") as http:
        chat = (await http.post("/v1/chat/completions", json=BODY)).json()["id"]
        reason = (await http.post("/v1/reason", json={"problem": "2+2?"})).json()["id"]
        for trace_id in (chat, reason):
            assert (await http.get(f"/v1/traces/{trace_id}")).status_code == 404
        assert not list(tmp_path.glob("quiet/*"))  # no prompt reached the disk either
        asked = (await http.post("/v1/chat/completions", json=TRACED)).json()["id"]
        assert (await http.get(f"/v1/traces/{asked}")).status_code == 200
    files = list((tmp_path / "quiet").iterdir())
    assert [json.loads(f.read_text())["trace"]["id"] for f in files] == [asked]  # the one asked for, and only it
    async with client_for(ScriptedBackend(), trace_dir=tmp_path / "all", keep_all_traces=True) as http:
        chat = (await http.post("/v1/chat/completions", json=BODY)).json()["id"]
        assert (await http.get(f"/v1/traces/{chat}")).status_code == 200
    assert (tmp_path / "all" / f"{chat}.json").exists()


async def test_trace_files_are_owner_only_one_per_trace(tmp_path):
    previous = os.umask(0o022)  # the common default, under which files used to come out 0644
    try:
        async with client_for(ScriptedBackend(), trace_dir=tmp_path / "made" / "traces") as http:
            for _ in range(2):
                assert (await http.post("/v1/chat/completions", json=TRACED)).status_code == 200
    finally:
        os.umask(previous)
    files = list((tmp_path / "made" / "traces").iterdir())
    assert len(files) == 2 and all(f.suffix == ".json" for f in files)  # no partial file is left behind
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700


async def test_an_existing_trace_folder_open_to_others_is_made_owner_only_at_start(tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # as a volume or an operator's mkdir leaves it: mkdir's mode would not touch it
    async with client_for(ScriptedBackend(), trace_dir=folder):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # at start, before any trace is written
    assert list(folder.iterdir()) == []


async def test_openapi_and_docs_need_the_key_when_keys_are_set():
    async with client_for(ScriptedBackend(), api_keys=KEY_A) as http:
        refused = (await http.get("/v1/models")).json()
        for path in ("/openapi.json", "/docs", "/redoc"):
            missing = await http.get(path)
            assert missing.status_code == 401 and missing.json() == refused, path
            assert (await http.get(path, headers=B)).status_code == 401, path
            assert (await http.get(path, headers=A)).status_code == 200, path
        assert "/v1/chat/completions" in (await http.get("/openapi.json", headers=A)).json()["paths"]
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
    async with client_for(ScriptedBackend()) as http:  # an open server keeps open docs
        assert (await http.get("/openapi.json")).json()["info"]["title"] == "ponder"
        assert (await http.get("/docs")).status_code == 200


async def test_gateways_sharing_a_trace_folder_and_secret_answer_for_each_others_traces(tmp_path):
    shared = {"api_keys": f"{KEY_A},{KEY_B}", "trace_dir": tmp_path, "caller_secret": "fleet-secret-1"}
    async with client_for(ScriptedBackend(), **shared) as first:
        chat = (await first.post("/v1/chat/completions", json=TRACED, headers=A)).json()["id"]
    async with client_for(ScriptedBackend(), **shared) as second:  # another process: nothing in its memory
        assert (await second.get(f"/v1/traces/{chat}", headers=A)).json()["id"] == chat
        assert (await second.get(f"/v1/traces/{chat}", headers=B)).status_code == 404  # still the owner's only
    async with client_for(ScriptedBackend(), api_keys=KEY_A, trace_dir=tmp_path) as unshared:
        # A gateway without the fleet's secret cannot tell who owns the file: nobody does, to it.
        assert (await unshared.get(f"/v1/traces/{chat}", headers=A)).status_code == 404


async def test_a_trace_id_is_never_a_path_outside_the_folder_nor_a_hidden_file(tmp_path):
    from app.traces.store import TraceStore

    folder = tmp_path / "traces"
    folder.mkdir()
    planted = json.dumps({"owner": None, "trace": {"id": "planted"}})
    for path in (tmp_path / "outside.json", folder / ".hidden.json", folder / "ok.json"):
        path.write_text(planted)
    store = TraceStore(directory=folder)
    assert await store.get("ok", None) == {"id": "planted"}  # the planted files are readable as traces
    for bad in ("../outside", ".hidden", "a/../ok", "ok\x00"):
        assert await store.get(bad, None) is None
    await store.put("../escape", {"id": "x"}, owner=None)  # kept in memory, never written outside
    assert not (tmp_path / "escape.json").exists() and sorted(p.name for p in folder.iterdir()) == [
        ".hidden.json", "ok.json"]


async def test_a_trace_folder_that_cannot_be_written_costs_the_copy_not_the_answer(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    async with client_for(ScriptedBackend(), trace_dir=blocked) as http:
        reply = await http.post("/v1/chat/completions", json=TRACED)
        assert reply.status_code == 200
        assert (await http.get(f"/v1/traces/{reply.json()['id']}")).status_code == 200  # from memory
