"""Replicas over real SGLangBackends whose wire is one MockTransport playing several SGLang servers
(by host): affinity, load spreading, failover, cooldown and recovery, all seen as requests on the wire."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from backends.errors import BackendUnavailable, PromptTooLong
from backends.http_retry import SEARCH_SESSION
from backends.replicas import BLOCK, Replicas, prefix_keys
from backends.sglang import SGLangBackend
from sampling import Sampling

MODEL = "Qwen/Qwen2.5-7B-Instruct"
SYSTEM = "<|im_start|>system\nSolve the problem step by step, briefly. End with \\boxed{ANSWER}.<|im_end|>\n"


def chat(question: str) -> str:
    return f"{SYSTEM}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


A = chat("Natalia sold clips to 48 of her friends in April, and then half as many in May. How many in all?")
B = chat("Weng earns $12 an hour for babysitting. Yesterday she did 50 minutes. How much did she earn?")
C = chat("Betty needs $100 for a wallet. She has half of it. How much more does she need?")
STEP1 = "Step 1: In May she sold 48 / 2 = 24 clips.\n\n"
STEP2 = "Step 2: In all she sold 48 + 24 = 72 clips.\n\n"


def is_warm(body: dict[str, Any]) -> bool:
    """A prefill-only call (the warm-up before `n` samples)."""
    return body["sampling_params"] == {"max_new_tokens": 0, "temperature": 0.0}


class Cluster:
    """SGLang servers by host. A host is "up", "refuse" (connection refused), "drop" (accepts, then
    disconnects without answering), "unhealthy" (/health answers 503, /generate still works) or
    "reject" (/generate answers SGLang's 400 for a prompt over the context length)."""

    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts
        self.state = dict.fromkeys(hosts, "up")
        self.held: dict[str, asyncio.Event] = {}  # host -> answers wait for this
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (host, path, JSON body)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        self.calls.append((host, request.url.path, body))
        state = self.state[host]
        if state == "refuse":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if request.url.path == "/health":
            return httpx.Response(200 if state == "up" else 503)
        if request.url.path == "/get_model_info":  # a hub id: no tokenizer folder readable here
            return httpx.Response(200, json={"model_path": MODEL, "tokenizer_path": MODEL})
        if state == "drop":
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        if state == "reject":
            return httpx.Response(400, json={"object": "error", "message": "The input (40000 tokens) is longer than "
                                             "the model's context length (32768 tokens).", "type": "BadRequestError",
                                             "param": None, "code": 400})
        if host in self.held and not is_warm(body):
            await self.held[host].wait()
        texts = body["text"] if isinstance(body["text"], list) else [body["text"]]
        outputs = [{"text": f" from {host}", "output_ids": [1, 2],
                    "meta_info": {"id": "r", "finish_reason": {"type": "stop", "matched": 151645},
                                  "prompt_tokens": len(t) // 4, "completion_tokens": 2, "cached_tokens": 0}}
                   for t in texts]
        return httpx.Response(200, json=outputs if isinstance(body["text"], list) else outputs[0])

    def generate_hosts(self) -> list[str]:
        """The host of every /generate call that carried samples (warm calls left out), in order."""
        return [h for h, path, body in self.calls if path == "/generate" and not is_warm(body)]

    def to(self, host: str) -> list[str]:
        return [path for h, path, _ in self.calls if h == host]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replicas_on(cluster: Cluster, clock: Clock | None = None, cooldown_s: float = 10.0) -> Replicas:
    client = httpx.AsyncClient(transport=httpx.MockTransport(cluster))
    return Replicas([SGLangBackend(f"http://{h}:30000", model=MODEL, client=client, max_retries=0, backoff_s=0)
                     for h in cluster.hosts], cooldown_s=cooldown_s, clock=clock or Clock())


async def ask(backend: Replicas, prompt: str, n: int = 1) -> str:
    done = await backend.complete(prompt, n=n, params=Sampling(temperature=0.7))
    assert {s.text for s in done.samples} == {f" from {done.extra['replica'][7:].split(':')[0]}"}
    return done.samples[0].text.removeprefix(" from ")


async def settle() -> None:
    """Let background tasks (health probes, held calls) run as far as they can."""
    for _ in range(50):
        await asyncio.sleep(0)



def test_prefix_keys_follow_block_boundaries():
    assert len(prefix_keys("x" * (3 * BLOCK + 5))) == 3
    assert len(prefix_keys("short")) == 1
    # A continuation shares every key of the prompt it extends.
    assert prefix_keys(A)[-1] in prefix_keys(A + STEP1)
    assert prefix_keys(A)[-1] not in prefix_keys(B)
    assert prefix_keys(A)[0] == prefix_keys(B)[0]  # the shared system prompt; not a key either is remembered by


async def test_calls_of_one_search_stay_on_one_replica_while_searches_alternate():
    cluster = Cluster("a", "b")
    backend = replicas_on(cluster)
    hosts = {"A": [await ask(backend, A, n=4)], "B": [await ask(backend, B)]}
    for step in (STEP1, STEP1 + STEP2):
        hosts["A"].append(await ask(backend, A + step))
        hosts["B"].append(await ask(backend, B + step))
    hosts["A"].append(await ask(backend, A, n=2))  # a repeated prompt goes back too
    assert len(set(hosts["A"])) == 1 and len(set(hosts["B"])) == 1
    assert hosts["A"][0] != hosts["B"][0]  # idle replicas take turns for new searches


async def test_new_searches_go_to_the_least_loaded_replica_but_a_search_stays_put():
    cluster = Cluster("a", "b")
    cluster.held = {"a": asyncio.Event(), "b": asyncio.Event()}
    backend = replicas_on(cluster)
    first = asyncio.ensure_future(ask(backend, A, n=4))
    await settle()
    [home] = cluster.generate_hosts()
    other = "b" if home == "a" else "a"
    second = asyncio.ensure_future(ask(backend, B))  # a new search: the idle replica
    await settle()
    more_of_first = asyncio.ensure_future(ask(backend, A + STEP1))  # busier, but its prefix lives there
    third = asyncio.ensure_future(ask(backend, C))  # 5 samples in flight on `home`, 1 on `other`
    await settle()
    assert cluster.generate_hosts() == [home, other, home, other]
    for event in cluster.held.values():
        event.set()
    assert await asyncio.gather(first, second, more_of_first, third) == [home, other, home, other]


async def test_searches_that_share_a_long_system_prompt_spread_when_each_has_its_session():
    # Questions that differ only after the last block boundary (a short question under a long system
    # prompt): without a session they count as one search.
    shared = "<|im_start|>system\n" + "Be careful and show every step. " * 6 + "<|im_end|>\n<|im_start|>user\nQ"
    shared += "." * (-len(shared) % BLOCK)
    prompts = [f"{shared}{i}?<|im_end|>\n<|im_start|>assistant\n" for i in range(4)]

    async def searches(backend: Replicas, sessions: list[str | None]) -> list[list[str]]:
        hosts = []
        for prompt, session in zip(prompts, sessions, strict=True):
            token = SEARCH_SESSION.set(session)
            try:
                hosts.append([await ask(backend, prompt), await ask(backend, prompt + STEP1)])
            finally:
                SEARCH_SESSION.reset(token)
        return hosts

    # Without sessions every question extends the first one's system prompt: all on one replica.
    unscoped = await searches(replicas_on(Cluster("a", "b")), [None] * 4)
    assert len({h for search in unscoped for h in search}) == 1
    # One session per search (what the service sets): each search stays put, and they take turns.
    scoped = await searches(replicas_on(Cluster("a", "b")), [f"search-{i}" for i in range(4)])
    assert all(len(set(search)) == 1 for search in scoped)
    assert [search[0] for search in scoped].count("a") == 2


async def test_a_refusing_replica_fails_over_and_the_search_stays_on_the_new_one():
    cluster = Cluster("a", "b")
    backend = replicas_on(cluster)
    home = await ask(backend, A)
    other = "b" if home == "a" else "a"
    cluster.state[home] = "refuse"
    assert await ask(backend, A + STEP1) == other  # the failed call is answered by the other replica
    assert await ask(backend, A + STEP1 + STEP2) == other
    assert cluster.to(home).count("/generate") == 2  # the first call, then the one refused; never again


async def test_a_replica_that_drops_a_call_mid_way_is_failed_over():
    cluster = Cluster("a", "b")
    backend = replicas_on(cluster)
    home = await ask(backend, A)
    cluster.state[home] = "drop"
    assert await ask(backend, A + STEP1) != home
    assert cluster.generate_hosts()[-2:] == [home, "b" if home == "a" else "a"]


async def test_a_moved_search_takes_all_its_branches_along():
    cluster = Cluster("a", "b", "c")
    backend = replicas_on(cluster)
    home = await ask(backend, A)
    await ask(backend, A + STEP1)
    await ask(backend, A + "Step 1: Half of 48 is 24.\n\n")
    cluster.state[home] = "refuse"
    moved = await ask(backend, A + STEP1 + STEP2)
    # A sibling branch, whose own prompt was remembered on the dead replica, follows the search.
    assert await ask(backend, A + "Step 1: Half of 48 is 24.\n\nStep 2: 48 + 24 = 72.\n\n") == moved
    assert await ask(backend, A + "Step 1: 48 clips in April.\n\n") == moved


async def test_a_down_replica_is_skipped_until_its_cooldown_then_probed_back():
    cluster = Cluster("a", "b")
    clock = Clock()
    backend = replicas_on(cluster, clock, cooldown_s=10.0)
    home = await ask(backend, A)
    other = "b" if home == "a" else "a"
    cluster.state[home] = "refuse"
    await ask(backend, A + STEP1)
    before = len(cluster.to(home))
    clock.now += 5
    assert [await ask(backend, B), await ask(backend, C)] == [other, other]
    await settle()
    assert len(cluster.to(home)) == before  # no call and no probe during the cooldown
    cluster.state[home] = "up"
    clock.now += 6
    assert await ask(backend, chat("What is 6 * 7?")) == other  # still skipped; this call starts a probe
    await settle()
    assert cluster.to(home)[before:] == ["/health"]
    cluster.held = {other: asyncio.Event()}
    busy = asyncio.ensure_future(ask(backend, chat("What is 9 * 9?")))
    await settle()
    assert await ask(backend, chat("What is 3 * 3?")) == home  # back, and the less loaded one
    cluster.held[other].set()
    await busy


async def test_a_failed_probe_keeps_the_replica_out_for_another_cooldown():
    cluster = Cluster("a", "b")
    clock = Clock()
    backend = replicas_on(cluster, clock, cooldown_s=10.0)
    home = await ask(backend, A)
    cluster.state[home] = "refuse"
    await ask(backend, A + STEP1)
    clock.now += 11
    await ask(backend, B)
    await settle()
    assert cluster.to(home)[-1] == "/health"
    probes = cluster.to(home).count("/health")
    clock.now += 5
    await ask(backend, C)
    await settle()
    assert cluster.to(home).count("/health") == probes  # next probe only after another cooldown
    clock.now += 6
    await ask(backend, chat("What is 6 * 7?"))
    await settle()
    assert cluster.to(home).count("/health") == probes + 1


async def test_health_probes_every_replica_and_skips_the_failing_ones():
    cluster = Cluster("a", "b")
    backend = replicas_on(cluster)
    cluster.state["a"] = "unhealthy"
    assert await backend.health() is True
    assert [await ask(backend, q) for q in (A, B, C)] == ["b", "b", "b"]
    cluster.state["b"] = "unhealthy"
    assert await backend.health() is False


async def test_with_every_replica_down_each_is_still_tried_once():
    cluster = Cluster("a", "b")
    backend = replicas_on(cluster)
    cluster.state = {"a": "refuse", "b": "refuse"}
    with pytest.raises(BackendUnavailable, match="Connection refused"):
        await ask(backend, A)
    assert sorted(cluster.generate_hosts()) == ["a", "b"]
    cluster.state["a"] = "up"  # back before any cooldown ran out: the last resort finds it
    assert await ask(backend, B) == "a"


async def test_client_errors_are_not_failed_over():
    cluster = Cluster("a", "b")
    backend = replicas_on(cluster)
    home = await ask(backend, A)
    cluster.state = {"a": "reject", "b": "reject"}
    with pytest.raises(PromptTooLong):
        await backend.complete(A + STEP1, n=1, params=Sampling())
    assert cluster.generate_hosts() == [home, home]  # no second replica asked
    cluster.state = {"a": "up", "b": "up"}
    assert await ask(backend, A + STEP1 + STEP2) == home  # and the replica was not marked down


async def test_model_and_chat_come_from_the_replicas():
    backend = replicas_on(Cluster("a", "b"))
    assert backend.model == MODEL
    assert await backend.render_chat([{"role": "user", "content": "hi"}]) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    await backend.aclose()
