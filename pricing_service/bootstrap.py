"""The composition root: config -> policies, audit sink, quote service, gRPC server."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from pricing_service.api.incoming import decode_document
from pricing_service.api.interceptors import AioCanonicalLogInterceptor, CanonicalLogInterceptor
from pricing_service.api.metrics import Metrics
from pricing_service.api.proofs import ProofSource
from pricing_service.api.servicers import (
    AioPricingServicer,
    PricingServicer,
    RpcCore,
    add_to_server,
)
from pricing_service.api.simulation_pool import SimulationPool
from pricing_service.audit.log_only import DisabledAuditSink
from pricing_service.audit.prove import InclusionProofResult
from pricing_service.audit.request_index import RequestIndex
from pricing_service.audit.sink import AuditSink, AuditUnavailableError
from pricing_service.config import ServiceConfig
from pricing_service.policy.store import PolicySet, default_policies, load_paths
from pricing_service.quoting.access import AccessPolicy, development_policy, from_table
from pricing_service.quoting.denials import DenialRecorder
from pricing_service.quoting.limits import Admission, LimitSettings
from pricing_service.quoting.reload import PolicyReloader
from pricing_service.quoting.service import Clock, QuoteService, utc_now
from pricing_service.quoting.service_log import open_service_log
from pricing_service.quoting.service_pglog import open_pg_service_log

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PricingService"].full_name
log = structlog.get_logger("pricing_service")


class NoProofs:
    """The proof source of a server running without a durable audit log."""

    def quote_proof(self, quote_id: str) -> InclusionProofResult:
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
    access: AccessPolicy
    index: RequestIndex | None = None  # the log's request-id index, closed with the log
    reloader: PolicyReloader | None = None  # SIGHUP and ReloadPolicy

    def close_log(self) -> None:
        """Close the audit log and its index (after the server has drained)."""
        self.sink.close()
        if self.index is not None:
            self.index.close()


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
    access = access_policy(config)  # a bad [access] table stops start-up here
    if not config.audit_enabled:
        log.warning("audit_disabled", detail="quotes are NOT logged: benchmarks only")
        disabled = DisabledAuditSink(config.audit_origin)
        service = QuoteService(policies, disabled, clock)
        return Components(
            config,
            policies,
            disabled,
            NoProofs(),
            service,
            access,
            None,
            _reloader(config, service),
        )
    opened = open_pg_service_log(config) if config.audit_dsn else open_service_log(config)
    service = QuoteService(policies, opened.sink, clock)
    opened.restore(service, decode_document, config.idempotency_window)
    sink, proofs = opened.sink, opened.proofs
    return Components(
        config, policies, sink, proofs, service, access, opened.index, _reloader(config, service)
    )


def _simulation_pool(config: ServiceConfig) -> SimulationPool | None:
    if config.simulation_workers == 0:
        return None
    return SimulationPool(config.simulation_workers, config.simulate_max_loans)


def _core(components: Components, metrics: Metrics, simulations: SimulationPool | None) -> RpcCore:
    """The RPCs' one implementation, which either server mode's shell runs; its metrics
    watch the same limits, log and policies it uses, and serve if configured."""
    config = components.config
    admission = Admission(
        LimitSettings(
            binding_in_flight=config.max_binding_in_flight,
            simulations_in_flight=config.max_simulations_in_flight,
            reads_in_flight=config.max_reads_in_flight,
            caller_rate_per_s=config.caller_rate_per_second,
            caller_burst=config.caller_burst,
        )
    )
    service = components.service
    denials = DenialRecorder(
        components.sink,
        service.clock,
        per_second=config.audit_denials_per_second,
        burst=config.audit_denials_burst,
    )
    metrics.watch(
        components.sink, admission, lambda: service.policies, service.clock, denials=denials
    )
    if config.metrics_listen:
        port = metrics.serve(config.metrics_listen)
        log.info("metrics_serving", listen=config.metrics_listen, port=port)
    return RpcCore(
        components.service,
        components.proofs,
        access=components.access,
        admission=admission,
        metrics=metrics,
        reloader=components.reloader,
        max_simulated_loans=config.simulate_max_loans,
        simulation_pool=simulations,
        denials=denials,
    )


def _loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def access_policy(config: ServiceConfig) -> AccessPolicy:
    """The configured permission table; without one, the development table on loopback
    and, anywhere else, a table that denies every call (secure by default)."""
    if config.access is not None:
        policy = from_table(config.access)
        log.info(
            "access_table", callers=sorted(policy.permissions), tokens=len(policy.token_hashes)
        )
        return policy
    if _loopback(config.listen):
        log.warning(
            "access_development",
            detail="no [access] table: every caller may do everything, x-caller-id names "
            "the caller; loopback only",
        )
        return development_policy()
    log.error(
        "access_closed",
        detail=f"no [access] table and {config.listen} is not loopback: every call is denied",
    )
    return AccessPolicy({})


def _reloader(config: ServiceConfig, service: QuoteService) -> PolicyReloader:
    """Reloads the configured files (the shipped default when none are configured)."""
    return PolicyReloader(service, lambda: load_policies(config.policy_paths))


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
    return [
        ("grpc.so_reuseport", 1 if config.so_reuseport else 0),
        ("grpc.max_receive_message_length", config.max_receive_message_bytes),
        ("grpc.max_send_message_length", config.max_send_message_bytes),
    ]


def _reflection(config: ServiceConfig, server: grpc.Server | grpc.aio.Server) -> None:
    if config.reflection:
        reflection.enable_server_reflection(
            [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )


@dataclass
class SyncServer:
    """A started sync server with its health servicer and bound port."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    components: Components
    metrics: Metrics
    simulations: SimulationPool | None = None

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, drain in-flight RPCs for `grace` seconds, then close the log."""
        self.health.enter_graceful_shutdown()
        self.server.stop(self.components.config.grace_seconds if grace is None else grace).wait()
        self.components.close_log()
        self.metrics.close()
        if self.simulations is not None:
            self.simulations.close()


def _health(service_names: Sequence[str]) -> health.HealthServicer:
    servicer = health.HealthServicer()
    for name in service_names:
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer


def start_sync_server(components: Components) -> SyncServer:
    """Build, bind and start the thread-pool server; port 0 picks a free port."""
    config = components.config
    metrics = Metrics()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="rpc"),
        interceptors=[CanonicalLogInterceptor(metrics)],
        options=_options(config),
    )
    simulations = _simulation_pool(config)
    add_to_server(PricingServicer(_core(components, metrics, simulations)), server)
    health_servicer = _health(["", SERVICE_NAME])
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    _reflection(config, server)
    creds = _credentials(config)
    port = (
        server.add_secure_port(config.listen, creds)
        if creds
        else server.add_insecure_port(config.listen)
    )
    server.start()
    return SyncServer(server, port, health_servicer, components, metrics, simulations)


@dataclass
class AioServer:
    """A started grpc.aio server."""

    server: grpc.aio.Server
    port: int
    health: health_aio.HealthServicer
    components: Components
    metrics: Metrics
    simulations: SimulationPool | None = None

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, drain, close the log."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.components.config.grace_seconds if grace is None else grace)
        self.components.close_log()
        self.metrics.close()
        if self.simulations is not None:
            self.simulations.close()


async def start_aio_server(components: Components) -> AioServer:
    """Build, bind and start the grpc.aio server."""
    config = components.config
    metrics = Metrics()
    server = grpc.aio.server(
        interceptors=[AioCanonicalLogInterceptor(metrics)], options=_options(config)
    )
    simulations = _simulation_pool(config)
    add_to_server(AioPricingServicer(_core(components, metrics, simulations)), server)
    health_servicer = health_aio.HealthServicer()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    _reflection(config, server)
    creds = _credentials(config)
    port = (
        server.add_secure_port(config.listen, creds)
        if creds
        else server.add_insecure_port(config.listen)
    )
    await server.start()
    return AioServer(server, port, health_servicer, components, metrics, simulations)
