"""The Java client (clients/java) against the live service, checked against the Python client.

Builds the client with clients/java/build.sh into a temp dir (so the current sources are
what is tested), starts `pricing-service serve` on a free loopback port, runs the Java
example (clients/java/run-example.sh) and compares what it prints with what the Python
client gets for the very same requests: the rate, the quote id under the same request id,
the field violations, the ErrorInfo reason, and the audit position the proof is for.

Skipped, saying what is missing, only where javac or Debian's gRPC jars are absent (the
apt-get line is in clients/java/README.md; .ci/run installs them).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import (
    FailedPrecondition,
    InvalidArgument,
    PricingClient,
    carbon_emissions,
    carbon_grade,
    quote_request,
)

from pricing_service.audit.keys import load_verifier
from pricing_service.audit.note import generate_key

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
JAVA_DIR = ROOT / "clients" / "java"
BIN = Path(sys.executable).parent
# The Java example's fixed pricing instant (QuoteExample.DEFAULT_PRICING_TIME).
PRICING_TIME = "2026-11-20T10:00:00+08:00"
FORGED_REJECTED = "rejected reason=the audit path does not lead to the checkpoint's root hash"


def _java_missing() -> str | None:
    for tool in ("java", "javac", "jar", "protoc"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH"
    for path in ("/usr/bin/grpc_java_plugin", "/usr/include/google/protobuf/timestamp.proto"):
        if not Path(path).exists():
            return f"no {path}"
    jars = subprocess.run(
        [str(JAVA_DIR / "classpath.sh")], capture_output=True, text=True, timeout=30, check=False
    )
    if jars.returncode != 0:
        return " ".join(jars.stderr.split()) or f"classpath.sh exited {jars.returncode}"
    return None


@dataclass(frozen=True)
class JavaBuild:
    """A built Java client: run-example.sh runs it with BUILD_DIR set to `directory`."""

    directory: Path

    @property
    def has_tls(self) -> bool:
        return (self.directory / "native" / "libnetty_tcnative.so").exists()


@dataclass(frozen=True)
class JavaRun:
    """What one run of the Java example printed."""

    returncode: int
    lines: list[str]
    stderr: str
    seconds: float

    def __str__(self) -> str:
        out = "\n".join(self.lines)
        return f"exit {self.returncode}\n--- stdout\n{out}\n--- stderr\n{self.stderr[-3000:]}"

    def value(self, key: str) -> str:
        """The value of the one `key=value` line."""
        values = [line[len(key) + 1 :] for line in self.lines if line.startswith(f"{key}=")]
        assert len(values) == 1, f"want one {key}= line:\n{self}"
        return values[0]

    def with_prefix(self, prefix: str) -> list[str]:
        return [line[len(prefix) :] for line in self.lines if line.startswith(prefix)]


@dataclass(frozen=True)
class Server:
    """A `pricing-service serve` process and where to reach it."""

    target: str
    audit_dir: Path

    @property
    def vkey(self) -> Path:
        return self.audit_dir / "audit.vkey"


@pytest.fixture(scope="module")
def java_build(tmp_path_factory: pytest.TempPathFactory) -> JavaBuild:
    missing = _java_missing()
    if missing is not None:
        pytest.skip(
            f"Java client e2e needs javac and Debian's gRPC jars: {missing}. "
            "Install them with the apt-get line in clients/java/README.md (.ci/run does)."
        )
    directory = tmp_path_factory.mktemp("java-build")
    env = {**os.environ, "BUILD_DIR": str(directory), "PYTHON": sys.executable}
    built = subprocess.run(
        [str(JAVA_DIR / "build.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert built.returncode == 0, f"build.sh failed:\n{built.stdout}\n{built.stderr}"
    assert (directory / "ecoloan-pricing-client.jar").is_file()
    return JavaBuild(directory)


def run_java(build: JavaBuild, *args: str, timeout: float = 60) -> JavaRun:
    env = {**os.environ, "BUILD_DIR": str(build.directory)}
    started = time.monotonic()
    done = subprocess.run(
        [str(JAVA_DIR / "run-example.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    return JavaRun(
        done.returncode, done.stdout.splitlines(), done.stderr, time.monotonic() - started
    )


@contextmanager
def serve(directory: Path, **settings: str) -> Iterator[Server]:
    """Run the installed `pricing-service serve` on 127.0.0.1, port 0, until the block ends."""
    audit_dir = directory / "audit"
    log = directory / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICING_")}
    env["PRICING_LOG_FORMAT"] = "json"
    # Nothing balances load here: no need to linger NOT_SERVING before draining on SIGTERM.
    env["PRICING_SHUTDOWN_NOTICE_SECONDS"] = "0"
    env["PRICING_GRACE_SECONDS"] = "2"
    env.update({f"PRICING_{name.upper()}": value for name, value in settings.items()})
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                str(BIN / "pricing-service"),
                *("serve", "--listen", "127.0.0.1:0", "--audit-dir", str(audit_dir)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        port = _serving_port(proc, log, timeout=30)
        yield Server(f"127.0.0.1:{port}", audit_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _serving_port(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == "serving":
                    return int(record["port"])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"the server did not start serving:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def java_run(java_build: JavaBuild, server: Server) -> JavaRun:
    run = run_java(
        java_build,
        *("--target", server.target, "--public-key", str(server.vkey)),
        *("--request-id", "java-e2e-0001"),
    )
    assert run.returncode == 0, str(run)
    return run


@pytest.fixture
def python_client(server: Server) -> Iterator[PricingClient]:
    with PricingClient(server.target, default_timeout=5.0, caller_id="pytest") as client:
        yield client


def lvtanrong(request_id: str) -> pb.CreateQuoteRequest:
    """QuoteExample.lvtanrong: the README's worked example, as lvtanrong_quote.py sends it."""
    return quote_request(
        request_id=request_id,
        product_id="lvtanrong",
        borrower_id="XJ-ALU-0001",
        credit_rating="AA",
        principal_cny="10000000",
        term_months=12,
        repayment="equal-installment",
        pricing_time=PRICING_TIME,
        carbon_emissions=carbon_emissions(
            "electrolytic-aluminium",
            "1050000",
            output_quantity="200000",
            period_end="2026-06-30",
            platform_id="changji-carbon-account",
        ),
    )


# -- without a JVM ----------------------------------------------------------------------------


def _java_setters(source: str) -> dict[str, str]:
    """The literal argument of each `.setX(...)` call in QuoteExample.lvtanrong."""
    body = source.split("static CreateQuoteRequest lvtanrong(", 1)[1].split("\n  }\n", 1)[0]
    return dict(re.findall(r"\.set(\w+)\(([^()]*)\)", body))


def test_java_example_request_is_the_worked_example() -> None:
    # Runs where javac is absent too: the e2e tests below compare what the Java example
    # prints with this request, so its source must send exactly the README's borrower.
    source = (JAVA_DIR / "src/main/java/cn/ecoloan/pricing/example/QuoteExample.java").read_text()
    request = lvtanrong("unused")
    emissions = request.carbon_emissions
    assert _java_setters(source) == {
        "ProductId": f'"{request.product_id}"',
        "BorrowerId": '"XJ-ALU-0001"',
        "CreditRating": '"AA"',
        "PrincipalFen": "1_000_000_000L",
        "TermMonths": "12",
        "RepaymentMethod": "RepaymentMethod.REPAYMENT_METHOD_EQUAL_INSTALLMENT",
        "Industry": "Industry.INDUSTRY_ELECTROLYTIC_ALUMINIUM",
        "EmissionsTco2": f'"{emissions.emissions_tco2}"',
        "OutputQuantity": f'"{emissions.output_quantity}"',
        "PeriodEnd": f'"{emissions.period_end}"',
        "PlatformId": f'"{emissions.platform_id}"',
        "PricingTime": "pricingTime",
    }
    assert (request.borrower_id, request.principal_fen) == ("XJ-ALU-0001", 1_000_000_000)


# -- plaintext on loopback ----------------------------------------------------------------


def test_java_quote_has_the_python_clients_rate(
    java_run: JavaRun, python_client: PricingClient
) -> None:
    reference = python_client.create_quote(lvtanrong("python-e2e-0001")).quote
    # The README's worked example: K 0.5761, grade 1, 1.30 % against 3.30 %.
    assert java_run.value("rate") == reference.annual_rate == "1.30"
    assert java_run.value("ordinary_rate") == reference.ordinary_rate == "3.30"
    assert java_run.value("concession_bp") == reference.concession_bp == "200"
    assert java_run.value("carbon_grade") == str(reference.carbon.grade) == "1"
    assert java_run.value("carbon_k") == reference.carbon.efficiency_k == "0.5761"
    assert reference.first_year_concession_fen == 10_909_350  # 109,093.50 CNY
    assert java_run.value("quote_id") != reference.quote_id  # another request id, another quote


def test_java_sends_exactly_the_python_request(
    java_run: JavaRun, python_client: PricingClient
) -> None:
    # Under the Java run's request id the server answers with the Java quote only if the
    # request is the same one; any differing field would be REQUEST_ID_REUSED.
    again = python_client.create_quote(lvtanrong(java_run.value("request_id")))
    assert again.quote.quote_id == java_run.value("quote_id")
    assert again.audit_position.sequence == int(java_run.value("audit_sequence"))


def test_retried_request_id_returns_the_same_quote(java_run: JavaRun) -> None:
    quote_id = java_run.value("quote_id")
    assert re.fullmatch(r"q_[0-9a-f]{32}", quote_id)
    assert java_run.value("retry_quote_id") == quote_id
    assert java_run.value("fetched_quote_id") == quote_id
    assert java_run.value("fetched_rate") == java_run.value("rate")


def test_invalid_request_prints_the_servers_field_violations(
    java_run: JavaRun, python_client: PricingClient
) -> None:
    bad = pb.CreateQuoteRequest(
        borrower_id="",
        product_id="lvtanrong",
        credit_rating="AA",
        principal_fen=0,
        term_months=0,
        carbon_grade=carbon_grade(9, "2026-9-30", "changji-carbon-account"),
    )
    with pytest.raises(InvalidArgument) as info:
        python_client.create_quote(bad)
    assert java_run.value("invalid_code") == "INVALID_ARGUMENT"
    printed = java_run.with_prefix("violation ")
    assert printed == [f"field={f} description={d}" for f, d in info.value.field_violations]
    fields = [line.split(" ", 1)[0].removeprefix("field=") for line in printed]
    assert fields == [
        "borrower_id",
        "principal_fen",
        "term_months",
        "repayment_method",
        "carbon_grade.grade",
        "carbon_grade.assessed_on",
    ]


def test_ineligible_request_prints_the_error_info_reason(
    java_run: JavaRun, python_client: PricingClient
) -> None:
    grade4 = lvtanrong("python-e2e-grade4")
    grade4.ClearField("carbon_emissions")
    grade4.carbon_grade.CopyFrom(carbon_grade(4, "2026-09-30", "changji-carbon-account"))
    with pytest.raises(FailedPrecondition) as info:
        python_client.create_quote(grade4)
    assert java_run.value("ineligible_code") == "FAILED_PRECONDITION"
    assert java_run.value("error_reason") == info.value.reason == "CARBON_GRADE_INELIGIBLE"
    metadata = sorted(info.value.metadata.items())
    assert java_run.with_prefix("error_metadata ") == [f"{k}={v}" for k, v in metadata]


def test_quote_proof_verifies_with_the_logs_key(
    java_run: JavaRun, python_client: PricingClient, server: Server
) -> None:
    quote_id = java_run.value("quote_id")
    position = python_client.get_quote(quote_id).audit_position
    proof = re.fullmatch(
        r"verified tree_size=(\d+) leaf_index=(\d+) signature=verified", java_run.value("proof")
    )
    assert proof is not None, str(java_run)
    assert int(proof[2]) == position.sequence < int(proof[1])
    verifier = load_verifier(server.vkey)
    assert java_run.value("checkpoint_key") == f"{verifier.name}+{verifier.key_id:08x}"
    assert java_run.value("forged_record") == FORGED_REJECTED
    # The record the Java client proved names it as the caller (x-caller-id, no client cert).
    record = json.loads(python_client.get_quote_proof(quote_id).record)
    assert record["response"]["quote_id"] == quote_id
    assert record["caller"] == "java-example"
    assert record["peer"].startswith("ipv")


def test_proof_signed_by_another_key_is_refused(
    java_build: JavaBuild, server: Server, tmp_path: Path
) -> None:
    # Same name as the log's key, different key: the signature must not verify.
    _, impostor = generate_key(load_verifier(server.vkey).name)
    (tmp_path / "impostor.vkey").write_text(impostor + "\n")
    run = run_java(
        java_build,
        *("--target", server.target, "--public-key", str(tmp_path / "impostor.vkey")),
    )
    assert run.returncode == 1, str(run)
    assert run.value("proof").startswith("failed reason=the note has no signature by "), str(run)


def test_unreachable_server_is_retried_a_bounded_number_of_times(java_build: JavaBuild) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_java(java_build, "--target", f"127.0.0.1:{port}", "--timeout", "1", timeout=60)
    assert run.returncode == 1, str(run)
    assert run.value("failed").startswith("UNAVAILABLE attempts=4 "), str(run)
    assert run.seconds < 30  # 4 attempts, backoff capped at 2 s each: never unbounded


# -- mTLS -----------------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> bytes:
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
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_java_client_over_mtls(java_build: JavaBuild, tmp_path: Path) -> None:
    if not java_build.has_tls:
        pytest.skip(
            "TLS in the Java client needs libnetty-tcnative-java and libnetty-tcnative-jni "
            "(Debian's Netty has no JDK ALPN); .ci/run installs them"
        )
    ca_key, server_key, client_key = _key(), _key(), _key()
    ca_pem = _cert("ecoloan e2e CA", ca_key, None, ca_key, ca=True)
    ca = x509.load_pem_x509_certificate(ca_pem)
    files = {
        "ca.pem": ca_pem,
        "server.pem": _cert("localhost", server_key, ca, ca_key, server=True),
        "server-key.pem": _pkcs8(server_key),
        "client.pem": _cert("core-banking-01", client_key, ca, ca_key),
        "client-key.pem": _pkcs8(client_key),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    tls = {
        "tls_cert": str(tmp_path / "server.pem"),
        "tls_key": str(tmp_path / "server-key.pem"),
        "tls_client_ca": str(tmp_path / "ca.pem"),
    }
    with serve(tmp_path, **tls) as running:
        run = run_java(
            java_build,
            *("--target", running.target, "--public-key", str(running.vkey)),
            *("--ca", str(tmp_path / "ca.pem"), "--cert", str(tmp_path / "client.pem")),
            *("--key", str(tmp_path / "client-key.pem")),
        )
        assert run.returncode == 0, str(run)
        assert run.value("rate") == "1.30"
        assert run.value("retry_quote_id") == run.value("quote_id")
        assert run.value("proof").endswith(" signature=verified")
        creds = grpc.ssl_channel_credentials(
            root_certificates=files["ca.pem"],
            private_key=files["client-key.pem"],
            certificate_chain=files["client.pem"],
        )
        with PricingClient(running.target, credentials=creds, default_timeout=5.0) as client:
            record = json.loads(client.get_quote_proof(run.value("quote_id")).record)
        # The server identified the Java client by its certificate, not by x-caller-id.
        assert record["caller"] == "core-banking-01"
        assert record["peer"].startswith("ipv")
