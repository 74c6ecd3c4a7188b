"""Admission: how many calls of each kind may run at once, and how fast one caller may call.

Binding quotes and simulations have separate in-flight limits, so a burst of portfolio
simulations fills its own small allowance and never the binding one; reads have their
own. A call over a limit is refused at once (OverloadedError: RESOURCE_EXHAUSTED with a
retry delay), never queued: a queue only turns overload into timeouts. Per-caller rates
are token buckets, in a bounded table (the least recently seen caller is forgotten).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

KIND_OF: Final = {
    "CreateQuote": "binding",
    "SimulateQuotes": "simulation",
    "GetQuote": "read",
    "GetQuoteProof": "read",
    "ListProducts": "read",
    "DescribePolicy": "read",
    "ReloadPolicy": "read",
}
MAX_CALLERS: Final = 10_000  # rate-limit buckets kept


class OverloadedError(Exception):
    """Refused by a limit; `retry_after_s` is when trying again makes sense."""

    def __init__(self, message: str, *, reason: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """The limits, from the config; 0 means no limit."""

    binding_in_flight: int = 64
    simulations_in_flight: int = 2
    reads_in_flight: int = 64
    caller_rate_per_s: float = 0.0
    caller_burst: int = 50


class _InFlight:
    def __init__(self, kind: str, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        self.now = 0
        self.rejected = 0
        self._lock = threading.Lock()

    @contextmanager
    def admit(self) -> Iterator[None]:
        with self._lock:
            if self.limit and self.now >= self.limit:
                self.rejected += 1
                raise OverloadedError(
                    f"{self.now} {self.kind} calls in flight, the most this server takes",
                    reason="TOO_MANY_IN_FLIGHT",
                    retry_after_s=1.0 if self.kind != "simulation" else 5.0,
                )
            self.now += 1
        try:
            yield
        finally:
            with self._lock:
                self.now -= 1


class TokenBuckets:
    """Token buckets per caller: `rate` tokens a second up to `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, caller: str) -> None:
        """Take one of the caller's tokens, or raise OverloadedError; rate 0: no limit."""
        if self.rate <= 0:
            return
        short = self._take(caller)
        if short > 0:
            raise OverloadedError(
                f"caller {caller!r} is over its rate of {self.rate:g} calls a second",
                reason="CALLER_RATE_EXCEEDED",
                retry_after_s=short / self.rate,
            )

    def try_take(self, caller: str) -> bool:
        """Take one of the caller's tokens if it has one (rate must be > 0); never raises."""
        return self._take(caller) == 0

    def _take(self, caller: str) -> float:
        """0 when a token was taken, else how much of one the caller is short."""
        now = self.clock()
        with self._lock:
            tokens, then = self._tokens.pop(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1:
                self._tokens[caller] = (tokens, now)
                return 1 - tokens
            self._tokens[caller] = (tokens - 1, now)
            if len(self._tokens) > MAX_CALLERS:
                self._tokens.popitem(last=False)
            return 0


class Admission:
    """The in-flight limits by kind of call and the per-caller rate."""

    def __init__(
        self, settings: LimitSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.in_flight = {
            "binding": _InFlight("binding", settings.binding_in_flight),
            "simulation": _InFlight("simulation", settings.simulations_in_flight),
            "read": _InFlight("read", settings.reads_in_flight),
        }
        self.rates = TokenBuckets(settings.caller_rate_per_s, settings.caller_burst, clock)

    @contextmanager
    def admit(self, method: str, caller: str) -> Iterator[None]:
        """Run the call inside its kind's limit, or raise OverloadedError at once."""
        self.rates.take(caller)
        with self.in_flight[KIND_OF[method]].admit():
            yield
