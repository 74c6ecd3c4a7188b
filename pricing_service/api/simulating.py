"""SimulateQuotes: indicative prices of hypothetical loans, live or draft policy.

A simulation binds the bank to nothing, so it leaves no trace a binding quote could
be mistaken for: no audit record, no quote id, no idempotency entry. Each loan still
goes through the binding code path (request checks, policy checks, engine), so a
simulated price is the price CreateQuote would give for the same loan and policy.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime

import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb

from pricing_service.api import convert
from pricing_service.api.errors import status_proto
from pricing_service.api.incoming import PbIncoming
from pricing_service.config import DEFAULT_SIMULATE_MAX_LOANS
from pricing_service.domain.errors import (
    FieldViolation,
    InvalidRequestError,
    PolicyError,
    PricingError,
)
from pricing_service.domain.policy import Policy
from pricing_service.policy.store import PolicySet, load_policy_bytes
from pricing_service.quoting.pricing import price_indicative
from pricing_service.quoting.service import Clock, utc_now

log = structlog.get_logger("pricing_service.api")

# Drafts validated recently, by SHA-256 of the bytes sent: a tool iterating on one
# draft sends it with every batch. Small, because each entry also holds the engine's
# per-policy memo.
DRAFT_CACHE_SIZE = 8


def load_draft(raw: bytes) -> Policy:
    """Validate a draft policy document; every problem becomes a violation on draft_policy."""
    try:
        return load_policy_bytes(raw)[0]
    except PolicyError as exc:
        problems = list(exc.problems)
    except UnicodeDecodeError as exc:
        problems = [f"not UTF-8 text: {exc.reason} at byte {exc.start}"]
    except json.JSONDecodeError as exc:
        problems = [f"not valid JSON: {exc}"]
    except RecursionError:
        problems = ["nested too deeply to be a policy document"]
    except Exception as exc:
        # Policy files were trusted operator input until drafts came over the network:
        # a document the validator cannot handle is still a bad draft for the caller
        # (INVALID_ARGUMENT, not INTERNAL), and the log keeps the validator's bug.
        log.exception("draft_policy_validator_failed")
        problems = [f"not a valid policy document ({type(exc).__name__}: {exc})"]
    raise InvalidRequestError([FieldViolation("draft_policy", p) for p in problems])


def _loan_error(exc: PricingError) -> pb.LoanError:
    status = status_proto(exc)
    return pb.LoanError(code=status.code, message=status.message, details=status.details)


class Simulator:
    """Prices batches of loans indicatively under the policy set or a caller's draft."""

    def __init__(
        self,
        policies: Callable[[], PolicySet],
        clock: Clock = utc_now,
        *,
        max_loans: int = DEFAULT_SIMULATE_MAX_LOANS,
    ) -> None:
        if max_loans < 1:
            raise ValueError("max_loans must be >= 1")
        self.policies = policies
        self.clock = clock
        self.max_loans = max_loans
        self._drafts: OrderedDict[str, Policy] = OrderedDict()
        self._lock = threading.Lock()

    def simulate(
        self, request: pb.SimulateQuotesRequest, *, now: datetime | None = None
    ) -> pb.SimulateQuotesResponse:
        """One result per loan, in order; only the batch's size or draft fail the whole call.

        `now` is the batch's instant when the caller took it already (a worker process)."""
        count = len(request.loans)
        if count > self.max_loans:
            raise InvalidRequestError(
                [FieldViolation("loans", f"at most {self.max_loans} loans per call, got {count}")]
            )
        response = pb.SimulateQuotesResponse(indicative=True)
        policy_on: Callable[[date], Policy]
        if request.draft_policy:
            draft = self.draft(request.draft_policy)
            response.draft_policy_version = draft.version
            response.draft_policy_digest = draft.digest

            def policy_on(_day: date) -> Policy:
                # A what-if applies to every loan, whatever the draft's effective_from.
                return draft

        else:
            policy_on = self.policies().in_force  # the set in force now (reloads swap it)
        # One instant for the batch: loans without pricing_time compare like for like.
        if now is None:
            now = self.clock()
        results = []
        for loan in request.loans:
            effective = pb.CreateQuoteRequest()
            effective.CopyFrom(loan)
            if not loan.HasField("pricing_time"):
                effective.pricing_time.CopyFrom(convert.to_timestamp(now))
            # Not validated nor echoed: a simulation has no idempotency for it to key.
            effective.ClearField("request_id")
            try:
                priced = price_indicative(PbIncoming(effective), policy_on)
                quote = convert.quote_to_pb(priced, quote_id="", request=convert.echoed(effective))
                results.append(pb.SimulatedQuote(quote=quote))
            except PricingError as exc:
                results.append(pb.SimulatedQuote(error=_loan_error(exc)))
        response.results.extend(results)
        return response

    def draft(self, raw: bytes) -> Policy:
        """The validated draft of `raw`, from the cache when the same bytes came recently."""
        key = hashlib.sha256(raw).hexdigest()
        with self._lock:
            cached = self._drafts.get(key)
            if cached is not None:
                self._drafts.move_to_end(key)
                return cached
        # Validated outside the lock: it takes milliseconds, other batches must not wait.
        policy = load_draft(raw)
        with self._lock:
            self._drafts[key] = policy
            self._drafts.move_to_end(key)
            while len(self._drafts) > DRAFT_CACHE_SIZE:
                self._drafts.popitem(last=False)
        return policy
