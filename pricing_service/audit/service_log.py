"""Opens the server's audit log: the sink, the proof source, and start-up restore."""

from __future__ import annotations

from dataclasses import dataclass

from pricing_service.api.proofs import ProofSource
from pricing_service.api.quoting import QuoteService
from pricing_service.audit.log_only import StructlogAuditSink
from pricing_service.audit.sink import AuditSink
from pricing_service.config import ServiceConfig


@dataclass
class OpenedLog:
    """The audit log as the server uses it."""

    sink: AuditSink
    proofs: ProofSource

    def restore(self, service: QuoteService) -> None:
        """Re-index the quotes already in the log into `service`."""


def open_service_log(config: ServiceConfig) -> OpenedLog:
    """Open (or create) the audit log configured in `config`."""
    from pricing_service.bootstrap import NoProofs  # noqa: PLC0415

    return OpenedLog(StructlogAuditSink(config.audit_origin), NoProofs())
