"""Prometheus metrics on their own listen address (prometheus-client).

Counted as they happen: RPCs by method and status code with a latency histogram, and
binding quotes by product and outcome. Read at scrape time from the parts that already
keep them: the audit writer's counters and recent batch sizes and fsync latencies, the
log's size, the admission limits' in-flight and rejected counts, and the policy in force.
Each server has its own registry, so several in one process (tests) never collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from pricing_service.audit.sink import AuditSink
from pricing_service.domain.engine import beijing_date
from pricing_service.policy.store import PolicySet
from pricing_service.quoting.denials import DenialRecorder
from pricing_service.quoting.limits import Admission

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _quantiles(name: str, doc: str, values: tuple[float, ...]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["quantile"])
    if values:
        ordered = sorted(values)
        for q in (0.5, 0.99):
            family.add_metric([str(q)], ordered[min(len(ordered) - 1, int(len(ordered) * q))])
    return family


class _State(Collector):
    """What other parts keep, read at each scrape."""

    def __init__(
        self,
        sink: AuditSink,
        admission: Admission,
        policies: Callable[[], PolicySet],
        clock: Callable[[], datetime],
        denials: DenialRecorder | None,
    ) -> None:
        self.sink = sink
        self.admission = admission
        self.policies = policies
        self.clock = clock
        self.denials = denials

    def collect(self) -> Iterator[Any]:
        yield from self._policy()
        yield from self._admission()
        yield from self._audit()
        yield from self._denials()

    def _denials(self) -> Iterator[Any]:
        if self.denials is None:
            return
        yield CounterMetricFamily(
            "ecoloan_audit_denials_recorded",
            "Denied CreateQuotes written to the audit log",
            value=self.denials.recorded,
        )
        yield CounterMetricFamily(
            "ecoloan_audit_denials_not_recorded",
            "Denied CreateQuotes not recorded (over the per-caller bound, or the log down)",
            value=self.denials.not_recorded,
        )

    def _policy(self) -> Iterator[Any]:
        policy = self.policies().in_force(beijing_date(self.clock()))
        info = InfoMetricFamily("ecoloan_policy", "The policy version in force now")
        info.add_metric([], {"version": policy.version, "digest": policy.digest})
        yield info

    def _admission(self) -> Iterator[Any]:
        now = GaugeMetricFamily("ecoloan_in_flight", "Calls running, by kind", labels=["kind"])
        limit = GaugeMetricFamily("ecoloan_in_flight_limit", "Allowance, by kind", labels=["kind"])
        rejected = CounterMetricFamily(
            "ecoloan_rejected_by_limit", "Calls refused by an in-flight limit", labels=["kind"]
        )
        for kind, gate in self.admission.in_flight.items():
            now.add_metric([kind], gate.now)
            limit.add_metric([kind], gate.limit)
            rejected.add_metric([kind], gate.rejected)
        yield from (now, limit, rejected)

    def _audit(self) -> Iterator[Any]:
        size = getattr(self.sink, "size", None)
        if isinstance(size, int):
            yield GaugeMetricFamily("ecoloan_audit_log_records", "Durable records", value=size)
        stats_of = getattr(self.sink, "stats", None)
        if stats_of is None:
            return
        stats = stats_of()
        for name, value in (
            ("records", stats.records),
            ("batches", stats.batches),
            ("failed_batches", stats.failed_batches),
            ("checkpoints", stats.checkpoints),
        ):
            yield CounterMetricFamily(f"ecoloan_audit_{name}", f"Audit log {name}", value=value)
        yield _quantiles(
            "ecoloan_audit_batch_records",
            "Records per group-commit batch (recent)",
            stats.batch_sizes,
        )
        yield _quantiles(
            "ecoloan_audit_fsync_seconds", "Batch write + fdatasync (recent)", stats.fsync_seconds
        )
        yield _quantiles(
            "ecoloan_audit_attest_seconds",
            "Batch checkpoint sign + write + fdatasync, before its replies (recent)",
            stats.attest_seconds,
        )


class Metrics:
    """One server's metrics: what it counts, what it reads at scrape time, where it serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpcs = Counter(
            "ecoloan_rpcs", "RPCs by method and status code", ["method", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "ecoloan_rpc_duration_seconds", "RPC latency by method", ["method"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.quotes = Counter(
            "ecoloan_quotes", "Binding quote requests by product and outcome",
            ["product", "outcome"], registry=self.registry,
        )  # fmt: skip
        self._rpc_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._quote_children: dict[tuple[str, str], Any] = {}
        self._stop: Callable[[], None] | None = None
        self.port: int | None = None  # where /metrics is served, once it is

    def rpc(self, method: str, code: str, seconds: float) -> None:
        """Count one finished RPC."""
        children = self._rpc_children.get((method, code))
        if children is None:
            # labels() takes the metric's lock and builds its key on every call; the
            # children of the few (method, code) pairs are found once and kept.
            short = method.rsplit("/", 1)[-1]
            children = (self.rpcs.labels(short, code), self.latency.labels(short))
            self._rpc_children[(method, code)] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)

    def quote(self, product: str, outcome: str) -> None:
        """Count one CreateQuote by its product and outcome ("quoted", or the refusal).

        `product` must come from a bounded set (the policy's products): each pair is a
        time series kept for as long as the server runs."""
        child = self._quote_children.get((product, outcome))
        if child is None:
            # labels() locks and builds its key every call; the caller bounds the pairs.
            child = self.quotes.labels(product or "(none)", outcome)
            self._quote_children[(product, outcome)] = child
        child.inc()

    def watch(
        self,
        sink: AuditSink,
        admission: Admission,
        policies: Callable[[], PolicySet],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        denials: DenialRecorder | None = None,
    ) -> None:
        """Read these at each scrape."""
        self.registry.register(_State(sink, admission, policies, clock, denials))

    def serve(self, listen: str) -> int:
        """Serve /metrics on `listen` ("host:port", port 0 for any); returns the port."""
        host, _, port = listen.rpartition(":")
        server, thread = start_http_server(int(port), addr=host.strip("[]"), registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        self._stop = stop
        self.port = int(server.server_address[1])
        return self.port

    def close(self) -> None:
        """Stop serving /metrics."""
        if self._stop is not None:
            self._stop()
            self._stop = None
