"""The quote service: idempotency, pricing, the audit record, and recent quotes; no transport.

Adapters wrap requests in an `IncomingQuote` and turn the `StoredQuote` they get back
into their own messages. Both server modes run this same code.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from pricing_service.audit.reader import parse_record
from pricing_service.audit.sink import (
    AuditEvent,
    AuditPosition,
    AuditSink,
    AuditUnavailableError,
    DuplicateRequestError,
)
from pricing_service.domain.engine import beijing_date
from pricing_service.domain.errors import (
    PricingError,
    QuoteNotFoundError,
    RequestIdReusedError,
)
from pricing_service.domain.policy import Policy
from pricing_service.domain.quote import PricedQuote
from pricing_service.policy.store import PolicySet
from pricing_service.quoting.documents import require_quote_id
from pricing_service.quoting.idempotency import RecentIds, Used, print_of
from pricing_service.quoting.incoming import IncomingQuote
from pricing_service.quoting.pricing import price_effective
from pricing_service.quoting.refusals import error_record

Clock = Callable[[], datetime]
T = TypeVar("T")
RECENT_QUOTES = 2_000  # ~5 KB each; older ones are read back from the log


def utc_now() -> datetime:
    """The server clock, UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StoredQuote:
    """A binding quote as the service keeps it: the document the log holds, its position,
    and the domain quote when this process priced it (None when read back from the log)."""

    document: dict[str, Any]
    position: AuditPosition
    priced: PricedQuote | None = None

    @property
    def quote_id(self) -> str:
        """The quote's id."""
        return str(self.document["quote_id"])

    @classmethod
    def from_record(cls, raw: bytes, position: AuditPosition) -> StoredQuote | None:
        """The quote a logged record holds, read back; None if the record is no quote
        (an index that named a refusal: never guess)."""
        record = parse_record(raw, f"seq {position.sequence}", 1)
        if record.response is None:
            return None
        return cls(dict(record.response), position)


@dataclass(frozen=True, slots=True)
class Reply(Generic[T]):
    """An answer that may still wait on the audit log (CreateQuote), or is ready.

    `complete()` blocks until `pending` is done; an aio caller awaits `pending` first,
    so `complete()` then returns at once. Either way the same code makes the answer.
    """

    pending: Future[Any] | None
    complete: Callable[[], T]

    @staticmethod
    def ready(call: Callable[[], T]) -> Reply[T]:
        """An answer that waits on nothing: `call` runs when it is completed."""
        return Reply(None, call)


class QuoteLookup(Protocol):
    """Finds quotes this process did not create (earlier runs), in the audit log."""

    def find(self, quote_id: str) -> StoredQuote | None:
        """The logged quote and its position, or None."""


def _prints(request: IncomingQuote, effective: IncomingQuote) -> tuple[int, ...]:
    """The fingerprints a retry may have: as sent, and the effective request with and
    without its pricing instant. The log keeps the effective request (instant filled
    in), so the same forms must match before and after a restart."""
    prints = {
        print_of(request.fingerprint()),
        print_of(effective.fingerprint()),
        print_of(effective.without_pricing_time().fingerprint()),
    }
    return tuple(sorted(prints))


def _failed(exc: BaseException) -> Future[StoredQuote]:
    done: Future[StoredQuote] = Future()
    done.set_exception(exc)
    return done


class PendingQuote:
    """A priced quote (or refusal) waiting for its audit record to be durable."""

    __slots__ = ("_finish", "future", "refusal")

    def __init__(
        self,
        future: Future[AuditPosition],
        finish: Callable[[AuditPosition], StoredQuote],
        refusal: PricingError | None = None,
    ) -> None:
        self.future = future
        self._finish = finish
        self.refusal = refusal

    def finish(self, position: AuditPosition) -> StoredQuote:
        """Complete the reply once the record is on disk (raises for a refusal)."""
        return self._finish(position)

    def fail(self, exc: BaseException) -> BaseException:
        """The error to reply with when the audit record could not be written.

        A refused request keeps its own error: the caller must fix the request
        either way, and a refusal never binds the bank to anything.
        """
        return self.refusal if self.refusal is not None else exc


class QuoteService:
    """Creates binding quotes and answers the read-only use cases."""

    def __init__(
        self,
        policies: PolicySet,
        sink: AuditSink,
        clock: Clock = utc_now,
        lookup: QuoteLookup | None = None,
        ids: RecentIds | None = None,
    ) -> None:
        self.policies = policies
        self.sink = sink
        self.clock = clock
        self.lookup = lookup
        self.ids = ids or RecentIds()
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[StoredQuote]] = {}
        self._in_flight_fp: dict[str, str] = {}
        # Recent quotes only: older ones are read back from the audit log (lookup), so
        # memory stays flat however long the server runs.
        self._quotes: OrderedDict[str, StoredQuote] = OrderedDict()
        self._archived: set[str] = set()
        self._archive_lock = threading.Lock()

    # -- CreateQuote -------------------------------------------------------

    def create_quote(self, request: IncomingQuote, caller: str, peer: str = "") -> StoredQuote:
        """Price, log durably, then answer (blocking)."""
        return self.start_create(request, caller, peer).complete()

    def start_create(
        self, request: IncomingQuote, caller: str, peer: str = ""
    ) -> Reply[StoredQuote]:
        """Begin CreateQuote: a retry's stored answer, or a priced quote waiting on the log.

        `caller` is the authenticated identity, `peer` the transport peer ("" in-process):
        the record keeps them apart."""
        retry = self._idempotent(request)
        if retry is not None:
            return Reply(retry, retry.result)
        try:
            pending = self.begin_create(request, caller, peer)
        except BaseException as exc:
            self._release(request.request_id, exc)
            raise

        def complete() -> StoredQuote:
            try:
                try:
                    position = pending.future.result()
                except AuditUnavailableError as exc:
                    raise pending.fail(exc) from None
                except DuplicateRequestError as bound:
                    return self._bound_elsewhere(request, bound)
                return pending.finish(position)
            except BaseException as exc:
                self._release(request.request_id, exc)
                raise

        return Reply(pending.future, complete)

    def _idempotent(self, request: IncomingQuote) -> Future[StoredQuote] | None:
        """A future of the stored answer for a retry, or None after reserving the id."""
        rid = request.request_id
        if not rid:
            return None
        fp = request.fingerprint()
        # Memory, then the on-disk index: outside the lock, disk must not stall others.
        found_used = self.ids.get(rid)
        with self._lock:
            # Again under the lock: an attempt may have finished meanwhile (it records the
            # id in memory before it leaves the in-flight table).
            used = found_used or self.ids.recent(rid)
            if used is None:
                waiting = self._in_flight.get(rid)
                if waiting is None:
                    self._in_flight[rid] = Future()
                    self._in_flight_fp[rid] = fp
                    return None
                if self._in_flight_fp.get(rid) == fp:
                    return waiting  # a retry while the first attempt is still in flight
                # A different request under an id in flight: its quote id is not known yet.
                return _failed(RequestIdReusedError(rid, "(in flight)"))
            stored = self._quotes.get(used.quote_id)
        # Made only here: a new id (the common case) needs no future of its own.
        done: Future[StoredQuote] = Future()
        if not used.same_request(fp):
            done.set_exception(RequestIdReusedError(rid, used.quote_id))
        elif stored is not None:
            done.set_result(stored)
        else:
            # Read back from the log outside the lock: disk I/O must not stall other requests.
            found = self.lookup.find(used.quote_id) if self.lookup else None
            if found is None:  # pragma: no cover - the log lost a logged quote
                done.set_exception(QuoteNotFoundError(used.quote_id))
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

    def begin_create(self, request: IncomingQuote, caller: str, peer: str = "") -> PendingQuote:
        """Price the request and submit its audit record; the answer waits on the future."""
        request.check_pricing_time()
        received = self.clock()
        effective = request if request.has_pricing_time else request.with_pricing_time(received)
        event_time = received.isoformat().replace("+00:00", "Z")  # the record's `time`
        request_document = effective.document()
        # One policy set for the whole request: a reload may swap self.policies meanwhile.
        policies = self.policies
        try:
            priced = price_effective(effective, policies, request_document)
        except PricingError as exc:
            # Recorded whenever a policy was in force, so replay can re-check the refusal.
            refusal = AuditEvent(
                kind="refusal",
                request=request_document,
                response=None,
                error=error_record(exc),
                caller=caller,
                policy_digest=self._policy_digest_at(effective, policies),
                time=event_time,
                peer=peer,
            )
            error = exc  # `exc` is unbound when the except block ends

            def refuse(_: AuditPosition) -> StoredQuote:
                raise error

            return PendingQuote(self.sink.submit(refusal), refuse, refusal=error)
        self.archive_policy(priced.policy, policies)
        prints = _prints(request, effective) if request.request_id else ()
        event = AuditEvent(
            kind="quote",
            request=request_document,
            response=priced.document,
            error=None,
            caller=caller,
            policy_digest=priced.policy.digest,
            time=event_time,
            peer=peer,
            request_prints=prints,
        )

        def finish(position: AuditPosition) -> StoredQuote:
            stored = StoredQuote(priced.document, position, priced.quote)
            rid = request.request_id
            self._keep(rid, Used(stored.quote_id, prints) if rid else None, stored)
            return stored

        return PendingQuote(self.sink.submit(event), finish)

    def _policy_digest_at(self, effective: IncomingQuote, policies: PolicySet) -> str | None:
        when = effective.pricing_instant()
        if when is None:
            return None
        try:
            return policies.in_force(beijing_date(when)).digest
        except (PricingError, ValueError, OverflowError, OSError):
            return None

    def archive_policy(self, policy: Policy, policies: PolicySet) -> None:
        """Archive `policy` (of `policies`) beside the log, once; AuditUnavailableError if
        the disk refuses."""
        if policy.digest in self._archived:
            return
        with self._archive_lock:
            # Checked again under the lock: concurrent first quotes archive once.
            if policy.digest not in self._archived:
                self.sink.register_policy(policy.digest, policies.canonical(policy.digest))
                self._archived.add(policy.digest)

    def _bound_elsewhere(self, request: IncomingQuote, bound: DuplicateRequestError) -> StoredQuote:
        """The log already binds the request id to a quote, written first by another
        replica (a store that binds ids itself, PostgreSQL): a retry of the same request
        gets that original quote; a different request under the id is refused."""
        used = Used(bound.quote_id, bound.request_prints)
        if not used.same_request(request.fingerprint()):
            raise RequestIdReusedError(request.request_id, bound.quote_id)
        stored = StoredQuote.from_record(bound.record, bound.position)
        if stored is None:  # pragma: no cover - the store binds quotes only
            raise QuoteNotFoundError(bound.quote_id)
        self._keep(request.request_id, used, stored)
        return stored

    def _keep(self, rid: str, used: Used | None, stored: StoredQuote) -> None:
        with self._lock:
            # Identical effective requests are the same quote; the first record stays its home.
            if stored.quote_id not in self._quotes:
                self._quotes[stored.quote_id] = stored
                if len(self._quotes) > RECENT_QUOTES:
                    self._quotes.popitem(last=False)
            if rid and used is not None:
                self._in_flight_fp.pop(rid, None)
                self.ids.remember(rid, used)
                waiting = self._in_flight.pop(rid, None)
            else:
                waiting = None
        if rid and used is not None:
            self.ids.persist(rid, used, stored.position.sequence)
        if waiting is not None:
            waiting.set_result(stored)

    def used_of(self, effective: IncomingQuote, quote_id: str) -> Used:
        """How a logged quote's request id is recorded (start-up catch-up of the index):
        the log holds the effective request, so a retry matches it with or without an
        explicit pricing_time."""
        return Used(quote_id, _prints(effective, effective))

    # -- read-only use cases -------------------------------------------------

    def get_quote(self, quote_id: str) -> StoredQuote:
        """A binding quote by id, with its audit position."""
        require_quote_id(quote_id)
        with self._lock:
            stored = self._quotes.get(quote_id)
        if stored is None and self.lookup is not None:
            stored = self.lookup.find(quote_id)
        if stored is None:
            raise QuoteNotFoundError(quote_id)
        return stored

    def policy_at(self, as_of: datetime | None) -> tuple[Policy, datetime]:
        """The policy in force at `as_of` (the server clock when None), and that instant."""
        when = self.clock() if as_of is None else as_of
        return self.policies.in_force(beijing_date(when)), when
