"""Who may call what: identities from certificates and tokens, and the permission table.

Real TLS on loopback with certificates made here: the identity is the CN, else the first
URI SAN, else the first DNS SAN; a certificate naming nothing, another CA's, an expired
one, or none at all never gets an answer from the pricing service. Every RPC is tried by
every role of a table; a denial is PERMISSION_DENIED with ErrorInfo naming caller and method.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan.pricing.v1 import pricing_service_pb2_grpc as pb_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from live_support import FIXED_NOW

from pricing_service.bootstrap import access_policy, build_components, start_sync_server
from pricing_service.config import load_config
from pricing_service.quoting.access import AccessConfigError, from_table

NOW = dt.datetime.now(dt.UTC)
TOKENS = {
    "core-banking-01": "s3cret-quoter-token",
    "product-team": "s3cret-sim-token",
    "operator": "s3cret-ops-token",
}
TABLE: dict[str, Any] = {
    "permissions": {
        "core-banking-01": ["quote:standard", "read", "prove", "describe"],
        "product-team": ["simulate", "describe"],
        "auditor": ["read", "prove", "describe"],
        "operator": ["reload"],
        "spiffe://bank.example/pricing-client": ["describe"],
        "client.bank.example": ["describe"],
    },
    "tokens": {name: hashlib.sha256(t.encode()).hexdigest() for name, t in TOKENS.items()},
}


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    cn: str | None,
    sans: list[x509.GeneralName] | None = None,
    ca: bool = False,
    days: int = 1,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=2))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Pki:
    """A CA, the server's certificate, and client certificates of every kind under test."""

    def __init__(self, directory: Path) -> None:
        self.ca_key = _key()
        self.ca = _cert(self.ca_key, None, cn="ecoloan access CA", ca=True)
        server_key = _key()
        localhost: list[x509.GeneralName] = [x509.DNSName("localhost")]
        server = _cert(server_key, (self.ca, self.ca_key), cn="localhost", sans=localhost)
        (directory / "ca.pem").write_bytes(_pem(self.ca))
        (directory / "server.pem").write_bytes(_pem(server))
        (directory / "server.key").write_bytes(_pem_key(server_key))
        self.directory = directory

    def client(self, *, cn: str | None, sans: list[x509.GeneralName] | None = None,
               days: int = 1, own_ca: bool = False) -> tuple[bytes, bytes]:  # fmt: skip
        key = _key()
        if own_ca:
            other_key = _key()
            issuer = (_cert(other_key, None, cn="another CA", ca=True), other_key)
        else:
            issuer = (self.ca, self.ca_key)
        return _pem(_cert(key, issuer, cn=cn, sans=sans, days=days)), _pem_key(key)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Pki]]:
    directory = tmp_path_factory.mktemp("access")
    pki = Pki(directory)
    config = load_config(
        env={},
        listen="127.0.0.1:0",
        audit_dir=str(directory / "audit"),
        tls_cert=str(directory / "server.pem"),
        tls_key=str(directory / "server.key"),
        tls_client_ca=str(directory / "ca.pem"),
        access=TABLE,
        grace_seconds=1,
    )
    running = start_sync_server(build_components(config, clock=lambda: FIXED_NOW))
    try:
        yield running.port, pki
    finally:
        running.stop(grace=1)


def _describe(port: int, pki: Pki, cert: tuple[bytes, bytes] | None) -> grpc.StatusCode:
    creds = grpc.ssl_channel_credentials(
        root_certificates=_pem(pki.ca),
        private_key=cert[1] if cert else None,
        certificate_chain=cert[0] if cert else None,
    )
    with grpc.secure_channel(f"localhost:{port}", creds) as channel:
        try:
            pb_grpc.PricingServiceStub(channel).DescribePolicy(
                pb.DescribePolicyRequest(), timeout=5
            )
        except grpc.RpcError as exc:
            return cast(grpc.Call, exc).code()  # a failed unary call is also its Call
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("cn", "sans", "expected"),
    [
        ("auditor", None, grpc.StatusCode.OK),
        (None, [x509.UniformResourceIdentifier("spiffe://bank.example/pricing-client")], "OK"),
        (None, [x509.DNSName("client.bank.example")], "OK"),
        ("", [x509.DNSName("client.bank.example")], "OK"),  # an empty CN names no one
        (None, None, "UNAUTHENTICATED"),
        ("someone-else", None, "PERMISSION_DENIED"),
    ],
    ids=["cn", "uri-san", "dns-san", "empty-cn-dns-san", "no-identity", "not-in-table"],
)
def test_certificate_identity(
    tls: tuple[int, Pki], cn: str | None, sans: list[x509.GeneralName] | None, expected: Any
) -> None:
    port, pki = tls
    want = expected if isinstance(expected, grpc.StatusCode) else grpc.StatusCode[expected]
    assert _describe(port, pki, pki.client(cn=cn, sans=sans)) is want


def test_no_certificate_another_ca_and_expired_get_no_answer(tls: tuple[int, Pki]) -> None:
    port, pki = tls
    # The TLS handshake fails: the client sees the server as unavailable.
    for cert in (None, pki.client(cn="auditor", own_ca=True), pki.client(cn="auditor", days=-1)):
        assert _describe(port, pki, cert) is grpc.StatusCode.UNAVAILABLE


# -- tokens, without client certificates -----------------------------------------------------


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    directory = tmp_path_factory.mktemp("tokens")
    config = load_config(
        env={}, listen="127.0.0.1:0", audit_dir=str(directory), access=TABLE, grace_seconds=1
    )
    running = start_sync_server(build_components(config, clock=lambda: FIXED_NOW))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield channel
    finally:
        running.stop(grace=1)


def _standard_loan(product: str = "standard") -> pb.CreateQuoteRequest:
    req = pb.CreateQuoteRequest(
        request_id=f"access-{product}",
        borrower_id="B-ACCESS",
        product_id=product,
        credit_rating="AAA",
        principal_fen=10_000_000,
        term_months=12,
        repayment_method=pb.REPAYMENT_METHOD_INTEREST_ONLY_BULLET,
    )
    req.pricing_time.FromJsonString("2026-11-20T02:00:00Z")
    if product == "lvtanrong":
        req.carbon_grade.CopyFrom(
            pb.CarbonGrade(grade=1, assessed_on="2026-09-30", platform_id="p")
        )
    return req


CALLS: dict[str, tuple[str, Any]] = {
    "CreateQuote standard": ("CreateQuote", _standard_loan()),
    "CreateQuote lvtanrong": ("CreateQuote", _standard_loan("lvtanrong")),
    "GetQuote": ("GetQuote", pb.GetQuoteRequest(quote_id="q_" + "0" * 32)),
    "GetQuoteProof": ("GetQuoteProof", pb.GetQuoteProofRequest(quote_id="q_" + "0" * 32)),
    "ListProducts": ("ListProducts", pb.ListProductsRequest()),
    "DescribePolicy": ("DescribePolicy", pb.DescribePolicyRequest()),
    "SimulateQuotes": ("SimulateQuotes", pb.SimulateQuotesRequest(loans=[_standard_loan()])),
    "ReloadPolicy": ("ReloadPolicy", pb.ReloadPolicyRequest()),
}
# What each caller gets. NOT_FOUND: allowed, and the quote asked for does not exist.
MATRIX = {
    "core-banking-01": {
        "CreateQuote standard": "OK",
        "CreateQuote lvtanrong": "PERMISSION_DENIED",
        "GetQuote": "NOT_FOUND",
        "GetQuoteProof": "NOT_FOUND",
        "ListProducts": "OK",
        "DescribePolicy": "OK",
        "SimulateQuotes": "PERMISSION_DENIED",
        "ReloadPolicy": "PERMISSION_DENIED",
    },
    "product-team": {
        "CreateQuote standard": "PERMISSION_DENIED",
        "CreateQuote lvtanrong": "PERMISSION_DENIED",
        "GetQuote": "PERMISSION_DENIED",
        "GetQuoteProof": "PERMISSION_DENIED",
        "ListProducts": "OK",
        "DescribePolicy": "OK",
        "SimulateQuotes": "OK",
        "ReloadPolicy": "PERMISSION_DENIED",
    },
    "operator": dict.fromkeys(CALLS, "PERMISSION_DENIED") | {"ReloadPolicy": "OK"},
    "anonymous": dict.fromkeys(CALLS, "PERMISSION_DENIED"),
    "bad token": dict.fromkeys(CALLS, "UNAUTHENTICATED"),
}


def _call(channel: grpc.Channel, name: str, metadata: tuple[tuple[str, str], ...]) -> grpc.Call:
    method, request = CALLS[name]
    stub = pb_grpc.PricingServiceStub(channel)
    try:
        _, call = getattr(stub, method).with_call(request, metadata=metadata, timeout=10)
    except grpc.RpcError as exc:
        return cast(grpc.Call, exc)  # a failed unary call is also its Call
    return cast(grpc.Call, call)


def _metadata(who: str) -> tuple[tuple[str, str], ...]:
    # A self-asserted header is sent with every call: the table does not honour it.
    header = (("x-caller-id", "core-banking-01"),)
    if who == "anonymous":
        return header
    token = TOKENS.get(who, "not-a-token")
    return (("authorization", f"Bearer {token}"), *header)


@pytest.mark.parametrize("who", list(MATRIX))
def test_every_rpc_for_every_role(plain: grpc.Channel, who: str) -> None:
    got = {name: _call(plain, name, _metadata(who)).code().name for name in CALLS}
    assert got == MATRIX[who]


def test_a_denial_names_the_caller_and_method(plain: grpc.Channel) -> None:
    call = _call(plain, "CreateQuote lvtanrong", _metadata("core-banking-01"))
    status = rpc_status.from_call(call)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, dict(info.metadata)) == (
        "PERMISSION_DENIED",
        {"caller": "core-banking-01", "method": "CreateQuote"},
    )
    assert call.details() == "caller 'core-banking-01' may not call CreateQuote of 'lvtanrong'"


# -- configuration -----------------------------------------------------------------------------


def test_no_table_is_development_on_loopback_and_closed_elsewhere(tmp_path: Path) -> None:
    loopback = access_policy(load_config(env={}, listen="127.0.0.1:0", audit_dir=str(tmp_path)))
    assert (loopback.development, loopback.header_identity) == (True, True)
    anywhere = access_policy(load_config(env={}, listen="0.0.0.0:50051", audit_dir=str(tmp_path)))
    assert (dict(anywhere.permissions), anywhere.development) == ({}, False)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"permissions": {"x": ["fly"]}}, "access.permissions.x: unknown permission 'fly'"),
        ({"permissions": {"x": "quote"}}, "access.permissions.x: must be a list of permissions"),
        ({"permissions": {"x": ["read:y"]}}, "access.permissions.x: unknown permission 'read:y'"),
        ({"tokens": {"x": "plain-text"}}, "access.tokens.x: must be the SHA-256 hex digest"),
        ({"header_identity": "yes"}, "access.header_identity: must be true or false"),
        ({"roles": {}}, "access: unknown settings roles"),
    ],
)
def test_a_bad_table_is_refused_naming_the_setting(table: dict[str, Any], message: str) -> None:
    with pytest.raises(AccessConfigError, match="^" + message.replace("(", r"\(")):
        from_table(table)
