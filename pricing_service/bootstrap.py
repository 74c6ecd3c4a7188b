"""The composition root: config -> policies, audit sink, quote service, gRPC server."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from pricing_service.api.interceptors import AioCanonicalLogInterceptor, CanonicalLogInterceptor
from pricing_service.api.proofs import ProofSource
from pricing_service.api.quoting import Clock, QuoteService, utc_now
from pricing_service.api.servicers import AioPricingServicer, PricingServicer
from pricing_service.audit.log_only import DisabledAuditSink
from pricing_service.audit.service_log import open_service_log
from pricing_service.audit.sink import AuditSink, AuditUnavailableError
from pricing_service.config import ServiceConfig
from pricing_service.policy.store import PolicySet, default_policies, load_paths

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PricingService"].full_name
log = structlog.get_logger("pricing_service")


class NoProofs:
    """The proof source of a server running without a durable audit log."""

    def quote_proof(self, quote_id: str) -> pb.GetQuoteProofResponse:
        """Always unavailable: nothing was logged, so nothing can be proven."""
        raise AuditUnavailableError("the audit log is disabled on this server: no proofs")


@dataclass
class Components:
    """Everything the server is built from, for the entrypoint and for tests."""

    config: ServiceConfig
    policies: PolicySet
    sink: AuditSink
    proofs: ProofSource
    service: QuoteService


def load_policies(paths: Sequence[Path]) -> PolicySet:
    """The configured policy files, or the shipped default."""
    return load_paths(paths) if paths else default_policies()


def build_components(
    config: ServiceConfig,
    *,
    policies: PolicySet | None = None,
    clock: Clock = utc_now,
) -> Components:
    """Wire policies, the audit log and the quote service from `config`."""
    policies = policies or load_policies(config.policy_paths)
    if not config.audit_enabled:
        log.warning("audit_disabled", detail="quotes are NOT logged: benchmarks only")
        disabled = DisabledAuditSink(config.audit_origin)
        service = QuoteService(policies, disabled, clock)
        return Components(config, policies, disabled, NoProofs(), service)
    opened = open_service_log(config)
    service = QuoteService(policies, opened.sink, clock)
    opened.restore(service)
    sink, proofs = opened.sink, opened.proofs
    return Components(config, policies, sink, proofs, service)


def _credentials(config: ServiceConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    ca = config.tls_client_ca.read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def _options(config: ServiceConfig) -> list[tuple[str, int]]:
    return [("grpc.so_reuseport", 1 if config.so_reuseport else 0)]


@dataclass
class SyncServer:
    """A started sync server with its health servicer and bound port."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    components: Components

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, drain in-flight RPCs for `grace` seconds, then close the log."""
        self.health.enter_graceful_shutdown()
        self.server.stop(self.components.config.grace_seconds if grace is None else grace).wait()
        self.components.sink.close()


def _health(service_names: Sequence[str]) -> health.HealthServicer:
    servicer = health.HealthServicer()
    for name in service_names:
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer


def start_sync_server(components: Components) -> SyncServer:
    """Build, bind and start the thread-pool server; port 0 picks a free port."""
    config = components.config
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="rpc"),
        interceptors=[CanonicalLogInterceptor()],
        options=_options(config),
    )
    pb_grpc.add_PricingServiceServicer_to_server(
        PricingServicer(
            components.service,
            components.proofs,
            max_simulated_loans=config.simulate_max_loans,
        ),
        server,
    )
    health_servicer = _health(["", SERVICE_NAME])
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    creds = _credentials(config)
    port = (
        server.add_secure_port(config.listen, creds)
        if creds
        else server.add_insecure_port(config.listen)
    )
    server.start()
    return SyncServer(server, port, health_servicer, components)


@dataclass
class AioServer:
    """A started grpc.aio server."""

    server: grpc.aio.Server
    port: int
    health: health_aio.HealthServicer
    components: Components

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, drain, close the log."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.components.config.grace_seconds if grace is None else grace)
        self.components.sink.close()


async def start_aio_server(components: Components) -> AioServer:
    """Build, bind and start the grpc.aio server."""
    config = components.config
    server = grpc.aio.server(interceptors=[AioCanonicalLogInterceptor()], options=_options(config))
    pb_grpc.add_PricingServiceServicer_to_server(
        AioPricingServicer(
            components.service,
            components.proofs,
            max_simulated_loans=config.simulate_max_loans,
        ),
        server,
    )
    health_servicer = health_aio.HealthServicer()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    creds = _credentials(config)
    port = (
        server.add_secure_port(config.listen, creds)
        if creds
        else server.add_insecure_port(config.listen)
    )
    await server.start()
    return AioServer(server, port, health_servicer, components)
