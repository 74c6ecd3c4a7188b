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


class _Wrapped:
    """The logging wrapper of each method's handler, made once: grpc asks the interceptor
    on every call, and the wrapper of a method's handler is the same every time."""

    def __init__(self) -> None:
        self._by_method: dict[str, tuple[object, grpc.RpcMethodHandler[Any, Any]]] = {}

    def get(
        self,
        method: str,
        handler: grpc.RpcMethodHandler[Any, Any],
        wrap: Callable[[str, grpc.RpcMethodHandler[Any, Any]], grpc.RpcMethodHandler[Any, Any]],
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """The wrapper of `handler`, made by `wrap` the first time (or if it changed)."""
        kept = self._by_method.get(method)
        if kept is not None and kept[0] is handler:
            return kept[1]
        wrapped = wrap(method, handler)
        self._by_method[method] = (handler, wrapped)
        return wrapped


class CanonicalLogInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Binds request context and writes one line when the RPC ends, whatever its outcome;
    counts it in the server's metrics too."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self._wrapped = _Wrapped()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        return self._wrapped.get(method, handler, self._wrap)

    def _wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        inner: Callable[[Any, grpc.ServicerContext], Any] = handler.unary_unary  # type: ignore[assignment]
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
        self._wrapped = _Wrapped()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # type: ignore[no-any-return]
        method = handler_call_details.method
        return self._wrapped.get(method, handler, self._wrap)

    def _wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        inner: Callable[[Any, Any], Any] = handler.unary_unary  # type: ignore[assignment]
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
