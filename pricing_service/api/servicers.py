"""Thin gRPC servicers: parse, call the quote service, map errors. Sync and aio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc

from pricing_service.api.errors import status_for
from pricing_service.api.proofs import ProofSource
from pricing_service.api.quoting import QuoteService
from pricing_service.api.simulating import Simulator
from pricing_service.audit.sink import AuditUnavailableError
from pricing_service.config import DEFAULT_SIMULATE_MAX_LOANS

if TYPE_CHECKING:
    SyncContext = grpc.ServicerContext
    AioContext = grpc.aio.ServicerContext[Any, Any]

log = structlog.get_logger("pricing_service.api")
T = TypeVar("T")


def caller_of(context: SyncContext | AioContext) -> str:
    """Who called: the mTLS client certificate's subject when there is one, else the peer."""
    auth = context.auth_context()
    names = list(auth.get("x509_common_name") or auth.get("x509_subject_alternative_name") or [])
    peer = context.peer()
    if names and isinstance(names[0], bytes):
        return f"{names[0].decode()}@{peer}"
    for key, value in context.invocation_metadata() or ():
        if key == "x-caller-id" and isinstance(value, str):
            return f"{value[:64]}@{peer}"
    return f"anonymous@{peer}"


def _abort(context: SyncContext, exc: BaseException) -> None:
    status = status_for(exc)
    if status.code is grpc.StatusCode.INTERNAL:
        log.exception("unexpected_error")
    context.abort_with_status(status)


def _answered(context: SyncContext, call: Callable[[], T]) -> T:
    """Run one RPC's work; any exception becomes its mapped status (never UNKNOWN)."""
    try:
        return call()
    except Exception as exc:
        _abort(context, exc)
        raise  # pragma: no cover - abort raised already


def _bind_simulation(response: pb.SimulateQuotesResponse) -> None:
    """Outcome fields of the RPC's canonical log line (the interceptor writes it)."""
    priced = sum(1 for r in response.results if r.HasField("quote"))
    structlog.contextvars.bind_contextvars(loans=len(response.results), priced=priced)
    if response.draft_policy_digest:
        structlog.contextvars.bind_contextvars(draft_policy_digest=response.draft_policy_digest)


class PricingServicer(pb_grpc.PricingServiceServicer):
    """The sync servicer: each handler blocks its pool thread until the audit write."""

    def __init__(
        self,
        service: QuoteService,
        proofs: ProofSource,
        *,
        max_simulated_loans: int = DEFAULT_SIMULATE_MAX_LOANS,
    ) -> None:
        self.service = service
        self.proofs = proofs
        self.simulator = Simulator(service.policies, service.clock, max_loans=max_simulated_loans)

    def CreateQuote(
        self, request: pb.CreateQuoteRequest, context: SyncContext
    ) -> pb.CreateQuoteResponse:
        response = _answered(
            context, lambda: self.service.create_quote(request, caller_of(context))
        )
        structlog.contextvars.bind_contextvars(
            quote_id=response.quote.quote_id, annual_rate=response.quote.annual_rate
        )
        return response

    def GetQuote(self, request: pb.GetQuoteRequest, context: SyncContext) -> pb.GetQuoteResponse:
        return _answered(context, lambda: self.service.get_quote(request.quote_id))

    def ListProducts(
        self, request: pb.ListProductsRequest, context: SyncContext
    ) -> pb.ListProductsResponse:
        return _answered(context, lambda: self.service.list_products(request))

    def DescribePolicy(
        self, request: pb.DescribePolicyRequest, context: SyncContext
    ) -> pb.DescribePolicyResponse:
        return _answered(context, lambda: self.service.describe_policy(request))

    def GetQuoteProof(
        self, request: pb.GetQuoteProofRequest, context: SyncContext
    ) -> pb.GetQuoteProofResponse:
        return _answered(context, lambda: self.proofs.quote_proof(request.quote_id))

    def SimulateQuotes(
        self, request: pb.SimulateQuotesRequest, context: SyncContext
    ) -> pb.SimulateQuotesResponse:
        response = _answered(context, lambda: self.simulator.simulate(request))
        _bind_simulation(response)
        return response


class AioPricingServicer(pb_grpc.PricingServiceServicer):
    """The grpc.aio servicer: pricing runs on the loop, the audit wait is awaited."""

    def __init__(
        self,
        service: QuoteService,
        proofs: ProofSource,
        *,
        max_simulated_loans: int = DEFAULT_SIMULATE_MAX_LOANS,
    ) -> None:
        self.service = service
        self.proofs = proofs
        self.simulator = Simulator(service.policies, service.clock, max_loans=max_simulated_loans)

    async def _answered(self, context: AioContext, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as exc:
            await self._fail(context, exc)
            raise  # pragma: no cover - abort raised already

    async def _fail(self, context: AioContext, exc: BaseException) -> None:
        status = status_for(exc)
        if status.code is grpc.StatusCode.INTERNAL:
            log.exception("unexpected_error")
        await context.abort(status.code, status.details, status.trailing_metadata)

    async def CreateQuote(
        self, request: pb.CreateQuoteRequest, context: AioContext
    ) -> pb.CreateQuoteResponse:
        try:
            retry = self.service.retry_answer(request)
            if retry is not None:
                return await asyncio.wrap_future(retry)
            try:
                pending = self.service.begin_create(request, caller_of(context))
                try:
                    position = await asyncio.wrap_future(pending.future)
                except AuditUnavailableError as exc:
                    raise pending.fail(exc) from None
                return pending.finish(position)
            except BaseException as exc:
                self.service.abandon(request, exc)
                raise
        except Exception as exc:
            await self._fail(context, exc)
            raise  # pragma: no cover

    async def GetQuote(
        self, request: pb.GetQuoteRequest, context: AioContext
    ) -> pb.GetQuoteResponse:
        return await self._answered(context, lambda: self.service.get_quote(request.quote_id))

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: AioContext
    ) -> pb.ListProductsResponse:
        return await self._answered(context, lambda: self.service.list_products(request))

    async def DescribePolicy(
        self, request: pb.DescribePolicyRequest, context: AioContext
    ) -> pb.DescribePolicyResponse:
        return await self._answered(context, lambda: self.service.describe_policy(request))

    async def GetQuoteProof(
        self, request: pb.GetQuoteProofRequest, context: AioContext
    ) -> pb.GetQuoteProofResponse:
        return await self._answered(context, lambda: self.proofs.quote_proof(request.quote_id))

    async def SimulateQuotes(
        self, request: pb.SimulateQuotesRequest, context: AioContext
    ) -> pb.SimulateQuotesResponse:
        try:
            # A full batch prices for seconds: off the loop, so the server's other
            # RPCs are answered meanwhile.
            response = await asyncio.to_thread(self.simulator.simulate, request)
        except Exception as exc:
            await self._fail(context, exc)
            raise  # pragma: no cover
        _bind_simulation(response)
        return response
