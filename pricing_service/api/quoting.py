"""The quote service: idempotency, pricing, audit, storage; transport-free.

Servicers (sync and aio) call it; replay calls `price_effective` directly so the
audit replays exactly the code path that priced the quote.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from ecoloan.pricing.v1 import pricing_service_pb2 as pb

from pricing_service.api import convert
from pricing_service.api.errors import error_record
from pricing_service.audit.sink import (
    AuditEvent,
    AuditPosition,
    AuditSink,
    AuditUnavailableError,
)
from pricing_service.domain.engine import (
    beijing_date,
    evidence_violations,
    price,
    term_violations,
)
from pricing_service.domain.errors import (
    FieldViolation,
    InvalidRequestError,
    PricingError,
    QuoteNotFoundError,
    RequestIdReusedError,
)
from pricing_service.domain.policy import Policy
from pricing_service.domain.request import QuoteRequest
from pricing_service.policy.store import PolicySet

Clock = Callable[[], datetime]
RECENT_QUOTES = 10_000


def utc_now() -> datetime:
    """The server clock, UTC."""
    return datetime.now(UTC)


def effective_request(request: pb.CreateQuoteRequest, now: datetime) -> pb.CreateQuoteRequest:
    """The request with its pricing instant made explicit (the server clock when unset)."""
    effective = pb.CreateQuoteRequest()
    effective.CopyFrom(request)
    if not request.HasField("pricing_time"):
        effective.pricing_time.CopyFrom(convert.to_timestamp(now))
    return effective


def price_effective(
    effective: pb.CreateQuoteRequest,
    policies: PolicySet,
    request_json: dict[str, Any] | None = None,
) -> tuple[pb.Quote, Policy]:
    """Price an effective request under the policy in force at its instant.

    `request_json` is `convert.canonical_json(effective)` when the caller has it already.
    """
    try:
        domain = convert.request_to_domain(effective)
    except InvalidRequestError as exc:
        raise _with_policy_violations(exc, effective, policies.in_force) from None
    policy = policies.in_force(beijing_date(domain.pricing_time))
    return _priced(effective, domain, policy, request_json), policy


def price_under(effective: pb.CreateQuoteRequest, policy: Policy) -> pb.Quote:
    """Price an effective request under one given policy version (replay)."""
    try:
        domain = convert.request_to_domain(effective)
    except InvalidRequestError as exc:
        raise _with_policy_violations(exc, effective, lambda _day: policy) from None
    return _priced(effective, domain, policy, None)


def price_indicative(
    effective: pb.CreateQuoteRequest, policy_on: Callable[[date], Policy]
) -> pb.Quote:
    """Price an effective request for a simulation: the binding checks and engine, no quote id.

    `policy_on` gives the policy for the request's Beijing pricing date (the set in
    force, or a draft whatever the date). No quote id: nothing registers a simulated
    quote, so an id would name a quote GetQuote can never find.
    """
    try:
        domain = convert.request_to_domain(effective)
    except InvalidRequestError as exc:
        raise _with_policy_violations(exc, effective, policy_on) from None
    policy = policy_on(beijing_date(domain.pricing_time))
    return convert.quote_to_pb(price(domain, policy), quote_id="", request=effective)


_EVIDENCE_FIELDS: tuple[
    Literal["carbon_grade", "carbon_emissions", "mine_score", "transition_kpis"], ...
] = ("carbon_grade", "carbon_emissions", "mine_score", "transition_kpis")


def _with_policy_violations(
    exc: InvalidRequestError,
    effective: pb.CreateQuoteRequest,
    policy_on: Callable[[date], Policy],
) -> InvalidRequestError:
    """Add what the policy finds wrong to the shape errors, so one reply lists every bad field."""
    try:
        policy = policy_on(beijing_date(convert.to_datetime(effective.pricing_time)))
    except (PricingError, ValueError, OverflowError, OSError):
        return exc
    more = term_violations(
        effective.credit_rating,
        effective.term_months,
        effective.principal_fen,
        effective.upfront_fee_fen,
        policy,
    )
    product = policy.products.get(effective.product_id)
    if product is not None:
        present = frozenset(f for f in _EVIDENCE_FIELDS if effective.HasField(f))
        more += evidence_violations(product, present)
    seen = {v.field for v in exc.violations}
    added = [v for v in more if v.field not in seen]
    return InvalidRequestError([*exc.violations, *added]) if added else exc


def _priced(
    effective: pb.CreateQuoteRequest,
    domain: QuoteRequest,
    policy: Policy,
    request_json: dict[str, Any] | None,
) -> pb.Quote:
    priced = price(domain, policy)
    if request_json is None:
        request_json = convert.canonical_json(effective)
    quote_id = convert.quote_id_for(convert.dumps_canonical(request_json), policy.digest)
    return convert.quote_to_pb(priced, quote_id=quote_id, request=effective)


def position_pb(position: AuditPosition) -> pb.AuditPosition:
    """An audit position as the API returns it."""
    return pb.AuditPosition(
        log_origin=position.log_origin, sequence=position.sequence, leaf_hash=position.leaf_hash
    )


@dataclass(slots=True)
class _Stored:
    """A used request_id: the fingerprints that count as the same request, and its quote."""

    fingerprints: frozenset[str]
    quote_id: str


def _fingerprints(
    fp: str, request: pb.CreateQuoteRequest, quote: pb.Quote | None
) -> frozenset[str]:
    """The fingerprints a retry may have: the request with and without its pricing instant.

    The log keeps the effective request (instant filled in), so the same two forms must
    match before and after a restart.
    """
    effective = pb.CreateQuoteRequest()
    effective.CopyFrom(request)
    if quote is not None and not request.HasField("pricing_time"):
        effective.pricing_time.CopyFrom(quote.pricing_time)
    without_time = pb.CreateQuoteRequest()
    without_time.CopyFrom(effective)
    without_time.ClearField("pricing_time")
    return frozenset([fp, convert.fingerprint(effective), convert.fingerprint(without_time)])


class QuoteLookup(Protocol):
    """Finds quotes this process did not create (earlier runs), in the audit log."""

    def find(self, quote_id: str) -> pb.CreateQuoteResponse | None:
        """The logged quote and its position, or None."""


class PendingQuote:
    """A priced quote (or refusal) waiting for its audit record to be durable."""

    __slots__ = ("_finish", "future", "refusal")

    def __init__(
        self,
        future: Future[AuditPosition],
        finish: Callable[[AuditPosition], pb.CreateQuoteResponse],
        refusal: PricingError | None = None,
    ) -> None:
        self.future = future
        self._finish = finish
        self.refusal = refusal

    def finish(self, position: AuditPosition) -> pb.CreateQuoteResponse:
        """Complete the reply once the record is on disk (raises for a refusal)."""
        return self._finish(position)

    def fail(self, exc: BaseException) -> BaseException:
        """The error to reply with when the audit record could not be written.

        A refused request keeps its own error: the caller must fix the request
        either way, and a refusal never binds the bank to anything.
        """
        return self.refusal if self.refusal is not None else exc


class QuoteService:
    """Creates binding quotes and answers the read-only RPCs."""

    def __init__(
        self,
        policies: PolicySet,
        sink: AuditSink,
        clock: Clock = utc_now,
        lookup: QuoteLookup | None = None,
    ) -> None:
        self.policies = policies
        self.sink = sink
        self.clock = clock
        self.lookup = lookup
        self._lock = threading.Lock()
        self._by_request_id: dict[str, _Stored] = {}
        self._in_flight: dict[str, Future[pb.CreateQuoteResponse]] = {}
        self._in_flight_fp: dict[str, str] = {}
        # Recent quotes only: older ones are read back from the audit log (lookup), so
        # memory stays flat however long the server runs.
        self._quotes: OrderedDict[str, pb.CreateQuoteResponse] = OrderedDict()
        self._archived: set[str] = set()
        self._archive_lock = threading.Lock()

    # -- CreateQuote -------------------------------------------------------

    def create_quote(self, request: pb.CreateQuoteRequest, caller: str) -> pb.CreateQuoteResponse:
        """Price, log durably, then reply (blocking)."""
        replay = self._idempotent(request)
        if replay is not None:
            return replay.result()
        try:
            pending = self.begin_create(request, caller)
            try:
                position = pending.future.result()
            except AuditUnavailableError as exc:
                raise pending.fail(exc) from None
            return pending.finish(position)
        except BaseException as exc:
            self._release(request.request_id, exc)
            raise

    def _idempotent(self, request: pb.CreateQuoteRequest) -> Future[pb.CreateQuoteResponse] | None:
        """A future of the stored answer for a retry, or None after reserving the id."""
        rid = request.request_id
        if not rid:
            return None
        fp = convert.fingerprint(request)
        done: Future[pb.CreateQuoteResponse] = Future()
        with self._lock:
            stored = self._by_request_id.get(rid)
            if stored is None:
                waiting = self._in_flight.get(rid)
                if waiting is None:
                    self._in_flight[rid] = Future()
                    self._in_flight_fp[rid] = fp
                    return None
                if self._in_flight_fp.get(rid) == fp:
                    return waiting  # a retry while the first attempt is still in flight
                # A different request under an id in flight: its quote id is not known yet.
                done.set_exception(RequestIdReusedError(rid, "(in flight)"))
                return done
            response = self._quotes.get(stored.quote_id)
        if fp not in stored.fingerprints:
            done.set_exception(RequestIdReusedError(rid, stored.quote_id))
        elif response is not None:
            done.set_result(response)
        else:
            # Read back from the log outside the lock: disk I/O must not stall other requests.
            found = self.lookup.find(stored.quote_id) if self.lookup else None
            if found is None:  # pragma: no cover - the log lost a logged quote
                done.set_exception(QuoteNotFoundError(stored.quote_id))
            else:
                done.set_result(found)
        return done

    def _release(self, rid: str, exc: BaseException) -> None:
        if not rid:
            return
        with self._lock:
            waiting = self._in_flight.pop(rid, None)
            self._in_flight_fp.pop(rid, None)
        if waiting is not None and not waiting.done():
            waiting.set_exception(exc)

    def begin_create(self, request: pb.CreateQuoteRequest, caller: str) -> PendingQuote:
        """Price the request and submit its audit record; the reply waits on the future."""
        convert.check_pricing_time(request)
        received = self.clock()
        effective = effective_request(request, received)
        event_time = received.isoformat().replace("+00:00", "Z")
        request_json = convert.canonical_json(effective)
        try:
            quote, policy = price_effective(effective, self.policies, request_json)
        except PricingError as exc:
            # Recorded whenever a policy was in force, so replay can re-check the refusal.
            digest = self._policy_digest_at(effective)
            refusal = AuditEvent(
                kind="refusal",
                request=request_json,
                response=None,
                error=error_record(exc),
                caller=caller,
                policy_digest=digest,
                time=event_time,
            )
            future = self.sink.submit(refusal)
            error = exc  # `exc` is unbound when the except block ends

            def refuse(_: AuditPosition) -> pb.CreateQuoteResponse:
                raise error

            return PendingQuote(future, refuse, refusal=error)
        self._archive(policy)
        event = AuditEvent(
            kind="quote",
            request=request_json,
            response=convert.quote_json(quote),
            error=None,
            caller=caller,
            policy_digest=policy.digest,
            time=event_time,
        )
        future = self.sink.submit(event)

        def finish(position: AuditPosition) -> pb.CreateQuoteResponse:
            response = pb.CreateQuoteResponse(quote=quote, audit_position=position_pb(position))
            self._remember(request, response)
            return response

        return PendingQuote(future, finish)

    def _policy_digest_at(self, effective: pb.CreateQuoteRequest) -> str | None:
        try:
            when = convert.to_datetime(effective.pricing_time)
            return self.policies.in_force(beijing_date(when)).digest
        except (PricingError, ValueError, OverflowError, OSError):
            return None

    def _archive(self, policy: Policy) -> None:
        if policy.digest in self._archived:
            return
        with self._archive_lock:
            # Checked again under the lock: concurrent first quotes archive once.
            if policy.digest not in self._archived:
                self.sink.register_policy(policy.digest, self.policies.canonical(policy.digest))
                self._archived.add(policy.digest)

    def _remember(self, request: pb.CreateQuoteRequest, response: pb.CreateQuoteResponse) -> None:
        rid = request.request_id
        with self._lock:
            # Identical effective requests are the same quote; the first record stays its home.
            if response.quote.quote_id not in self._quotes:
                self._quotes[response.quote.quote_id] = response
                if len(self._quotes) > RECENT_QUOTES:
                    self._quotes.popitem(last=False)
            if rid:
                fp = self._in_flight_fp.pop(rid, "") or convert.fingerprint(request)
                self._by_request_id[rid] = _Stored(
                    _fingerprints(fp, request, response.quote), response.quote.quote_id
                )
                waiting = self._in_flight.pop(rid, None)
            else:
                waiting = None
        if waiting is not None:
            waiting.set_result(response)

    def restore_request_id(self, effective: pb.CreateQuoteRequest, quote_id: str) -> None:
        """Re-arm idempotency for a quote logged by an earlier run.

        The log holds the effective request (pricing_time filled in), so a retry matches
        it with or without an explicit pricing_time.
        """
        fingerprints = _fingerprints(convert.fingerprint(effective), effective, None)
        with self._lock:
            self._by_request_id.setdefault(effective.request_id, _Stored(fingerprints, quote_id))

    def abandon(self, request: pb.CreateQuoteRequest, exc: BaseException) -> None:
        """Release a reserved request_id after a failed attempt (aio path)."""
        self._release(request.request_id, exc)

    def retry_answer(self, request: pb.CreateQuoteRequest) -> Future[pb.CreateQuoteResponse] | None:
        """For the aio path: the stored/in-flight answer of a retry, or None (id reserved)."""
        return self._idempotent(request)

    # -- read-only RPCs ----------------------------------------------------

    def get_quote(self, quote_id: str) -> pb.GetQuoteResponse:
        """A binding quote by id, with its audit position."""
        if not convert.valid_quote_id(quote_id):
            raise InvalidRequestError(
                [FieldViolation("quote_id", "must look like q_ followed by 32 hex digits")]
            )
        with self._lock:
            stored = self._quotes.get(quote_id)
        if stored is None and self.lookup is not None:
            stored = self.lookup.find(quote_id)
        if stored is None:
            raise QuoteNotFoundError(quote_id)
        return pb.GetQuoteResponse(quote=stored.quote, audit_position=stored.audit_position)

    def _as_of(self, request: pb.ListProductsRequest | pb.DescribePolicyRequest) -> datetime:
        if not request.HasField("as_of"):
            return self.clock()
        try:
            return convert.to_datetime(request.as_of)
        except (ValueError, OverflowError, OSError) as exc:
            raise InvalidRequestError([FieldViolation("as_of", "not a valid timestamp")]) from exc

    def list_products(self, request: pb.ListProductsRequest) -> pb.ListProductsResponse:
        """The products of the policy in force, with the evidence each needs."""
        policy = self.policies.in_force(beijing_date(self._as_of(request)))
        return pb.ListProductsResponse(
            products=[convert.product_to_pb(p) for p in policy.products.values()],
            policy_version=policy.version,
            policy_digest=policy.digest,
        )

    def describe_policy(self, request: pb.DescribePolicyRequest) -> pb.DescribePolicyResponse:
        """The policy in force and its fixings in force."""
        as_of = self._as_of(request)
        policy = self.policies.in_force(beijing_date(as_of))
        return convert.policy_to_pb(policy, as_of, self.policies.canonical(policy.digest))
