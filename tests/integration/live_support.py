"""Constants and types shared by the integration tests (imported as a plain module).

Kept out of conftest.py because several test directories have a conftest.py, and
`import conftest` would resolve to whichever one was loaded last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ecoloan_client import Backoff

from pricing_service.bootstrap import SyncServer

# 2026-11-20 10:00 Beijing time: the 2025-05-20 LPR fixing (1Y 3.00 %, 5Y+ 3.50 %) is in force.
FIXED_NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

# Short backoff so retry paths cost milliseconds, not seconds.
FAST_BACKOFF = Backoff(initial=0.01, multiplier=2.0, maximum=0.05)


@dataclass
class LiveServer:
    """A started server and the address to reach it."""

    running: SyncServer
    target: str
