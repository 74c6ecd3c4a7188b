"""Who may do what: caller identities and the permission table; no transport.

A caller is identified by the adapter (client certificate, bearer token, or in
development a self-asserted header) and checked here against the configured table
before any work is done. The table maps identities to permissions:

    quote            CreateQuote, any product     quote:<product>  CreateQuote, that product
    simulate         SimulateQuotes               read             GetQuote
    prove            GetQuoteProof                describe         ListProducts, DescribePolicy
    reload           ReloadPolicy (and what SIGHUP does)

An identity "*" gives its permissions to every authenticated caller; "anonymous" is the
caller who presented nothing. With no table configured the server runs a development
table (everyone may do everything) and only on a loopback address; see `from_config`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

ANONYMOUS: Final = "anonymous"
EVERYONE: Final = "*"
PERMISSIONS: Final = ("quote", "simulate", "read", "prove", "describe", "reload")
METHOD_PERMISSION: Final = {
    "CreateQuote": "quote",
    "SimulateQuotes": "simulate",
    "GetQuote": "read",
    "GetQuoteProof": "prove",
    "ListProducts": "describe",
    "DescribePolicy": "describe",
    "ReloadPolicy": "reload",
}


class AccessError(Exception):
    """A call refused before any work: who called, what they asked."""

    def __init__(self, message: str, *, reason: str, caller: str, method: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.caller = caller
        self.method = method


class UnauthenticatedError(AccessError):
    """The caller could not be identified (a certificate without a name, a bad token)."""


class PermissionDeniedError(AccessError):
    """The caller is known and the table does not let them do this."""


class AccessConfigError(ValueError):
    """An [access] table that cannot be used."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An identified caller: the identity the table and the audit log name, how it was
    established, and the transport peer (kept apart: an identity is never a peer)."""

    identity: str
    via: str  # "certificate", "token", "header" or "none"
    peer: str


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The permission table, the token hashes, and whether the identity header counts."""

    permissions: Mapping[str, frozenset[str]]
    token_hashes: Mapping[str, str] = field(default_factory=dict)  # sha256 hex -> identity
    header_identity: bool = False
    development: bool = False

    def token_identity(self, token: str) -> str | None:
        """The identity whose token this is, compared in constant time, or None."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        found = None
        for known, identity in self.token_hashes.items():
            if hmac.compare_digest(known, digest):
                found = identity
        return found

    def check(self, caller: Caller, method: str, product_id: str | None = None) -> None:
        """Raise PermissionDeniedError unless `caller` may call `method` (for `product_id`)."""
        need = METHOD_PERMISSION[method]
        granted = set(self.permissions.get(caller.identity, frozenset()))
        if caller.identity != ANONYMOUS:
            granted |= self.permissions.get(EVERYONE, frozenset())
        if need in granted or (
            need == "quote" and product_id is not None and f"quote:{product_id}" in granted
        ):
            return
        what = f"{method} of {product_id!r}" if need == "quote" and product_id else method
        raise PermissionDeniedError(
            f"caller {caller.identity!r} may not call {what}",
            reason="PERMISSION_DENIED",
            caller=caller.identity,
            method=method,
        )


def development_policy() -> AccessPolicy:
    """Everyone may do everything, and x-caller-id names the caller: loopback only."""
    everything = frozenset(PERMISSIONS)
    return AccessPolicy(
        {ANONYMOUS: everything, EVERYONE: everything}, header_identity=True, development=True
    )


def _permission_set(identity: str, values: Any) -> frozenset[str]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise AccessConfigError(f"access.permissions.{identity}: must be a list of permissions")
    for value in values:
        base = str(value).split(":", 1)[0]
        if base not in PERMISSIONS or (":" in str(value) and base != "quote"):
            raise AccessConfigError(
                f"access.permissions.{identity}: unknown permission {value!r} "
                f"(one of {', '.join(PERMISSIONS)}, or quote:<product>)"
            )
    return frozenset(str(v) for v in values)


def from_table(table: Mapping[str, Any]) -> AccessPolicy:
    """The policy of an [access] table: `permissions` (identity -> list), `tokens`
    (identity -> SHA-256 hex of its bearer token), `header_identity` (bool)."""
    unknown = sorted(set(table) - {"permissions", "tokens", "header_identity"})
    if unknown:
        raise AccessConfigError(f"access: unknown settings {', '.join(unknown)}")
    permissions = {
        str(k): _permission_set(str(k), v) for k, v in dict(table.get("permissions", {})).items()
    }
    hashes: dict[str, str] = {}
    for identity, digest in dict(table.get("tokens", {})).items():
        text = str(digest).lower()
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise AccessConfigError(
                f"access.tokens.{identity}: must be the SHA-256 hex digest of the token "
                "(tokens are never stored in the clear)"
            )
        hashes[text] = str(identity)
    header = table.get("header_identity", False)
    if not isinstance(header, bool):
        raise AccessConfigError("access.header_identity: must be true or false")
    return AccessPolicy(permissions, hashes, header)
