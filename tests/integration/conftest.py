"""A real sync server on 127.0.0.1, port 0, with its audit log in a temp dir, and a client.

The server runs with a fixed clock (2026-11-20 10:00 Beijing time) so that requests
without pricing_time, and ListProducts/DescribePolicy without as_of, are
deterministic. One server per test module keeps the suite fast; tests that need a
pristine server state use their own request ids.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from ecoloan_client import PricingClient
from live_support import FAST_BACKOFF, FIXED_NOW, LiveServer

from pricing_service.bootstrap import build_components, start_sync_server
from pricing_service.config import load_config


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real sync server (policies, audit log, servicers, health, reflection) on port 0."""
    audit_dir = tmp_path_factory.mktemp("audit")
    config = load_config(env={}, listen="127.0.0.1:0", audit_dir=str(audit_dir), grace_seconds=1)
    # The server logs through structlog, to stdout by default: in-process that would mix
    # with the output the CLI tests capture, so its lines go to a file beside the log.
    previous = structlog.get_config()
    with (audit_dir.parent / f"{audit_dir.name}-server.log").open("w") as log_file:
        structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=log_file))
        running = start_sync_server(build_components(config, clock=lambda: FIXED_NOW))
        try:
            yield LiveServer(running, f"127.0.0.1:{running.port}")
        finally:
            running.stop(grace=1)
            structlog.configure(**previous)


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[PricingClient]:
    """A PricingClient connected to the module's live server."""
    with PricingClient(
        live_server.target, default_timeout=5.0, backoff=FAST_BACKOFF, caller_id="pytest"
    ) as c:
        yield c
