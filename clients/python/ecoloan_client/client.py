"""The blocking client of ecoloan.pricing.v1.PricingService.

Every call carries a deadline. Retries (bounded, exponential backoff with jitter)
happen only where the contract makes a repeat harmless: the read RPCs and
SimulateQuotes (it changes nothing) always, and CreateQuote only when the request
carries a request_id, because the server answers a repeated request_id + request
with the quote it already gave. A CreateQuote without request_id is tried exactly
once: a retry after a lost reply could book a second binding quote.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ecoloan_client.builders import timestamp
from ecoloan_client.errors import DataLoss, Unimplemented
from ecoloan_client.retry import Backoff, call_with_retry
from ecoloan_client.simulation import Simulation, simulation_from_pb

__all__ = ["DEFAULT_TARGET", "MAX_RECEIVE_MESSAGE_BYTES", "SERVICE_NAME", "PricingClient"]

T = TypeVar("T")

DEFAULT_TARGET = "127.0.0.1:50051"
SERVICE_NAME = "ecoloan.pricing.v1.PricingService"
"""The fully qualified service name, as health checks and reflection know it."""

AsOf = datetime | str | Timestamp | None

MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024
"""The largest reply the client's own channel accepts. gRPC's default is 4 MiB, and a
SimulateQuotes reply is about 1 KB a loan: 10,000 loans come to 10-12 MB."""
_MAX_RECEIVE_OPTION = "grpc.max_receive_message_length"


def _as_of(value: AsOf) -> Timestamp | None:
    if value is None or isinstance(value, Timestamp):
        return value
    return timestamp(value)


class PricingClient:
    """A connection to the pricing service; use as a context manager to close it.

    Args:
        target: "host:port" of the server (any gRPC target string).
        credentials: channel credentials for TLS or mTLS
            (`grpc.ssl_channel_credentials(...)`); None for plaintext.
        default_timeout: deadline in seconds of each attempt when a call gives none.
        max_attempts: attempts of a retryable call, the first one included (>= 1).
        backoff: the sleep schedule between attempts.
        caller_id: sent as `x-caller-id` metadata; the audit log records it when the
            channel has no client certificate.
        options: extra gRPC channel options. Unless they set
            grpc.max_receive_message_length, the channel accepts replies up to
            MAX_RECEIVE_MESSAGE_BYTES, so that large simulations fit.
        channel: use this channel instead of opening one (tests, interceptors);
            the client then does not close it.
        sleep, rng: injectable for tests; the defaults are `time.sleep` and a
            private `random.Random`.

    A call's `timeout` bounds each attempt, so a retried call may take up to
    about max_attempts x timeout + the backoff sleeps (at most `backoff.maximum`
    each) before it raises.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        default_timeout: float = 5.0,
        max_attempts: int = 4,
        backoff: Backoff | None = None,
        caller_id: str | None = None,
        options: Sequence[tuple[str, Any]] = (),
        channel: grpc.Channel | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if default_timeout <= 0:
            raise ValueError("default_timeout must be > 0 seconds")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.target = target
        self.default_timeout = default_timeout
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self._metadata: tuple[tuple[str, str], ...] = (
            (("x-caller-id", caller_id),) if caller_id else ()
        )
        self._owns_channel = channel is None
        if channel is None:
            opts = list(options)
            if all(name != _MAX_RECEIVE_OPTION for name, _ in opts):
                opts.append((_MAX_RECEIVE_OPTION, MAX_RECEIVE_MESSAGE_BYTES))
            channel = (
                grpc.secure_channel(target, credentials, options=opts)
                if credentials is not None
                else grpc.insecure_channel(target, options=opts)
            )
        self._channel = channel
        self._stub = pb_grpc.PricingServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Close the channel (unless it was passed in); in-flight calls are cancelled."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- calls ---------------------------------------------------------------

    def _call(
        self,
        method: Callable[..., T],
        request: object,
        *,
        timeout: float | None,
        idempotent: bool,
    ) -> T:
        deadline = self.default_timeout if timeout is None else timeout
        if deadline <= 0:
            raise ValueError("timeout must be > 0 seconds")
        return call_with_retry(
            lambda: method(request, timeout=deadline, metadata=self._metadata),
            idempotent=idempotent,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            sleep=self._sleep,
            rng=self._rng,
        )

    def create_quote(
        self, request: pb.CreateQuoteRequest, *, timeout: float | None = None
    ) -> pb.CreateQuoteResponse:
        """Create a binding quote (audit-logged before the reply).

        Always sent with a request_id: the caller's, or one generated here when it gave
        none (the quote then echoes it). So a retry after UNAVAILABLE/DEADLINE_EXCEEDED
        can never mint a second binding quote: the server answers a retry with the first
        one. A call that timed out may still have made its quote; retry it (same
        request_id) to learn which. Raises the typed PricingClientError subclass.
        """
        if not request.request_id:
            with_id = pb.CreateQuoteRequest()
            with_id.CopyFrom(request)
            with_id.request_id = f"py-{uuid.uuid4()}"
            request = with_id
        return self._call(self._stub.CreateQuote, request, timeout=timeout, idempotent=True)

    def reload_policy(self, *, timeout: float | None = None) -> pb.ReloadPolicyResponse:
        """Ask the server to reload its policy files (callers with the reload permission).

        FailedPrecondition (reason POLICY_INVALID, every problem in the message) when a
        file is invalid: the policies in force keep serving. Not retried.
        """
        return self._call(
            self._stub.ReloadPolicy, pb.ReloadPolicyRequest(), timeout=timeout, idempotent=False
        )

    def get_quote(self, quote_id: str, *, timeout: float | None = None) -> pb.GetQuoteResponse:
        """A binding quote by id, with its audit position (NotFound if unknown)."""
        return self._call(
            self._stub.GetQuote,
            pb.GetQuoteRequest(quote_id=quote_id),
            timeout=timeout,
            idempotent=True,
        )

    def get_quote_proof(
        self, quote_id: str, *, timeout: float | None = None
    ) -> pb.GetQuoteProofResponse:
        """The inclusion proof of a quote's audit record against the latest checkpoint.

        Unavailable (retried) while no checkpoint covers the record yet.
        """
        return self._call(
            self._stub.GetQuoteProof,
            pb.GetQuoteProofRequest(quote_id=quote_id),
            timeout=timeout,
            idempotent=True,
        )

    def list_products(
        self, as_of: AsOf = None, *, timeout: float | None = None
    ) -> pb.ListProductsResponse:
        """The products of the policy in force at `as_of` (now when None)."""
        request = pb.ListProductsRequest()
        when = _as_of(as_of)
        if when is not None:
            request.as_of.CopyFrom(when)
        return self._call(self._stub.ListProducts, request, timeout=timeout, idempotent=True)

    def describe_policy(
        self, as_of: AsOf = None, *, timeout: float | None = None
    ) -> pb.DescribePolicyResponse:
        """The policy in force at `as_of` (now when None) and its LPR fixings in force."""
        request = pb.DescribePolicyRequest()
        when = _as_of(as_of)
        if when is not None:
            request.as_of.CopyFrom(when)
        return self._call(self._stub.DescribePolicy, request, timeout=timeout, idempotent=True)

    def live_policy_document(self, *, timeout: float | None = None) -> tuple[bytes, str]:
        """The canonical document of the policy in force now, and its digest.

        The document is checked to hash (SHA-256) to the digest the server names, so
        what a tool prices with locally is byte for byte the version the server
        prices with. Raises DataLoss when it does not, Unimplemented when the server
        predates DescribePolicyResponse.policy_document.
        """
        response = self.describe_policy(timeout=timeout)
        document = response.policy_document
        if not document:
            raise Unimplemented(
                grpc.StatusCode.UNIMPLEMENTED,
                "the server's DescribePolicy sends no policy_document (it predates the field)",
            )
        actual = hashlib.sha256(document).hexdigest()
        if actual != response.policy_digest:
            raise DataLoss(
                grpc.StatusCode.DATA_LOSS,
                f"policy_document hashes to {actual}, not to policy_digest "
                f"{response.policy_digest}",
            )
        return document, response.policy_digest

    def simulate_quotes(
        self,
        loans: Iterable[pb.CreateQuoteRequest],
        draft_policy: bytes | None = None,
        *,
        timeout: float | None = None,
    ) -> Simulation:
        """Price loans INDICATIVELY: nothing binds, nothing is logged, no quote ids.

        Each loan is priced as CreateQuote would price it, under the policy in force at
        its pricing_time, or under `draft_policy` (a policy document, TOML or canonical
        JSON) for every loan. request_id is ignored. One bad loan does not fail the
        call: its LoanResult carries the error CreateQuote would raise. Raises
        InvalidArgument for more loans than the server's limit (10,000 by default) or
        a draft that fails validation (one field violation on draft_policy per
        problem). Retried on UNAVAILABLE/DEADLINE_EXCEEDED: a repeat changes nothing.
        A full batch takes seconds to price: give it a `timeout` to match.
        """
        request = pb.SimulateQuotesRequest(loans=list(loans), draft_policy=draft_policy or b"")
        response = self._call(self._stub.SimulateQuotes, request, timeout=timeout, idempotent=True)
        if len(response.results) != len(request.loans):
            # Results match loans by position only: a short reply would misattribute.
            raise DataLoss(
                grpc.StatusCode.DATA_LOSS,
                f"{len(response.results)} results for {len(request.loans)} loans",
            )
        return simulation_from_pb(response)

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The server's gRPC health status name: "SERVING", "NOT_SERVING", ...

        `service` "" asks about the server as a whole; SERVICE_NAME about the pricing
        service. Raises Unavailable when the server cannot be reached.
        """
        response = self._call(
            self._health.Check,
            health_pb2.HealthCheckRequest(service=service),
            timeout=timeout,
            idempotent=True,
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
