"""Effective-dated policy versions: the one in force on a date, or by digest."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from datetime import date
from importlib import resources
from pathlib import Path

from pricing_service.domain.errors import NoPolicyInForceError, PolicyError
from pricing_service.domain.policy import Policy
from pricing_service.policy.document import build_policy, canonical_bytes, parse_document


class PolicySet:
    """Several policy versions; each is in force from its effective date until the next."""

    __slots__ = ("_by_digest", "_canonical", "_dates", "_versions")

    def __init__(self, versions: Iterable[tuple[Policy, bytes]]) -> None:
        pairs = sorted(versions, key=lambda pc: pc[0].effective_from)
        if not pairs:
            raise PolicyError(["no policy version given"])
        problems = []
        for (a, _), (b, _) in itertools.pairwise(pairs):
            if a.effective_from == b.effective_from:
                problems.append(
                    f"versions {a.version!r} and {b.version!r} are both effective from "
                    f"{a.effective_from}"
                )
        if problems:
            raise PolicyError(problems)
        self._versions = tuple(p for p, _ in pairs)
        self._dates = [p.effective_from for p in self._versions]
        self._by_digest = {p.digest: p for p in self._versions}
        self._canonical = {p.digest: c for p, c in pairs}

    @property
    def versions(self) -> tuple[Policy, ...]:
        """All versions, oldest effective date first."""
        return self._versions

    def in_force(self, on: date) -> Policy:
        """The version with the latest effective date on or before `on`."""
        i = bisect.bisect_right(self._dates, on)
        if i == 0:
            raise NoPolicyInForceError(on.isoformat())
        return self._versions[i - 1]

    def by_digest(self, digest: str) -> Policy | None:
        """A version by its digest, if this set holds it."""
        return self._by_digest.get(digest)

    def canonical(self, digest: str) -> bytes:
        """The canonical bytes of a version held by this set."""
        return self._canonical[digest]


def load_policy_bytes(raw: bytes) -> tuple[Policy, bytes]:
    """Validate one policy document (TOML or canonical JSON) and give its canonical bytes.

    Total: any bytes give a policy or a PolicyError listing the problems, never another
    exception (drafts come over the network).
    """
    doc = parse_document(raw)
    return build_policy(doc), canonical_bytes(doc)


def load_paths(paths: Sequence[Path]) -> PolicySet:
    """Load policy files, or every *.toml in the directories given; all problems at once."""
    files: list[Path] = []
    problems: list[str] = []
    for path in paths:
        try:
            files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
        except OSError as exc:  # is_dir() raises PermissionError under an unreadable parent
            problems.append(f"{path}: {exc.strerror or exc}")
    loaded: list[tuple[Policy, bytes]] = []
    for f in files:
        try:
            loaded.append(load_policy_bytes(f.read_bytes()))
        except PolicyError as exc:
            problems.extend(f"{f}: {p}" for p in exc.problems)
        except OSError as exc:
            problems.append(f"{f}: {exc.strerror or exc}")
    if problems:
        raise PolicyError(problems)
    return PolicySet(loaded)


def default_policy_bytes() -> bytes:
    """The shipped default policy document."""
    return (resources.files("pricing_service.policy") / "default" / "policy.toml").read_bytes()


def default_policies() -> PolicySet:
    """The shipped default policy set."""
    return PolicySet([load_policy_bytes(default_policy_bytes())])
