"""`pricing status`: one look at a running server — health, the policy in force, the log's
position and the metrics, for an operator at a terminal."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Iterable

from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from prometheus_client.parser import text_string_to_metric_families


def fetch_metrics(url: str, timeout: float = 5.0) -> str:
    """The text exposition at `url` (http://host:port/metrics); only http(s) URLs."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--metrics: not an http(s) URL: {url!r}")
    with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - scheme checked
        return str(reply.read().decode("utf-8"))


def metric_lines(text: str) -> list[tuple[str, str]]:
    """(what, value) rows from the server's metrics: log, RPCs, quotes, limits, fsync."""
    by: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            by[s.name][tuple(sorted(s.labels.items()))] = s.value
    rows: list[tuple[str, str]] = []
    for name, what in (
        ("ecoloan_audit_log_records", "audit log records"),
        ("ecoloan_audit_checkpoints_total", "checkpoints signed"),
    ):
        if () in by.get(name, {}):
            rows.append((what, f"{by[name][()]:,.0f}"))
    fsync = by.get("ecoloan_audit_fsync_seconds", {})
    if (("quantile", "0.99"),) in fsync:
        p99 = fsync[(("quantile", "0.99"),)] * 1000
        rows.append(("write+fsync p99", f"{p99:.2f} ms"))
    rows += _totals(by.get("ecoloan_rpcs_total", {}).items(), "code", "RPCs")
    rows += _totals(by.get("ecoloan_quotes_total", {}).items(), "outcome", "quotes")
    for kind_labels, now in sorted(by.get("ecoloan_in_flight", {}).items()):
        kind = dict(kind_labels)["kind"]
        limit = by.get("ecoloan_in_flight_limit", {}).get(kind_labels, 0)
        rejected = by.get("ecoloan_rejected_by_limit_total", {}).get(kind_labels, 0)
        rows.append((f"in flight: {kind}", f"{now:.0f} of {limit:.0f}, {rejected:.0f} refused"))
    return rows


def _totals(
    samples: Iterable[tuple[tuple[tuple[str, str], ...], float]], label: str, what: str
) -> list[tuple[str, str]]:
    sums: dict[str, float] = defaultdict(float)
    for labels, value in samples:
        sums[dict(labels)[label]] += value
    return [(f"{what}: {key}", f"{value:,.0f}") for key, value in sorted(sums.items())]


def status_lines(
    health: str, policy: pb.DescribePolicyResponse, metrics_text: str | None
) -> list[tuple[str, str]]:
    """Every row `pricing status` prints."""
    rows = [
        ("health", health),
        ("policy", f"{policy.policy_version} ({policy.policy_digest[:16]}…)"),
        ("in force from", policy.effective_from),
        ("LPR confirmed through", policy.lpr_confirmed_through),
    ]
    rows += [
        (f"LPR {pb.Tenor.Name(f.tenor).removeprefix('TENOR_')}", f"{f.rate} %")
        for f in policy.fixings_in_force
    ]
    if metrics_text is not None:
        rows += metric_lines(metrics_text)
    return rows
