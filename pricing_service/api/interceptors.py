"""One canonical log line per RPC: method, status, duration, caller, outcome fields."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import structlog

from pricing_service.api.metrics import Metrics

log = structlog.get_logger("pricing_service.rpc")


def _code_of(context: grpc.ServicerContext) -> str:
    code = context.code()  # type: ignore[attr-defined]
    if code is None:
        return "OK"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


class CanonicalLogInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Binds request context and writes one line when the RPC ends, whatever its outcome;
    counts it in the server's metrics too."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = handler_call_details.method
        metrics = self.metrics

        def logged(request: Any, context: grpc.ServicerContext) -> Any:
            structlog.contextvars.clear_contextvars()
            start = time.perf_counter()
            try:
                return inner(request, context)
            finally:
                seconds, code = time.perf_counter() - start, _code_of(context)
                log.info(
                    "rpc",
                    method=method,
                    code=code,
                    duration_ms=round(seconds * 1000, 3),
                    peer=context.peer(),
                )
                if metrics is not None:
                    metrics.rpc(method, code, seconds)

        return grpc.unary_unary_rpc_method_handler(
            logged,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class AioCanonicalLogInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """The grpc.aio twin of CanonicalLogInterceptor."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # type: ignore[no-any-return]
        inner = handler.unary_unary
        method = handler_call_details.method
        metrics = self.metrics

        async def logged(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            structlog.contextvars.clear_contextvars()
            start = time.perf_counter()
            try:
                return await inner(request, context)
            finally:
                status = context.code()
                code = status.name if isinstance(status, grpc.StatusCode) else "OK"
                seconds = time.perf_counter() - start
                log.info(
                    "rpc",
                    method=method,
                    code=code,
                    duration_ms=round(seconds * 1000, 3),
                    peer=context.peer(),
                )
                if metrics is not None:
                    metrics.rpc(method, code, seconds)

        return grpc.unary_unary_rpc_method_handler(
            logged,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
