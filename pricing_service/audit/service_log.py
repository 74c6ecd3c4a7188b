"""Opens the server's durable audit log: the sink, the proof source, start-up restore."""

from __future__ import annotations

import json
from dataclasses import dataclass

import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf import json_format

from pricing_service.api import convert
from pricing_service.api.quoting import QuoteService, position_pb
from pricing_service.audit import errors as audit_errors
from pricing_service.audit.reader import iter_records
from pricing_service.audit.sink import AuditUnavailableError
from pricing_service.audit.writer import AuditLogConfig, DurableAuditLog
from pricing_service.config import ServiceConfig
from pricing_service.domain.errors import FieldViolation, InvalidRequestError, QuoteNotFoundError

log = structlog.get_logger("pricing_service.audit")
CHECKPOINT_WAIT_SECONDS = 2.0


class LogQuotes:
    """GetQuote and GetQuoteProof answered from the durable log."""

    def __init__(self, audit_log: DurableAuditLog) -> None:
        self.log = audit_log

    def find(self, quote_id: str) -> pb.CreateQuoteResponse | None:
        """A quote logged by this or an earlier run, with its position."""
        position = self.log.position_of(quote_id)
        if position is None:
            return None
        record = json.loads(self.log.read_record(position.sequence))
        quote = json_format.ParseDict(record["response"], pb.Quote())
        return pb.CreateQuoteResponse(quote=quote, audit_position=position_pb(position))

    def quote_proof(self, quote_id: str) -> pb.GetQuoteProofResponse:
        """Inclusion proof of the quote's record against the latest signed checkpoint."""
        if not convert.valid_quote_id(quote_id):
            raise InvalidRequestError(
                [FieldViolation("quote_id", "must look like q_ followed by 32 hex digits")]
            )
        try:
            try:
                result = self.log.prove_quote(quote_id)
            except audit_errors.NotYetCheckpointedError:
                # The reply to CreateQuote can precede the batch's checkpoint by a moment.
                self.log.checkpoint(timeout=CHECKPOINT_WAIT_SECONDS)
                result = self.log.prove_quote(quote_id)
        except audit_errors.QuoteNotFoundError as exc:
            raise QuoteNotFoundError(quote_id) from exc
        except audit_errors.NotYetCheckpointedError as exc:
            raise AuditUnavailableError(str(exc)) from exc
        return pb.GetQuoteProofResponse(
            audit_position=position_pb(result.position),
            checkpoint=result.checkpoint,
            tree_size=result.tree_size,
            inclusion_proof=list(result.proof),
            record=result.record,
        )


@dataclass
class OpenedLog:
    """The audit log as the server uses it."""

    sink: DurableAuditLog
    proofs: LogQuotes

    def restore(self, service: QuoteService) -> None:
        """Re-arm idempotency for the request ids of quotes logged by earlier runs."""
        service.lookup = self.proofs
        restored = 0
        for record in iter_records(self.sink.directory):
            data = record.data
            request = data.get("request") or {}
            if data.get("kind") != "quote" or not request.get("request_id"):
                continue
            effective = json_format.ParseDict(request, pb.CreateQuoteRequest())
            service.restore_request_id(effective, data["response"]["quote_id"])
            restored += 1
        log.info("audit_restored", log_size=self.sink.size, request_ids=restored)


def open_service_log(config: ServiceConfig) -> OpenedLog:
    """Open (or create, or recover) the durable audit log configured in `config`."""
    audit_log = DurableAuditLog(
        AuditLogConfig(
            directory=config.audit_dir,
            origin=config.audit_origin,
            signer_key_file=config.audit_signer_key,
            fsync=config.audit_fsync,
            segment_max_bytes=config.audit_segment_max_bytes,
            checkpoint_interval_ms=config.audit_checkpoint_interval_ms,
        )
    )
    if not config.audit_fsync:
        log.warning("audit_fsync_off", detail="UNSAFE: an OS crash can lose acknowledged quotes")
    log.info(
        "audit_open", directory=str(config.audit_dir), size=audit_log.size, vkey=audit_log.vkey
    )
    return OpenedLog(audit_log, LogQuotes(audit_log))
