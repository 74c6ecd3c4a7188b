"""Opens the PostgreSQL audit log for a replica: its sink, quote lookup, proofs and ids.

Every replica of a deployment opens the same database and signs with the same key (one
global log, what auditors want). Request ids are bound by the database itself, so the
replica's in-memory idempotency window is only a cache in front of it: a retry that lands
on another replica finds the id in the database (`PgIds`), and two replicas racing on one
id are decided by the sequencing transaction (`DuplicateRequestError`, handled by the
service).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from pricing_service.audit import errors as audit_errors
from pricing_service.audit.keys import check_private, load_signer
from pricing_service.audit.pgstore.schema import migrate
from pricing_service.audit.pgstore.store import PgAuditLog
from pricing_service.audit.prove import InclusionProofResult
from pricing_service.audit.sink import AuditUnavailableError
from pricing_service.config import ServiceConfig
from pricing_service.domain.errors import QuoteNotFoundError
from pricing_service.quoting.documents import require_quote_id
from pricing_service.quoting.idempotency import DEFAULT_WINDOW, RecentIds, Used
from pricing_service.quoting.incoming import IncomingQuote
from pricing_service.quoting.service import QuoteService, StoredQuote

Decode = Callable[[Mapping[str, Any]], IncomingQuote]
log = structlog.get_logger("pricing_service.audit")


class PgQuotes:
    """GetQuote and GetQuoteProof answered from the database, whichever replica logged."""

    def __init__(self, store: PgAuditLog) -> None:
        self.store = store

    def find(self, quote_id: str) -> StoredQuote | None:
        """The logged quote and its position, or None."""
        found = self.store.find_quote(quote_id)
        return None if found is None else StoredQuote.from_record(*found)

    def quote_proof(self, quote_id: str) -> InclusionProofResult:
        """Inclusion proof of the quote's record against the newest signed checkpoint."""
        require_quote_id(quote_id)
        try:
            return self.store.prove_quote(quote_id)
        except audit_errors.QuoteNotFoundError as exc:
            raise QuoteNotFoundError(quote_id) from exc
        except audit_errors.NotYetCheckpointedError as exc:  # pragma: no cover - signed at commit
            raise AuditUnavailableError(str(exc)) from exc


class PgIds:
    """The database's binding of request ids as the service's UsedIdStore."""

    def __init__(self, store: PgAuditLog) -> None:
        self.store = store

    def get(self, request_id: str) -> Used | None:
        """The quote bound to `request_id` by any replica, or None."""
        row = self.store.quote_of_request(request_id)
        return None if row is None else Used(row[0], row[1])

    def put(self, request_id: str, used: Used, seq: int) -> None:
        """Nothing to do: the record's own row binds the id."""


@dataclass
class OpenedPgLog:
    """The PostgreSQL audit log as the server uses it."""

    sink: PgAuditLog
    proofs: PgQuotes
    index: None = None

    def restore(self, service: QuoteService, _decode: Decode, window: int = DEFAULT_WINDOW) -> None:
        """Give the service its lookup and idempotency window over the database (no
        catch-up: the database is the index)."""
        service.lookup = self.proofs
        service.ids = RecentIds(window, store=PgIds(self.sink))
        log.info("audit_restored", store="postgresql", log_size=self.sink.size)


def open_pg_service_log(config: ServiceConfig) -> OpenedPgLog:
    """Join the PostgreSQL log at `audit_dsn` (applying migrations first when
    `audit_migrate_at_start`). Every replica signs with `audit_signer_key`, which must
    exist: generating one per replica would give the log several keys."""
    key_file = config.audit_signer_key
    if key_file is None or not key_file.exists():
        raise ValueError(
            "audit_dsn needs audit_signer_key, the log's one key file every replica shares "
            "(make one with `pricing audit keygen`)"
        )
    check_private(key_file)
    if config.audit_migrate_at_start:
        try:
            with psycopg.connect(config.audit_dsn, connect_timeout=10) as conn:
                done = migrate(conn)
        except psycopg.OperationalError as exc:
            raise AuditUnavailableError(f"the audit database is unavailable: {exc}") from exc
        log.info("audit_migrated", applied=done)
    store = PgAuditLog(
        config.audit_dsn,
        config.audit_origin,
        load_signer(key_file),
        checkpoint_interval_ms=config.audit_checkpoint_interval_ms,
        replica=config.replica_id or None,
    )
    log.info("audit_open", store="postgresql", size=store.size, vkey=store.vkey)
    return OpenedPgLog(store, PgQuotes(store))
