"""The gRPC servicer: each RPC once, in `RpcCore`; a sync shell and an aio shell only wait.

The two server modes used to carry two copies of CreateQuote, and they drifted (the
aio one never put the quote id and rate on the RPC's log line). Now both shells run
one table of methods: decode the request bytes, call the same core method, bind the
same log fields before and after, map errors through the same table. What differs is
only how they wait for the audit log (block a pool thread, or await on the loop), and
that aio runs a simulation batch in a thread so the loop keeps answering.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf.message import DecodeError, Message

from pricing_service.api import convert
from pricing_service.api.errors import status_for
from pricing_service.api.identity import identify
from pricing_service.api.incoming import PbIncoming
from pricing_service.api.metrics import Metrics
from pricing_service.api.proofs import ProofSource
from pricing_service.api.simulating import Simulator
from pricing_service.api.simulation_pool import Serialized, SimulationPool, outcome
from pricing_service.config import DEFAULT_SIMULATE_MAX_LOANS
from pricing_service.domain.errors import FieldViolation, InvalidRequestError
from pricing_service.quoting.access import (
    AccessPolicy,
    Caller,
    PermissionDeniedError,
    development_policy,
)
from pricing_service.quoting.denials import DenialRecorder
from pricing_service.quoting.limits import Admission, LimitSettings
from pricing_service.quoting.refusals import DeadlinePassedError, code_of
from pricing_service.quoting.reload import PolicyReloader
from pricing_service.quoting.service import QuoteService, Reply

if TYPE_CHECKING:
    SyncContext = grpc.ServicerContext
    AioContext = grpc.aio.ServicerContext[Any, Any]

log = structlog.get_logger("pricing_service.api")
SERVICE = pb.DESCRIPTOR.services_by_name["PricingService"].full_name


def request_fields(request: Message) -> dict[str, object]:
    """What the canonical log line says of the request, bound before the work (so a
    failed call's line has it too): the idempotency key, or the quote asked for."""
    if isinstance(request, pb.CreateQuoteRequest) and request.request_id:
        return {"request_id": request.request_id}
    if isinstance(request, pb.GetQuoteRequest | pb.GetQuoteProofRequest):
        return {"quote_id": request.quote_id}
    return {}


def outcome_fields(response: Message | Serialized) -> dict[str, object]:
    """What the canonical log line says of a successful answer."""
    if isinstance(response, pb.CreateQuoteResponse | pb.GetQuoteResponse):
        return {"quote_id": response.quote.quote_id, "annual_rate": response.quote.annual_rate}
    if isinstance(response, pb.SimulateQuotesResponse):
        return outcome(response)
    if isinstance(response, Serialized):
        return response.fields
    return {}


class RpcCore:
    """The work of every RPC, for both shells: given the request and the caller, a Reply."""

    def __init__(
        self,
        service: QuoteService,
        proofs: ProofSource,
        *,
        access: AccessPolicy | None = None,
        admission: Admission | None = None,
        metrics: Metrics | None = None,
        reloader: PolicyReloader | None = None,
        max_simulated_loans: int = DEFAULT_SIMULATE_MAX_LOANS,
        simulation_pool: SimulationPool | None = None,
        denials: DenialRecorder | None = None,
    ) -> None:
        self.service = service
        self.proofs = proofs
        self.access = access or development_policy()
        self.denials = denials or DenialRecorder(service.sink, service.clock)
        self.admission = admission or Admission(LimitSettings())
        self.metrics = metrics
        # Without files to reload from (tests), a reload re-validates the set in force.
        self.reloader = reloader or PolicyReloader(service, lambda: service.policies)
        self.simulator = Simulator(
            lambda: service.policies, service.clock, max_loans=max_simulated_loans
        )
        self.simulation_pool = simulation_pool

    def check(self, caller: Caller, method: str, request: Message) -> None:
        """Raise unless the table lets `caller` call `method`; a denied CreateQuote is
        submitted as a denial record first (bounded per caller; the reply does not wait)."""
        quote = request if isinstance(request, pb.CreateQuoteRequest) else None
        try:
            self.access.check(caller, method, quote.product_id if quote is not None else None)
        except PermissionDeniedError as exc:
            if quote is not None:
                self.denials.record(PbIncoming(quote), caller.identity, caller.peer, exc)
            raise

    def create_quote(
        self, request: pb.CreateQuoteRequest, caller: Caller
    ) -> Reply[pb.CreateQuoteResponse]:
        try:
            reply = self.service.start_create(PbIncoming(request), caller.identity, caller.peer)
        except Exception as exc:
            self._count(request, exc)
            raise

        def complete() -> pb.CreateQuoteResponse:
            try:
                response = convert.create_response(reply.complete())
            except Exception as exc:
                self._count(request, exc)
                raise
            self._count(request, None)
            return response

        return Reply(reply.pending, complete)

    def _count(self, request: pb.CreateQuoteRequest, exc: Exception | None) -> None:
        """A binding request's outcome in the metrics: quoted, or why not."""
        if self.metrics is not None:
            reason = getattr(exc, "reason", None) or (code_of(exc) if exc else "quoted")
            self.metrics.quote(self._product_label(request.product_id), str(reason))

    def _product_label(self, product_id: str) -> str:
        # A product id comes from the caller: one the policies do not name is counted as
        # "(other)", or garbage traffic would add a time series per string it sent.
        if any(product_id in v.products for v in self.service.policies.versions):
            return product_id
        return "(other)" if product_id else ""

    def get_quote(self, request: pb.GetQuoteRequest, _caller: Caller) -> Reply[pb.GetQuoteResponse]:
        return Reply.ready(lambda: convert.get_response(self.service.get_quote(request.quote_id)))

    def list_products(
        self, request: pb.ListProductsRequest, _caller: Caller
    ) -> Reply[pb.ListProductsResponse]:
        def answer() -> pb.ListProductsResponse:
            policy, _ = self.service.policy_at(convert.as_of(request))
            return pb.ListProductsResponse(
                products=[convert.product_to_pb(p) for p in policy.products.values()],
                policy_version=policy.version,
                policy_digest=policy.digest,
            )

        return Reply.ready(answer)

    def describe_policy(
        self, request: pb.DescribePolicyRequest, _caller: Caller
    ) -> Reply[pb.DescribePolicyResponse]:
        def answer() -> pb.DescribePolicyResponse:
            policy, when = self.service.policy_at(convert.as_of(request))
            document = self.service.policies.canonical(policy.digest)
            return convert.policy_to_pb(policy, when, document)

        return Reply.ready(answer)

    def get_quote_proof(
        self, request: pb.GetQuoteProofRequest, _caller: Caller
    ) -> Reply[pb.GetQuoteProofResponse]:
        return Reply.ready(lambda: convert.proof_pb(self.proofs.quote_proof(request.quote_id)))

    def simulate_quotes(
        self, request: pb.SimulateQuotesRequest, _caller: Caller
    ) -> Reply[pb.SimulateQuotesResponse | Serialized]:
        pool = self.simulation_pool
        if pool is None:
            return Reply.ready(lambda: self.simulator.simulate(request))
        service = self.service
        # The set and the instant are the server's: the worker only prices.
        return Reply.ready(
            lambda: pool.simulate(request.SerializeToString(), service.policies, service.clock())
        )

    def reload_policy(
        self, _request: pb.ReloadPolicyRequest, caller: Caller
    ) -> Reply[pb.ReloadPolicyResponse]:
        def answer() -> pb.ReloadPolicyResponse:
            done = self.reloader.reload(caller=caller.identity, peer=caller.peer)
            return pb.ReloadPolicyResponse(
                policy_version=done.version,
                policy_digest=done.digest,
                versions=done.versions,
                changed=done.changed,
            )

        return Reply.ready(answer)


def _status(exc: BaseException) -> grpc.Status:
    status = status_for(exc)
    if status.code is grpc.StatusCode.INTERNAL:
        log.exception("unexpected_error")
    return status


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC: its messages, the core method doing its work, and whether aio runs it in a
    thread (a simulation batch prices for seconds; the loop must keep answering)."""

    name: str
    request_type: type[Message]
    response_type: type[Message]
    start: Callable[[RpcCore, Any, Caller], Reply[Any]]
    offload: bool = False


METHODS: tuple[Method, ...] = (
    Method("CreateQuote", pb.CreateQuoteRequest, pb.CreateQuoteResponse, RpcCore.create_quote),
    Method("GetQuote", pb.GetQuoteRequest, pb.GetQuoteResponse, RpcCore.get_quote),
    Method("ListProducts", pb.ListProductsRequest, pb.ListProductsResponse, RpcCore.list_products),
    Method(
        "DescribePolicy",
        pb.DescribePolicyRequest,
        pb.DescribePolicyResponse,
        RpcCore.describe_policy,
    ),
    Method(
        "GetQuoteProof", pb.GetQuoteProofRequest, pb.GetQuoteProofResponse, RpcCore.get_quote_proof
    ),
    Method(
        "SimulateQuotes",
        pb.SimulateQuotesRequest,
        pb.SimulateQuotesResponse,
        RpcCore.simulate_quotes,
        offload=True,
    ),
    Method(
        "ReloadPolicy",
        pb.ReloadPolicyRequest,
        pb.ReloadPolicyResponse,
        RpcCore.reload_policy,
        offload=True,  # reads and validates files
    ),
)


def decode(method: Method, raw: bytes) -> Message:
    """The request message of `raw`. Decoded here, not by grpcio, so that a body that does
    not parse (bad wire format, invalid UTF-8 in a string) is INVALID_ARGUMENT and logged,
    where grpcio's own deserializer answers INTERNAL and logs nothing."""
    try:
        return method.request_type.FromString(raw)
    except DecodeError as exc:
        raise InvalidRequestError(
            [FieldViolation("request", f"malformed request: not a {method.request_type.__name__}")]
        ) from exc


def _begin(
    core: RpcCore, context: SyncContext | AioContext, method: Method, raw: bytes
) -> tuple[Message, Caller]:
    """Identify the caller, decode the request, check the permission and the deadline;
    bind the log fields as they become known."""
    caller = identify(context, core.access, method.name)
    structlog.contextvars.bind_contextvars(caller=caller.identity, via=caller.via)
    request = decode(method, raw)
    structlog.contextvars.bind_contextvars(**request_fields(request))
    core.check(caller, method.name, request)
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        # Waited past its deadline (in the pool's queue): not priced, not logged.
        raise DeadlinePassedError(f"the deadline passed before {method.name} began")
    return request, caller


def _serialize(response: Message | Serialized) -> bytes:
    # A simulation priced in a worker arrives serialized already.
    if isinstance(response, Serialized):
        return response.data
    return response.SerializeToString()


def _handlers(
    serve: Callable[[Method], Callable[..., Any]],
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    return {
        m.name: grpc.unary_unary_rpc_method_handler(
            serve(m),
            request_deserializer=None,  # bytes in: see decode()
            response_serializer=_serialize,
        )
        for m in METHODS
    }


def add_to_server(shell: PricingServicer | AioPricingServicer, server: Any) -> None:
    """Register the shell's handlers for every method of the service (as generated code does)."""
    handlers = shell.handlers()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


class PricingServicer:
    """The sync shell: each handler blocks its pool thread until the answer is complete."""

    def __init__(self, core: RpcCore) -> None:
        self.core = core

    def handlers(self) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
        """A method handler per RPC, taking the raw request bytes."""
        return _handlers(lambda m: lambda raw, context: self.serve(m, raw, context))

    def serve(self, method: Method, raw: bytes, context: SyncContext) -> Message | Serialized:
        """Decode, do the RPC's work, bind its outcome to the log line; errors become statuses."""
        try:
            request, caller = _begin(self.core, context, method, raw)
            with self.core.admission.admit(method.name, caller.identity):
                response = method.start(self.core, request, caller).complete()
        except Exception as exc:
            context.abort_with_status(_status(exc))
            raise  # pragma: no cover - abort raised already
        structlog.contextvars.bind_contextvars(**outcome_fields(response))
        return response  # type: ignore[no-any-return]


class AioPricingServicer:
    """The grpc.aio shell: the audit wait is awaited; a simulation batch runs in a thread."""

    def __init__(self, core: RpcCore) -> None:
        self.core = core

    def handlers(self) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
        """A method handler per RPC, taking the raw request bytes."""
        return _handlers(lambda m: lambda raw, context: self.serve(m, raw, context))

    async def serve(self, method: Method, raw: bytes, context: AioContext) -> Message | Serialized:
        """Decode, do the RPC's work, bind its outcome to the log line; errors become statuses."""
        try:
            request, caller = _begin(self.core, context, method, raw)
            with self.core.admission.admit(method.name, caller.identity):
                response = await self._answer(method, request, caller)
        except Exception as exc:
            status = _status(exc)
            await context.abort(status.code, status.details, status.trailing_metadata)
            raise  # pragma: no cover - abort raised already
        structlog.contextvars.bind_contextvars(**outcome_fields(response))
        return response

    async def _answer(
        self, method: Method, request: Message, caller: Caller
    ) -> Message | Serialized:
        if method.offload:
            # A full simulation batch prices for seconds: off the loop, so the server's
            # other RPCs are answered meanwhile.
            return await asyncio.to_thread(
                lambda: method.start(self.core, request, caller).complete()
            )
        reply = method.start(self.core, request, caller)
        if reply.pending is not None:
            # complete() reads the outcome (or raises it); here we only wait.
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(reply.pending)
        return reply.complete()  # type: ignore[no-any-return]
