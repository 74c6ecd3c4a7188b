"""A reload records its switch before making it, or does not make it."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime

import pytest

from pricing_service.audit.sink import AuditEvent, AuditPosition, AuditUnavailableError
from pricing_service.domain.errors import NoPolicyInForceError
from pricing_service.policy.store import (
    PolicySet,
    default_policies,
    default_policy_bytes,
    load_policy_bytes,
)
from pricing_service.quoting.reload import PolicyReloader
from pricing_service.quoting.service import QuoteService

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
DEFAULT = default_policy_bytes().decode()


class Sink:
    """Keeps events and archived digests; fails every record with `fail` if set."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.events: list[AuditEvent] = []
        self.archived: list[str] = []
        self.fail = fail

    def register_policy(self, digest: str, canonical: bytes) -> None:
        del canonical
        self.archived.append(digest)

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        self.events.append(event)
        done: Future[AuditPosition] = Future()
        if self.fail is not None:
            done.set_exception(self.fail)
        else:
            done.set_result(AuditPosition("o", len(self.events) - 1, ""))
        return done

    def close(self) -> None:
        pass


def _set(text: str) -> PolicySet:
    return PolicySet([load_policy_bytes(text.encode())])


def _renamed(version: str, effective_from: str = "2019-08-20") -> PolicySet:
    return _set(
        DEFAULT.replace('version = "2026.1-default"', f'version = "{version}"').replace(
            "effective_from = 2019-08-20", f"effective_from = {effective_from}"
        )
    )


def test_a_switch_is_recorded_and_archived_then_made() -> None:
    sink = Sink()
    service = QuoteService(default_policies(), sink, lambda: NOW)
    old = service.policies.versions[0]
    new = _renamed("2026.2")
    done = PolicyReloader(service, lambda: new).reload(caller="operator", peer="ipv4:10.0.0.5:1")
    assert (done.version, done.changed) == ("2026.2", True)
    assert service.policies is new
    assert sink.archived == [new.versions[0].digest]
    assert sink.events == [
        AuditEvent(
            kind="policy_switch",
            request=None,
            response=None,
            error=None,
            caller="operator",
            policy_digest=None,
            time="2026-11-20T02:00:00Z",
            peer="ipv4:10.0.0.5:1",
            policies={
                "old": {"digest": old.digest, "version": "2026.1-default"},
                "new": {"digest": new.versions[0].digest, "version": "2026.2"},
            },
        )
    ]


def test_a_switch_the_log_cannot_record_is_not_made() -> None:
    sink = Sink(fail=AuditUnavailableError("disk full"))
    service = QuoteService(default_policies(), sink, lambda: NOW)
    old = service.policies
    with pytest.raises(AuditUnavailableError, match="disk full"):
        PolicyReloader(service, lambda: _renamed("2026.2")).reload()
    assert service.policies is old  # the old set keeps serving
    assert [e.caller for e in sink.events] == ["signal:SIGHUP"]


def test_a_set_with_nothing_in_force_now_is_refused_before_any_record() -> None:
    sink = Sink()
    service = QuoteService(default_policies(), sink, lambda: NOW)
    old = service.policies
    with pytest.raises(NoPolicyInForceError):
        PolicyReloader(service, lambda: _renamed("2027.1", "2027-01-01")).reload()
    assert (service.policies, sink.events, sink.archived) == (old, [], [])


def test_a_reload_that_changes_nothing_writes_nothing() -> None:
    sink = Sink()
    service = QuoteService(default_policies(), sink, lambda: NOW)
    done = PolicyReloader(service, default_policies).reload()
    assert (done.changed, sink.events) == (False, [])
