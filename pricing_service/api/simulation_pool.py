"""SimulateQuotes priced in worker processes, away from the binding path's interpreter.

A 10,000-loan batch holds the GIL for a second or more (the engine per loan, then the
~12 MB reply): in the server's own process, two clients looping simulations put that
second in front of every CreateQuote. An in-flight limit cannot help, since one batch
is enough. In a worker process a batch costs the server only the bytes in and out.

The worker is the same `Simulator` code, so a simulated price is still the price
CreateQuote would give. It receives the request bytes, the canonical documents of the
policy set in force (a reload changes them; the worker rebuilds its set when they
change) and the batch's instant, and sends back the serialized reply, which the server
passes to gRPC as it is. Workers are spawned, never forked: grpcio's threads do not
survive a fork. They ignore SIGINT and SIGTERM, because the server drains its calls
first and then closes the pool.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ecoloan.pricing.v1 import pricing_service_pb2 as pb

from pricing_service.api.simulating import Simulator
from pricing_service.domain.errors import FieldViolation, InvalidRequestError
from pricing_service.policy.store import PolicySet, load_policy_bytes
from pricing_service.quoting.refusals import SimulationUnavailableError

# How often a worker checks that its server is alive: a server killed with SIGKILL
# cannot stop its workers, and they must not outlive it.
PARENT_CHECK_SECONDS = 1.0
WORKER_NICENESS = 10


@dataclass(frozen=True, slots=True)
class Serialized:
    """A reply already serialized (by a worker), with what the RPC's log line says of it."""

    data: bytes
    fields: dict[str, object] = field(default_factory=dict)


def outcome(response: pb.SimulateQuotesResponse) -> dict[str, object]:
    """The log line's fields for a simulation reply."""
    priced = sum(1 for r in response.results if r.HasField("quote"))
    fields: dict[str, object] = {"loans": len(response.results), "priced": priced}
    if response.draft_policy_digest:
        fields["draft_policy_digest"] = response.draft_policy_digest
    return fields


def policy_documents(policies: PolicySet) -> tuple[bytes, ...]:
    """The set's canonical documents, which rebuild the same versions and digests."""
    return tuple(policies.canonical(p.digest) for p in policies.versions)


class _Worker:
    """A worker process's state: the set last sent and a simulator over it."""

    def __init__(self, max_loans: int) -> None:
        self.max_loans = max_loans
        self.documents: tuple[bytes, ...] = ()
        self.policies: PolicySet | None = None
        self.simulator = Simulator(self._policies, max_loans=max_loans)

    def _policies(self) -> PolicySet:
        assert self.policies is not None
        return self.policies

    def simulate(
        self, documents: tuple[bytes, ...], request: bytes, now: datetime
    ) -> tuple[str, Any]:
        if documents != self.documents:
            self.policies = PolicySet(load_policy_bytes(doc) for doc in documents)
            self.documents = documents
        try:
            response = self.simulator.simulate(
                pb.SimulateQuotesRequest.FromString(request), now=now
            )
        except InvalidRequestError as exc:
            # An exception with fields does not survive pickling whole: send its parts.
            return "invalid", [(v.field, v.description) for v in exc.violations]
        return "ok", (response.SerializeToString(), outcome(response))


_state: _Worker | None = None


def _init_worker(max_loans: int) -> None:
    global _state  # noqa: PLW0603 - one per worker process, set once at its start
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Below the server's threads: on a machine with fewer cores than busy processes the
    # scheduler then favours binding quotes over a simulation.
    os.nice(WORKER_NICENESS)
    _state = _Worker(max_loans)
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="parent").start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)  # re-parented: the server is gone


def _simulate(documents: tuple[bytes, ...], request: bytes, now: datetime) -> tuple[str, Any]:
    assert _state is not None, "worker not initialised"
    return _state.simulate(documents, request, now)


class SimulationPool:
    """`workers` spawned processes pricing SimulateQuotes batches, started on first use."""

    def __init__(self, workers: int, max_loans: int) -> None:
        if workers < 1:
            raise ValueError("a simulation pool needs at least one worker")
        self.workers = workers
        self.max_loans = max_loans
        self._lock = threading.Lock()
        self._executor = self._start()
        self._documents: tuple[PolicySet, tuple[bytes, ...]] | None = None

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.max_loans,),
        )

    def simulate(self, request: bytes, policies: PolicySet, now: datetime) -> Serialized:
        """The serialized reply to `request` under `policies`, priced in a worker."""
        executor = self._executor
        try:
            kind, value = executor.submit(
                _simulate, self._documents_of(policies), request, now
            ).result()
        except (BrokenProcessPool, BrokenPipeError) as exc:
            # A worker killed while a batch was on its way to it: either the pool saw the
            # death first (BrokenProcessPool) or the queue's feeder wrote into the dead
            # worker's pipe first (BrokenPipeError on this batch).
            self._replace(executor)
            raise SimulationUnavailableError("the simulation worker stopped; retry") from exc
        if kind == "invalid":
            raise InvalidRequestError([FieldViolation(f, d) for f, d in value])
        data, fields = value
        return Serialized(data, fields)

    def _documents_of(self, policies: PolicySet) -> tuple[bytes, ...]:
        # A PolicySet never changes; a reload makes a new one.
        cached = self._documents
        if cached is None or cached[0] is not policies:
            cached = (policies, policy_documents(policies))
            self._documents = cached
        return cached[1]

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        # A pool whose worker died refuses every later batch: start a fresh one, once,
        # however many calls saw the same death.
        with self._lock:
            if self._executor is broken:
                self._executor = self._start()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (after the server drained: no batch is waiting)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
