"""Reloading the policy files: validate all of them, then switch at once, or keep serving.

A reload (SIGHUP or the ReloadPolicy RPC) loads every configured file. Any problem in
any file refuses the whole reload (PolicyError naming every problem) and the set in
force keeps serving; a valid set replaces it in one assignment, and each request reads
the set once, so none is priced half under each. Quotes name the digest that priced
them, and the first quote under a new version archives it in the audit log.

A switch to a set that differs is an audit record of kind "policy_switch": who asked
(the caller's identity and peer, or "signal:SIGHUP"), and the version and digest in
force before and after. The record is durable *before* the switch, and the new version
in force is archived with it, so the log never holds a quote under a set it has not
announced, and the digest it names can be read back. If the log cannot take the record
the reload is refused (UNAVAILABLE) and the old set keeps serving: no switch goes
unrecorded. A quote in flight during the switch may land after the record while priced
under the old set; every quote names its own digest, so replay is not misled. A reload
that changes nothing, or is refused, writes no record (a refusal is logged already).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

import structlog

from pricing_service.audit.sink import AuditEvent, AuditUnavailableError
from pricing_service.domain.engine import beijing_date
from pricing_service.domain.errors import NoPolicyInForceError, PolicyError
from pricing_service.policy.store import PolicySet
from pricing_service.quoting.service import QuoteService

log = structlog.get_logger("pricing_service.policy")

SIGNAL_CALLER: Final = "signal:SIGHUP"
REFUSED: Final = (PolicyError, NoPolicyInForceError, AuditUnavailableError)
"""What a refused reload raises, every one logged by the reloader."""


@dataclass(frozen=True, slots=True)
class Reloaded:
    """The outcome of a reload: what is in force now, and whether anything changed."""

    version: str
    digest: str
    versions: int
    changed: bool


def _in_force(policies: PolicySet, day: date) -> dict[str, str] | None:
    """{"digest", "version"} of the version `policies` has in force on `day`, or None."""
    try:
        policy = policies.in_force(day)
    except NoPolicyInForceError:
        return None
    return {"digest": policy.digest, "version": policy.version}


class PolicyReloader:
    """Reloads `service.policies` from `load` (the configured files, or the default)."""

    def __init__(self, service: QuoteService, load: Callable[[], PolicySet]) -> None:
        self.service = service
        self.load = load
        self._lock = threading.Lock()  # one reload at a time

    def reload(
        self, now: datetime | None = None, *, caller: str = SIGNAL_CALLER, peer: str = ""
    ) -> Reloaded:
        """Load and validate every file, record the switch, then switch; raises one of
        REFUSED and keeps the set in force. `caller` and `peer` say who asked."""
        with self._lock:
            old = self.service.policies
            when = now or self.service.clock()
            day = beijing_date(when)
            try:
                new = self.load()
                policy = new.in_force(day)  # a set with nothing in force now cannot serve
            except (PolicyError, NoPolicyInForceError) as exc:
                problems = list(getattr(exc, "problems", ())) or [str(exc)]
                log.error("policy_reload_refused", problems=problems)
                raise
            changed = [p.digest for p in new.versions] != [p.digest for p in old.versions]
            if changed:
                self._record(old, new, when, caller, peer)
            self.service.policies = new
            log.info(
                "policy_reloaded",
                changed=changed,
                versions=len(new.versions),
                version=policy.version,
                digest=policy.digest,
                caller=caller,
            )
            return Reloaded(policy.version, policy.digest, len(new.versions), changed)

    def _record(
        self, old: PolicySet, new: PolicySet, when: datetime, caller: str, peer: str
    ) -> None:
        """Archive the new version in force and write the switch record, durably."""
        day = beijing_date(when)
        event = AuditEvent(
            kind="policy_switch",
            request=None,
            response=None,
            error=None,
            caller=caller,
            policy_digest=None,
            time=when.isoformat().replace("+00:00", "Z"),
            peer=peer,
            policies={"old": _in_force(old, day), "new": _in_force(new, day)},
        )
        try:
            self.service.archive_policy(new.in_force(day), new)
            self.service.sink.submit(event).result()
        except AuditUnavailableError as exc:
            log.error("policy_reload_refused", problems=[f"the switch cannot be recorded: {exc}"])
            raise
