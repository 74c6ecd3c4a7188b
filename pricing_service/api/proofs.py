"""Where GetQuoteProof gets its proofs: the audit log's prover."""

from __future__ import annotations

from typing import Protocol

from ecoloan.pricing.v1 import pricing_service_pb2 as pb


class ProofSource(Protocol):
    """Answers GetQuoteProof for a quote id."""

    def quote_proof(self, quote_id: str) -> pb.GetQuoteProofResponse:
        """The inclusion proof of the quote's record against the latest checkpoint."""
