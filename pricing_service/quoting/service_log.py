"""Opens the server's durable audit log: the quote lookup, the proof source, start-up restore."""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from pricing_service.audit import errors as audit_errors
from pricing_service.audit.keys import default_key_file, service_signer
from pricing_service.audit.prove import InclusionProofResult
from pricing_service.audit.reader import iter_records
from pricing_service.audit.request_index import CATCH_UP_MARGIN, RequestIndex
from pricing_service.audit.sink import AuditUnavailableError
from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog
from pricing_service.config import ServiceConfig
from pricing_service.domain.errors import QuoteNotFoundError
from pricing_service.quoting.documents import require_quote_id
from pricing_service.quoting.idempotency import DEFAULT_WINDOW, RecentIds, Used
from pricing_service.quoting.incoming import IncomingQuote
from pricing_service.quoting.service import QuoteService, StoredQuote

Decode = Callable[[Mapping[str, Any]], IncomingQuote]
log = structlog.get_logger("pricing_service.audit")
CHECKPOINT_WAIT_SECONDS = 2.0


class LogQuotes:
    """GetQuote and GetQuoteProof answered from the durable log."""

    def __init__(self, audit_log: DurableAuditLog) -> None:
        self.log = audit_log

    def find(self, quote_id: str) -> StoredQuote | None:
        """A quote logged by this or an earlier run, with its position."""
        position = self.log.position_of(quote_id)
        if position is None:
            return None
        return StoredQuote.from_record(self.log.read_record(position.sequence), position)

    def quote_proof(self, quote_id: str) -> InclusionProofResult:
        """Inclusion proof of the quote's record against the latest signed checkpoint."""
        require_quote_id(quote_id)
        try:
            try:
                return self.log.prove_quote(quote_id)
            except audit_errors.NotYetCheckpointedError:
                # The reply to CreateQuote can precede the batch's checkpoint by a moment.
                self.log.checkpoint(timeout=CHECKPOINT_WAIT_SECONDS)
                return self.log.prove_quote(quote_id)
        except audit_errors.QuoteNotFoundError as exc:
            raise QuoteNotFoundError(quote_id) from exc
        except audit_errors.NotYetCheckpointedError as exc:
            raise AuditUnavailableError(str(exc)) from exc


class IndexedIds:
    """The log's request-id index as the service's UsedIdStore."""

    def __init__(self, index: RequestIndex) -> None:
        self.index = index

    def get(self, request_id: str) -> Used | None:
        row = self.index.get(request_id)
        if row is None:
            return None
        quote_id, packed = row
        return Used(quote_id, tuple(struct.unpack(f">{len(packed) // 8}Q", packed)))

    def put(self, request_id: str, used: Used, seq: int) -> None:
        self.index.put_later(_row(request_id, used, seq))


def _row(request_id: str, used: Used, seq: int) -> tuple[str, str, bytes, int]:
    return request_id, used.quote_id, struct.pack(f">{len(used.prints)}Q", *used.prints), seq


@dataclass
class OpenedLog:
    """The audit log as the server uses it."""

    sink: DurableAuditLog
    proofs: LogQuotes
    index: RequestIndex | None = None

    def restore(self, service: QuoteService, decode: Decode, window: int = DEFAULT_WINDOW) -> None:
        """Give the service the idempotency window, backed by the request-id index, after
        indexing the records the index does not hold yet (all of them, the first time).

        `decode` reads a recorded request document back (the transport's own reader)."""
        service.lookup = self.proofs
        index = RequestIndex(self.sink.directory)
        if index.moved_aside is not None:
            log.warning("request_index_rebuilt", damaged=str(index.moved_aside))
        # Rows were flushed in the order calls completed, which may trail the log's order
        # by the calls in flight: re-read a margin below the highest (idempotent).
        start = max(0, index.last_seq() + 1 - CATCH_UP_MARGIN)
        rows = []
        for record in iter_records(self.sink.directory, start_seq=start):
            request = record.record.request
            # Only quotes bind a request id: a denial or refusal under an id leaves it free,
            # so a permitted caller retrying a denied id still gets priced.
            if record.record.kind != "quote" or request is None or not request.get("request_id"):
                continue
            used = service.used_of(decode(request), record.record.quote_id)
            rows.append(_row(request["request_id"], used, record.seq))
            if len(rows) >= 10_000:
                index.put_many(rows)
                rows = []
        index.put_many(rows)
        service.ids = RecentIds(window, store=IndexedIds(index))
        self.index = index
        log.info(
            "audit_restored", log_size=self.sink.size, request_ids=len(index), indexed_from=start
        )


def open_service_log(config: ServiceConfig) -> OpenedLog:
    """Open (or create, or recover) the durable audit log configured in `config`.

    The signing key is `audit_signer_key`, by default `<audit_dir>-keys/audit.skey`:
    outside the log, private (a key others may read stops start-up)."""
    key_file = config.audit_signer_key or default_key_file(config.audit_dir)
    signer, key_file = service_signer(config.audit_dir, config.audit_origin, key_file)
    audit_log = DurableAuditLog(
        AuditLogConfig(
            directory=config.audit_dir,
            origin=config.audit_origin,
            signer_key_file=key_file,
            fsync=config.audit_fsync,
            segment_max_bytes=config.audit_segment_max_bytes,
            checkpoint_interval_ms=config.audit_checkpoint_interval_ms,
            replica=config.replica_id or None,
        ),
        signer=signer,
    )
    if not config.audit_fsync:
        log.warning("audit_fsync_off", detail="UNSAFE: an OS crash can lose acknowledged quotes")
    log.info(
        "audit_open", directory=str(config.audit_dir), size=audit_log.size, vkey=audit_log.vkey
    )
    return OpenedLog(audit_log, LogQuotes(audit_log))
