"""Where GetQuoteProof gets its proofs: the audit log's prover."""

from __future__ import annotations

from typing import Protocol

from pricing_service.audit.prove import InclusionProofResult


class ProofSource(Protocol):
    """Answers GetQuoteProof for a quote id."""

    def quote_proof(self, quote_id: str) -> InclusionProofResult:
        """The inclusion proof of the quote's record against the latest checkpoint."""
