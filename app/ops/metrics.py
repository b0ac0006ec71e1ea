"""Prometheus metrics, one registry per app (no process-wide state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rewards.sandbox import SandboxResult
from search.driver import SearchResult


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ponder_requests_total", "HTTP requests", ["route", "status"], registry=r)
        self.latency = Histogram("ponder_request_seconds", "HTTP request latency", ["route"], registry=r,
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.in_flight = Gauge("ponder_searches_in_flight", "searches running now", registry=r)
        self.queued = Gauge("ponder_searches_queued", "searches waiting for a slot", registry=r)
        self.rejected = Counter("ponder_searches_rejected_total", "searches refused with 429", registry=r)
        self.tokens = Counter("ponder_tokens_total", "tokens by kind", ["kind"], registry=r)
        self.backend_calls = Counter("ponder_backend_calls_total", "backend calls", ["backend"], registry=r)
        self.backend_errors = Counter("ponder_backend_errors_total", "failed backend calls", ["backend"], registry=r)
        self.searches = Counter("ponder_searches_total", "finished searches", ["strategy", "stop_reason"], registry=r)
        self.exhausted = Counter("ponder_budget_exhaustions_total", "searches stopped by their budget",
                                 ["reason"], registry=r)
        self.search_seconds = Histogram("ponder_search_seconds", "search wall time", ["strategy"], registry=r,
                                        buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))

        self.sandbox_runs = Counter("ponder_sandbox_runs_total", "sandboxed verifier runs by outcome",
                                    ["outcome"], registry=r)
        self.verifier_runs = Counter("ponder_verifier_runs_total", "verifier checks", ["verifier", "passed"],
                                     registry=r)

    def record_sandbox(self, result: SandboxResult) -> None:
        if result.timed_out:
            outcome = "killed_timeout"
        elif result.output_truncated:
            outcome = "killed_output"
        elif result.resource_limit is not None:
            outcome = f"{result.resource_limit}_limit"  # memory_limit, processes_limit: the run's whole bound
        elif result.exit_code is not None and result.exit_code < 0:
            outcome = "killed_signal"  # CPU limit (SIGXCPU/SIGKILL) and the like
        else:
            outcome = "exited"
        self.sandbox_runs.labels(outcome).inc()

    def record_search(self, result: SearchResult, backend: str) -> None:
        u = result.usage
        self.tokens.labels("generated").inc(u.completion_tokens)
        self.tokens.labels("prompt").inc(u.prompt_tokens)
        self.tokens.labels("cached").inc(u.cached_tokens)
        self.backend_calls.labels(backend).inc(u.calls)
        self.backend_errors.labels(backend).inc(u.failed_calls)
        self.searches.labels(result.strategy, result.stop_reason).inc()
        if result.stop_reason in {"tokens", "calls", "deadline"}:
            self.exhausted.labels(result.stop_reason).inc()
        self.search_seconds.labels(result.strategy.split(":")[0]).observe(result.elapsed_s)
