"""Errors of the audit log, one root type with context carried as attributes.

`AuditUnavailableError` (in `sink`) is deliberately *not* one of these: it is the seam's
contract with the API layer ("refuse the quote, retry later"), while these say something
about the log itself or a request made of it.
"""

from __future__ import annotations


class AuditLogError(Exception):
    """Root of the audit log's own errors."""


class RecordEncodingError(AuditLogError, ValueError):
    """An event cannot be rendered as a canonical record (a float, a non-string key...).

    A programming error in the caller, raised synchronously by `submit` so that it is
    never mistaken for a disk problem.
    """

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(f"{message} at {path}")
        self.path = path


class AuditLogCorruptError(AuditLogError):
    """The log on disk is not one the writer may continue (it would sign a fork).

    Raised at start when the segments disagree with a checkpoint the log signed, or a
    damaged record is not a torn tail. Run ``pricing audit verify`` to locate it.
    """


class AuditLogLockedError(AuditLogError):
    """Another process holds the log directory's writer lock."""


class PolicyArchiveError(AuditLogError):
    """A policy cannot be archived or read back (digest mismatch, bad digest)."""


class QuoteNotFoundError(AuditLogError, LookupError):
    """No binding quote with this id is in the log."""

    def __init__(self, quote_id: str) -> None:
        super().__init__(f"no quote {quote_id!r} in the audit log")
        self.quote_id = quote_id


class NotYetCheckpointedError(AuditLogError):
    """The record exists but no signed checkpoint covers it yet; retry shortly."""

    def __init__(self, sequence: int, checkpoint_size: int) -> None:
        super().__init__(
            f"record {sequence} is not yet covered by a signed checkpoint "
            f"(latest checkpoint size {checkpoint_size})"
        )
        self.sequence = sequence
        self.checkpoint_size = checkpoint_size


class ProofFormatError(AuditLogError, ValueError):
    """A proof file is not a well-formed proof document."""
