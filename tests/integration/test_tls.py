"""TLS and mTLS: the server serves TLS from config, and an mTLS caller is identified by its cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc

from pricing_service.audit.sink import AuditEvent, AuditPosition
from pricing_service.bootstrap import Components, NoProofs, access_policy, start_sync_server
from pricing_service.config import load_config
from pricing_service.policy.store import default_policies
from pricing_service.quoting.service import QuoteService


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


class RecordingSink:
    """Keeps events in memory; this test is about transport, not the log."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def register_policy(self, digest: str, canonical: bytes) -> None:
        del digest, canonical

    def submit(self, event: AuditEvent) -> Future[AuditPosition]:
        self.events.append(event)
        done: Future[AuditPosition] = Future()
        done.set_result(AuditPosition("test", len(self.events) - 1, ""))
        return done

    def close(self) -> None:
        pass


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, bytes]:
    ca_key = _key()
    ca = _cert("ecoloan test CA", ca_key, None, ca_key, ca=True)
    server_key = _key()
    server = _cert("localhost", server_key, ca, ca_key, server=True)
    client_key = _key()
    client = _cert("core-banking-01", client_key, ca, ca_key)
    files = {
        "ca": ca.public_bytes(serialization.Encoding.PEM),
        "server_cert": server.public_bytes(serialization.Encoding.PEM),
        "server_key": _pem_key(server_key),
        "client_cert": client.public_bytes(serialization.Encoding.PEM),
        "client_key": _pem_key(client_key),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return files


@pytest.fixture
def mtls_server(tmp_path: Path, pki: dict[str, bytes]) -> Iterator[tuple[int, RecordingSink]]:
    config = load_config(
        env={},
        listen="127.0.0.1:0",
        audit_dir=str(tmp_path / "audit"),
        tls_cert=str(tmp_path / "server_cert"),
        tls_key=str(tmp_path / "server_key"),
        tls_client_ca=str(tmp_path / "ca"),
    )
    sink = RecordingSink()
    policies = default_policies()
    service = QuoteService(policies, sink)
    components = Components(config, policies, sink, NoProofs(), service, access_policy(config))
    running = start_sync_server(components)
    yield running.port, sink
    running.stop(grace=1)


def _request() -> pb.CreateQuoteRequest:
    req = pb.CreateQuoteRequest(
        borrower_id="B-1",
        product_id="standard",
        credit_rating="AAA",
        principal_fen=100_000_00,
        term_months=12,
        repayment_method=pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET,
    )
    req.pricing_time.FromJsonString("2026-11-20T02:00:00Z")
    return req


def test_mtls_caller_is_identified_by_certificate_common_name(
    mtls_server: tuple[int, RecordingSink], pki: dict[str, bytes]
) -> None:
    port, sink = mtls_server
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"],
        private_key=pki["client_key"],
        certificate_chain=pki["client_cert"],
    )
    with grpc.secure_channel(f"localhost:{port}", creds) as channel:
        response = pb_grpc.PricingServiceStub(channel).CreateQuote(_request(), timeout=5)
    assert response.quote.annual_rate == "3.00"
    # The identity and the transport peer are separate fields: an identity never reads as a peer.
    assert sink.events[0].caller == "core-banking-01"
    assert re.fullmatch(r"ipv4:127\.0\.0\.1:\d+|ipv6:\[::1\]:\d+", sink.events[0].peer)


def test_mtls_refuses_a_client_without_certificate(
    mtls_server: tuple[int, RecordingSink], pki: dict[str, bytes]
) -> None:
    port, sink = mtls_server
    creds = grpc.ssl_channel_credentials(root_certificates=pki["ca"])
    with (
        grpc.secure_channel(f"localhost:{port}", creds) as channel,
        pytest.raises(grpc.RpcError) as info,
    ):
        pb_grpc.PricingServiceStub(channel).CreateQuote(_request(), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    assert sink.events == []
