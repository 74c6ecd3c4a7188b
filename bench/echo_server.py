"""The bare gRPC baseline: one trivial unary method, no protoc, bytes in, bytes out.

Built with the same grpcio settings as `pricing-service serve`: the configuration is
read the same way (defaults, PRICING_CONFIG, PRICING_* env), giving the same server
options (`grpc.so_reuseport` = 0) and the same sync thread-pool size, or grpc.aio.
The handler ignores the request (the load client sends it the real CreateQuote
request bytes) and answers a fixed payload as large as a real CreateQuote
response, so both sides move the same bytes as the real RPC.

    python -m bench.echo_server --listen 127.0.0.1:PORT --mode sync|aio --response-size N
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc

from pricing_service.config import ServiceConfig, load_config

SERVICE = "bench.Echo"
METHOD = "Echo"
PATH = f"/{SERVICE}/{METHOD}"


def server_options(config: ServiceConfig) -> list[tuple[str, int]]:
    """The options `pricing_service.bootstrap` gives its servers (kept in step by hand)."""
    return [("grpc.so_reuseport", 1 if config.so_reuseport else 0)]


def _sync_handler(payload: bytes) -> grpc.GenericRpcHandler[bytes, bytes]:
    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return payload

    # No serializers: grpcio passes the raw bytes through both ways.
    return grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(echo)}
    )


def _aio_handler(payload: bytes) -> grpc.GenericRpcHandler[bytes, bytes]:
    async def echo(request: bytes, context: Any) -> bytes:
        return payload

    return grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(echo)}
    )


def serve_sync(listen: str, payload: bytes, config: ServiceConfig) -> None:
    """A thread-pool server of `config.max_workers` threads, until SIGTERM/SIGINT."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="rpc"),
        options=server_options(config),
    )
    server.add_generic_rpc_handlers((_sync_handler(payload),))
    server.add_insecure_port(listen)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print("serving", flush=True)
    stop.wait()
    server.stop(1).wait()


async def serve_aio(listen: str, payload: bytes, config: ServiceConfig) -> None:
    """A grpc.aio server, until SIGTERM/SIGINT."""
    server = grpc.aio.server(options=server_options(config))
    server.add_generic_rpc_handlers((_aio_handler(payload),))
    server.add_insecure_port(listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("serving", flush=True)
    await stop.wait()
    await server.stop(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--mode", choices=["sync", "aio"], default="sync")
    parser.add_argument("--response-size", type=int, required=True)
    args = parser.parse_args(argv)
    # The same settings `pricing-service serve` would read (PRICING_* env, PRICING_CONFIG).
    config = load_config()
    payload = b"\x0a" * args.response_size
    if args.mode == "aio":
        asyncio.run(serve_aio(args.listen, payload, config))
    else:
        serve_sync(args.listen, payload, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
