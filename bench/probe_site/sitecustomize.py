"""Loaded by `bench.binding_probe`'s servers only (PYTHONPATH): patches one variant into
`pricing-service serve` before it starts, and measures what the probe reads back.

PROBE_VARIANT names the change ("" for none):
  canned      CreateQuote answers one fixed reply: the servicer, interceptor, identity,
              admission and log line still run; no pricing, no audit record
  no_lookup   the request-id index is never asked (every id new)
Always: the CPU of the handler thread inside CreateQuote (`time.thread_time`: to price and
submit, then to complete the reply) and the cyclic GC's time, written to PROBE_OUT at exit.
"""

from __future__ import annotations

import atexit
import builtins
import json
import os
import time
from typing import Any

_VARIANT = os.environ.get("PROBE_VARIANT", "")
_OUT = os.environ.get("PROBE_OUT", "")
_handler = {"calls": 0, "start_s": 0.0, "complete_s": 0.0}
_gc_collections = [0, 0, 0]
_gc_seconds = [0.0, 0.0, 0.0]


def _patch() -> None:
    import gc  # noqa: PLC0415

    from pricing_service.api import servicers  # noqa: PLC0415

    method = next(m for m in servicers.METHODS if m.name == "CreateQuote")
    start = method.start
    if _VARIANT == "canned":
        start = _canned()
    elif _VARIANT == "no_lookup":
        from pricing_service.quoting import service_log  # noqa: PLC0415

        service_log.IndexedIds.get = lambda self, request_id: None  # type: ignore[method-assign]
    object.__setattr__(method, "start", _timed(start))
    began: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began.append(time.thread_time())
        elif began:
            generation = info["generation"]
            _gc_collections[generation] += 1
            _gc_seconds[generation] += time.thread_time() - began.pop()

    gc.callbacks.append(on_gc)
    # Here, not at import: the simulation workers load this file too, and must not write.
    atexit.register(_dump)


def _canned() -> Any:
    from ecoloan.pricing.v1 import pricing_service_pb2 as pb  # noqa: PLC0415

    from pricing_service.quoting.service import Reply  # noqa: PLC0415

    reply = pb.CreateQuoteResponse()
    reply.quote.quote_id = "q_" + "0" * 32
    reply.quote.annual_rate = "3.30"
    for _ in range(7):  # about a real reply's size
        reply.quote.steps.add(
            code="STEP", value="1", unit="bp", reason_zh="理由" * 10, reason_en="r" * 40
        )
    return lambda core, request, caller: Reply.ready(lambda: reply)


def _timed(start: Any) -> Any:
    from pricing_service.quoting.service import Reply  # noqa: PLC0415

    def timed(core: Any, request: Any, caller: Any) -> Any:
        t0 = time.thread_time()
        reply = start(core, request, caller)
        _handler["start_s"] += time.thread_time() - t0
        complete = reply.complete

        def timed_complete() -> Any:
            t1 = time.thread_time()
            try:
                return complete()
            finally:
                _handler["complete_s"] += time.thread_time() - t1
                _handler["calls"] += 1

        return Reply(reply.pending, timed_complete)

    return timed


def _dump() -> None:
    if _OUT:
        with open(_OUT, "w", encoding="utf-8") as out:
            gc = {"collections": _gc_collections, "seconds": _gc_seconds}
            json.dump({"variant": _VARIANT, "handler": _handler, "gc": gc}, out)


if os.environ.get("PROBE_OUT"):
    _import = builtins.__import__
    _done: list[bool] = []

    def _hook(name: str, *args: Any, **kwargs: Any) -> Any:
        module = _import(name, *args, **kwargs)
        # Once the servicer table exists (serve imports it), before any server starts.
        if not _done and name == "pricing_service.bootstrap":
            _done.append(True)
            builtins.__import__ = _import
            _patch()
        return module

    builtins.__import__ = _hook
