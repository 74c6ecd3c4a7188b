"""Bounded retries with exponential backoff and full jitter, for idempotent calls only.

Only UNAVAILABLE and DEADLINE_EXCEEDED are retried: both mean "the server may not
have acted, or acted and the reply was lost". That is safe exactly when acting twice
equals acting once, so the caller says per call whether it is idempotent; every
other status is an answer, and repeating the question would get the same answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from ecoloan_client.errors import PricingClientError, error_from_rpc

__all__ = ["RETRYABLE_CODES", "Backoff", "call_with_retry"]

T = TypeVar("T")

RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
"""Status codes after which an idempotent call is tried again."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter (the AWS Architecture Blog's "full jitter").

    Before retry n (1-based) the client sleeps a uniform random time in
    [0, min(maximum, initial x multiplier^(n-1))]. Full jitter spreads the retries of
    many clients that failed together (a restarting server), so they do not return
    in lock-step. A server's RetryInfo delay, when given, is a lower bound (still
    capped by `maximum`): the server knows when it expects to recover.
    """

    initial: float = 0.1
    """Cap of the first sleep, seconds."""
    multiplier: float = 2.0
    """Growth of the cap per retry."""
    maximum: float = 2.0
    """Largest sleep, seconds, whatever the retry number or the server's hint."""

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0 or self.multiplier < 1:
            raise ValueError("backoff needs initial >= 0, maximum >= 0 and multiplier >= 1")

    def cap(self, retry: int) -> float:
        """The upper bound of the sleep before retry number `retry` (1-based)."""
        return min(self.maximum, self.initial * self.multiplier ** (retry - 1))

    def delay(self, retry: int, rng: random.Random, server_hint: float | None = None) -> float:
        """The sleep before retry number `retry`, honouring the server's hint up to `maximum`."""
        jittered = rng.uniform(0.0, self.cap(retry))
        if server_hint is not None:
            jittered = max(jittered, min(server_hint, self.maximum))
        return jittered


def call_with_retry(
    attempt: Callable[[], T],
    *,
    idempotent: bool,
    max_attempts: int,
    backoff: Backoff,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> T:
    """Run `attempt` (one RPC with its own deadline) until it succeeds or must stop.

    Raises the typed PricingClientError of the last failure, with `attempts` set.
    A non-idempotent call is tried exactly once.
    """
    limit = max_attempts if idempotent else 1
    tried = 0
    while True:
        tried += 1
        try:
            return attempt()
        except grpc.RpcError as exc:
            error: PricingClientError = error_from_rpc(exc, attempts=tried)
            if tried >= limit or error.code not in RETRYABLE_CODES:
                raise error from exc
            pause = backoff.delay(tried, rng, error.retry_delay)
        # Sleep outside the except block so the failed call's traceback is released.
        sleep(pause)
