"""Reloading the policy files: validate all of them, then switch at once, or keep serving.

A reload (SIGHUP or the ReloadPolicy RPC) loads every configured file. Any problem in
any file refuses the whole reload (PolicyError naming every problem) and the set in
force keeps serving; a valid set replaces it in one assignment, and each request reads
the set once, so none is priced half under each. Quotes name the digest that priced
them, and the first quote under a new version archives it in the audit log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from pricing_service.domain.engine import beijing_date
from pricing_service.domain.errors import PolicyError
from pricing_service.policy.store import PolicySet
from pricing_service.quoting.service import QuoteService

log = structlog.get_logger("pricing_service.policy")


@dataclass(frozen=True, slots=True)
class Reloaded:
    """The outcome of a reload: what is in force now, and whether anything changed."""

    version: str
    digest: str
    versions: int
    changed: bool


class PolicyReloader:
    """Reloads `service.policies` from `load` (the configured files, or the default)."""

    def __init__(self, service: QuoteService, load: Callable[[], PolicySet]) -> None:
        self.service = service
        self.load = load
        self._lock = threading.Lock()  # one reload at a time

    def reload(self, now: datetime | None = None) -> Reloaded:
        """Load and validate every file, then switch; raises PolicyError and keeps the set."""
        with self._lock:
            old = self.service.policies
            try:
                new = self.load()
            except PolicyError as exc:
                log.error("policy_reload_refused", problems=list(exc.problems) or [str(exc)])
                raise
            changed = [p.digest for p in new.versions] != [p.digest for p in old.versions]
            self.service.policies = new
            when = now or self.service.clock()
            policy = new.in_force(beijing_date(when))
            log.info(
                "policy_reloaded",
                changed=changed,
                versions=len(new.versions),
                version=policy.version,
                digest=policy.digest,
            )
            return Reloaded(policy.version, policy.digest, len(new.versions), changed)
