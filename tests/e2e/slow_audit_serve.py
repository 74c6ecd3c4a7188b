"""`pricing-service serve` with every audit write held for a while: a slow disk, on purpose.

The e2e SIGTERM test needs CreateQuote calls that are provably in flight when the
signal arrives. Pricing takes microseconds, so this launcher wraps the quote service's
audit sink: each record is submitted to the real sink, a log line
with event "e2e_audit_held" goes to stderr, and the reply is released
E2E_AUDIT_DELAY_SECONDS later. Everything else, signal handling included, is the
real `pricing_service.cli.serve.main`.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future
from typing import Any

import structlog

from pricing_service.audit.sink import AuditEvent, AuditPosition, AuditSink
from pricing_service.bootstrap import Components
from pricing_service.bootstrap import build_components as real_build_components
from pricing_service.cli import serve
from pricing_service.config import ServiceConfig

DELAY = float(os.environ.get("E2E_AUDIT_DELAY_SECONDS", "1.0"))


class HeldSink:
    """Delegates to the real sink, then holds each acknowledgement for DELAY seconds."""

    def __init__(self, inner: AuditSink) -> None:
        self.inner = inner

    def register_policy(self, digest: str, canonical: bytes) -> None:
        self.inner.register_policy(digest, canonical)

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        held: Future[AuditPosition] = Future()

        def release(done: Future[AuditPosition]) -> None:
            def settle() -> None:
                error = done.exception()
                if error is not None:
                    held.set_exception(error)
                else:
                    held.set_result(done.result())

            timer = threading.Timer(DELAY, settle)
            timer.daemon = True
            timer.start()

        self.inner.submit(event).add_done_callback(release)
        # Through structlog, whose writer lock keeps this line whole among the server's.
        structlog.get_logger("e2e").info("e2e_audit_held", kind=event.kind)
        return held

    def close(self) -> None:
        self.inner.close()


def build_components(config: ServiceConfig, **kwargs: Any) -> Components:
    components = real_build_components(config, **kwargs)
    components.service.sink = HeldSink(components.service.sink)
    return components


if __name__ == "__main__":
    serve.build_components = build_components  # type: ignore[attr-defined]
    sys.exit(serve.main(sys.argv[1:]))
