"""`pricing`: quote, list products and describe policies over gRPC; validate policies offline.

Exit codes: 0 success, 1 the server refused or a check failed, 2 usage errors
(bad flags, unreadable files, malformed amounts or times).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from ecoloan_client import PricingClient, PricingClientError
from ecoloan_client import builders as build
from ecoloan_client.builders import INDUSTRY_CHOICES, REPAYMENT_CHOICES
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from pricing_service.cli import quote_render as render
from pricing_service.cli.audit import add_audit_commands
from pricing_service.cli.simulate_args import add_simulate_commands, normalise_argv
from pricing_service.domain.errors import PolicyError
from pricing_service.policy.store import load_paths

DEFAULT_TARGET = "127.0.0.1:50051"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A bad flag value or input file, found after argparse: exit code 2."""


# -- connection ----------------------------------------------------------------


def _client(args: argparse.Namespace) -> PricingClient:
    credentials = None
    if args.tls_ca or args.tls_cert or args.tls_key:
        if bool(args.tls_cert) != bool(args.tls_key):
            raise UsageError("--tls-cert and --tls-key go together (mTLS)")
        try:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=args.tls_ca.read_bytes() if args.tls_ca else None,
                private_key=args.tls_key.read_bytes() if args.tls_key else None,
                certificate_chain=args.tls_cert.read_bytes() if args.tls_cert else None,
            )
        except OSError as exc:
            raise UsageError(f"cannot read TLS file: {exc}") from None
    try:
        return PricingClient(
            args.target,
            credentials=credentials,
            default_timeout=args.timeout,
            max_attempts=args.attempts,
            caller_id=args.caller_id,
        )
    except ValueError as exc:  # --timeout 0, --attempts 0
        raise UsageError(str(exc)) from None


def _print_json(message: Message) -> None:
    # The protobuf JSON mapping (lowerCamelCase names, int64 as strings), as grpcurl prints it.
    print(json_format.MessageToJson(message, ensure_ascii=False, indent=2))


# -- pricing quote ---------------------------------------------------------------


def _read_request_file(path: Path) -> pb.CreateQuoteRequest:
    request = pb.CreateQuoteRequest()
    try:
        json_format.Parse(path.read_text(encoding="utf-8"), request)
    except OSError as exc:
        raise UsageError(f"--request: cannot read {path}: {exc.strerror or exc}") from None
    except json_format.ParseError as exc:
        raise UsageError(f"--request: {path} is not a CreateQuoteRequest in JSON: {exc}") from None
    return request


def _given(*values: object) -> bool:
    return any(v is not None for v in values)


def build_quote_request(args: argparse.Namespace) -> pb.CreateQuoteRequest:
    """The request of `pricing quote`: the --request file, then every flag given on top."""
    try:
        return _build_quote_request(args)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


def _build_quote_request(args: argparse.Namespace) -> pb.CreateQuoteRequest:
    request = _read_request_file(args.request) if args.request else pb.CreateQuoteRequest()
    scalars: dict[str, Any] = {
        "request_id": args.request_id,
        "product_id": args.product,
        "borrower_id": args.borrower,
        "credit_rating": args.rating,
        "term_months": args.term,
    }
    for field, value in scalars.items():
        if value is not None:
            setattr(request, field, value)
    if args.principal is not None:
        request.principal_fen = build.cny_to_fen(args.principal, "--principal")
    if args.fee is not None:
        request.upfront_fee_fen = build.cny_to_fen(args.fee, "--fee")
    if args.repayment is not None:
        request.repayment_method = build.repayment_method(args.repayment)
    if args.pricing_time is not None:
        try:
            request.pricing_time.CopyFrom(build.timestamp(args.pricing_time))
        except ValueError as exc:
            raise UsageError(f"--pricing-time: {exc}") from None

    platform_used = False
    if _given(args.carbon_grade, args.assessed_on) or (
        args.platform is not None and request.HasField("carbon_grade")
    ):
        grade = request.carbon_grade  # touching a sub-field marks the message present
        grade.SetInParent()
        if args.carbon_grade is not None:
            grade.grade = args.carbon_grade
        if args.assessed_on is not None:
            grade.assessed_on = args.assessed_on
        if args.platform is not None:
            grade.platform_id = args.platform
            platform_used = True
    if _given(args.industry, args.emissions, args.output, args.value_added, args.period_end) or (
        args.platform is not None and request.HasField("carbon_emissions")
    ):
        em = request.carbon_emissions
        em.SetInParent()
        if args.industry is not None:
            em.industry = build.industry(args.industry)
        if args.emissions is not None:
            em.emissions_tco2 = build.decimal_string(args.emissions, "--emissions")
        if args.output is not None:
            em.output_quantity = build.decimal_string(args.output, "--output")
        if args.value_added is not None:
            em.value_added_10k_cny = build.decimal_string(args.value_added, "--value-added")
        if args.period_end is not None:
            em.period_end = args.period_end
        if args.platform is not None:
            em.platform_id = args.platform
            platform_used = True
    if args.platform is not None and not platform_used:
        raise UsageError("--platform needs carbon-grade or emissions evidence to apply to")
    if _given(args.mine_score, args.mine_class, args.mine_accepted_on) or args.mine_failed:
        new = not request.HasField("mine_score")
        mine = request.mine_score
        mine.SetInParent()
        if new:
            # proto3's default False would mean "a mandatory indicator failed".
            mine.mandatory_indicators_passed = True
        if args.mine_score is not None:
            mine.score = build.decimal_string(args.mine_score, "--mine-score")
        if args.mine_class is not None:
            mine.construction_class = args.mine_class
        if args.mine_accepted_on is not None:
            mine.accepted_on = args.mine_accepted_on
        if args.mine_failed:
            mine.mandatory_indicators_passed = False
    if _given(args.tco2_reduced, args.coal_before, args.coal_after, args.verified_on):
        kpis = request.transition_kpis
        kpis.SetInParent()
        if args.tco2_reduced is not None:
            kpis.annual_tco2_reduced = build.decimal_string(args.tco2_reduced, "--tco2-reduced")
        if args.coal_before is not None:
            kpis.coal_g_per_kwh_before = build.decimal_string(args.coal_before, "--coal-before")
        if args.coal_after is not None:
            kpis.coal_g_per_kwh_after = build.decimal_string(args.coal_after, "--coal-after")
        if args.verified_on is not None:
            kpis.verified_on = args.verified_on
    return request


def cmd_quote(args: argparse.Namespace) -> int:
    """`pricing quote`: create a binding quote and print it."""
    request = build_quote_request(args)
    with _client(args) as client:
        response = client.create_quote(request)
    if args.json:
        _print_json(response)
    else:
        render.render_quote(render.console(), response.quote, response.audit_position)
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    """`pricing get QUOTE_ID`: fetch a binding quote by id."""
    with _client(args) as client:
        response = client.get_quote(args.quote_id)
    if args.json:
        _print_json(response)
    else:
        render.render_quote(render.console(), response.quote, response.audit_position)
    return EXIT_OK


def cmd_products(args: argparse.Namespace) -> int:
    """`pricing products`: the products of the policy in force."""
    with _client(args) as client:
        response = client.list_products(_as_of(args))
    if args.json:
        _print_json(response)
    else:
        render.render_products(render.console(), response)
    return EXIT_OK


def cmd_policy_describe(args: argparse.Namespace) -> int:
    """`pricing policy describe`: the policy in force, from the server."""
    with _client(args) as client:
        response = client.describe_policy(_as_of(args))
    document = response.policy_document
    if args.document:
        if not document:
            print("the server sent no policy document", file=sys.stderr)
            return EXIT_FAILED
        # Byte for byte what the digest is over: usable as a draft or a policy file.
        sys.stdout.flush()
        sys.stdout.buffer.write(document + (b"\n" if sys.stdout.isatty() else b""))
        sys.stdout.buffer.flush()
    elif args.json:
        described = json_format.MessageToDict(response)
        if document:  # the canonical JSON itself (UTF-8), not ~4 KB of base64
            described["policyDocument"] = json.loads(document)
        print(json.dumps(described, ensure_ascii=False, indent=2))
    else:
        render.render_policy_description(render.console(), response)
    return EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    """`pricing health`: print the server's health status; 0 only when SERVING."""
    with _client(args) as client:
        status = client.health(args.service)
    print(status)
    return EXIT_OK if status == "SERVING" else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    """`pricing status`: health, the policy in force, and (with --metrics) the log and load."""
    from pricing_service.cli.status import fetch_metrics, status_lines  # noqa: PLC0415

    with _client(args) as client:
        health = client.health()
        policy = client.describe_policy()
    text = fetch_metrics(args.metrics) if args.metrics else None
    rows = status_lines(health, policy, text)
    width = max(len(what) for what, _ in rows)
    for what, value in rows:
        print(f"{what:<{width}}  {value}")
    return EXIT_OK if health == "SERVING" else EXIT_FAILED


def _as_of(args: argparse.Namespace) -> Timestamp | None:
    if args.as_of is None:
        return None
    try:
        return build.timestamp(args.as_of)
    except ValueError as exc:
        raise UsageError(f"--as-of: {exc}") from None


# -- offline policy commands -------------------------------------------------------


def cmd_policy_validate(args: argparse.Namespace) -> int:
    """`pricing policy validate FILE...`: every problem of the documents, exit 1 if any."""
    try:
        policies = load_paths(args.files)
    except PolicyError as exc:
        render.render_problems(sys.stdout, exc.problems)
        return EXIT_FAILED
    for policy in policies.versions:
        print(f"ok  {policy.version}  effective {policy.effective_from}  sha256:{policy.digest}")
    return EXIT_OK


def cmd_policy_show(args: argparse.Namespace) -> int:
    """`pricing policy show FILE`: a summary of a policy document (validated first)."""
    try:
        policies = load_paths([args.file])
    except PolicyError as exc:
        render.render_problems(sys.stderr, exc.problems)
        return EXIT_FAILED
    if args.json:
        print(
            json.dumps(
                [json.loads(policies.canonical(p.digest)) for p in policies.versions],
                ensure_ascii=False,
                indent=2,
            )
        )
        return EXIT_OK
    out = render.console()
    for policy in policies.versions:
        render.render_policy_summary(out, policy, str(args.file))
    return EXIT_OK


# -- parser ------------------------------------------------------------------------


def _connection_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--target",
        metavar="HOST:PORT",
        default=os.environ.get("PRICING_TARGET", DEFAULT_TARGET),
        help="server host:port (env PRICING_TARGET; default %(default)s)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="deadline of each attempt, seconds (5)",
    )
    group.add_argument(
        "--attempts",
        type=int,
        metavar="N",
        default=4,
        help="attempts of retryable calls (reads; CreateQuote with --request-id) (4)",
    )
    group.add_argument(
        "--tls-ca", type=Path, metavar="PEM", help="PEM CA bundle: use TLS, verify the server"
    )
    group.add_argument(
        "--tls-cert", type=Path, metavar="PEM", help="PEM client certificate chain (mTLS)"
    )
    group.add_argument("--tls-key", type=Path, metavar="PEM", help="PEM client private key (mTLS)")
    group.add_argument(
        "--caller-id", metavar="ID", help="x-caller-id metadata recorded in the audit log"
    )
    return parent


def _add_quote_parser(sub: Any, conn: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "quote",
        parents=[conn],
        help="create a binding quote",
        description="Create a binding quote. Flags override the fields of --request.",
    )
    p.add_argument(
        "--request", type=Path, metavar="FILE.json", help="whole CreateQuoteRequest, protobuf JSON"
    )
    p.add_argument("--json", action="store_true", help="print the response as protobuf JSON")
    loan = p.add_argument_group("loan")
    loan.add_argument(
        "--product", metavar="ID", help="product id, e.g. lvtanrong (see `pricing products`)"
    )
    loan.add_argument("--borrower", metavar="ID", help="borrower id")
    loan.add_argument(
        "--rating", metavar="RATING", help="credit rating on the policy's scale, e.g. AA"
    )
    loan.add_argument("--principal", metavar="CNY", help="principal in CNY, e.g. 1000000.00")
    loan.add_argument("--term", type=int, metavar="MONTHS", help="term in months (1-360)")
    loan.add_argument("--repayment", choices=REPAYMENT_CHOICES, help="repayment method")
    loan.add_argument("--fee", metavar="CNY", help="upfront fee in CNY (enters annualised rate)")
    loan.add_argument(
        "--request-id", metavar="KEY", help="idempotency key; makes the call safely retryable"
    )
    loan.add_argument(
        "--pricing-time", metavar="RFC3339", help="e.g. 2026-11-20T10:00:00+08:00 (default: now)"
    )
    carbon = p.add_argument_group("carbon-account evidence (given grade)")
    carbon.add_argument("--carbon-grade", type=int, metavar="N", help="grade 1 (best) to 5")
    carbon.add_argument("--assessed-on", metavar="YYYY-MM-DD", help="assessment date")
    carbon.add_argument(
        "--platform", metavar="ID", help="carbon-account platform id (grade or emissions)"
    )
    em = p.add_argument_group("carbon-account evidence (computed from emissions)")
    em.add_argument("--industry", choices=INDUSTRY_CHOICES, help="benchmark industry")
    em.add_argument("--emissions", metavar="TCO2", help="period CO2 emissions, tonnes")
    em.add_argument("--output", metavar="QTY", help="physical output (MWh, t)")
    em.add_argument("--value-added", metavar="10K_CNY", help="value added, 万元")
    em.add_argument("--period-end", metavar="YYYY-MM-DD", help="last day of the period")
    mine = p.add_argument_group("mine acceptance evidence")
    mine.add_argument("--mine-score", metavar="S", help="acceptance score 0-100, one decimal")
    mine.add_argument("--mine-class", type=int, metavar="C", help="construction class 1-3")
    mine.add_argument("--mine-accepted-on", metavar="YYYY-MM-DD", help="acceptance date")
    mine.add_argument(
        "--mine-mandatory-failed",
        dest="mine_failed",
        action="store_true",
        help="a mandatory indicator failed",
    )
    kpi = p.add_argument_group("transition KPIs")
    kpi.add_argument("--tco2-reduced", metavar="T", help="annual tCO2 reduced")
    kpi.add_argument("--coal-before", metavar="G", help="net coal g/kWh before")
    kpi.add_argument("--coal-after", metavar="G", help="net coal g/kWh after")
    kpi.add_argument("--verified-on", metavar="YYYY-MM-DD", help="verification date")
    p.set_defaults(func=cmd_quote)


def build_parser() -> argparse.ArgumentParser:
    """The `pricing` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="pricing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    conn = _connection_options()
    _add_quote_parser(sub, conn)

    g = sub.add_parser("get", parents=[conn], help="fetch a binding quote by id")
    g.add_argument("quote_id", help="q_ followed by 32 hex digits")
    g.add_argument("--json", action="store_true", help="print the response as protobuf JSON")
    g.set_defaults(func=cmd_get)

    prod = sub.add_parser("products", parents=[conn], help="list the products in force")
    prod.add_argument("--as-of", metavar="RFC3339", help="instant whose policy is listed")
    prod.add_argument("--json", action="store_true", help="print the response as protobuf JSON")
    prod.set_defaults(func=cmd_products)

    h = sub.add_parser("health", parents=[conn], help="the server's gRPC health status")
    h.add_argument("--service", default="", metavar="NAME", help="service name ('' = whole server)")
    h.set_defaults(func=cmd_health)

    st = sub.add_parser("status", parents=[conn], help="health, policy, log position, metrics")
    st.add_argument(
        "--metrics", metavar="URL", help="the server's metrics, e.g. http://127.0.0.1:9464/metrics"
    )
    st.set_defaults(func=cmd_status)

    pol = sub.add_parser("policy", help="describe (server) or validate/show (offline) policies")
    psub = pol.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    d = psub.add_parser("describe", parents=[conn], help="the policy in force on the server")
    d.add_argument("--as-of", metavar="RFC3339", help="instant whose policy is described")
    d_out = d.add_mutually_exclusive_group()
    d_out.add_argument(
        "--json",
        action="store_true",
        help="print the response as protobuf JSON (policyDocument as a JSON object)",
    )
    d_out.add_argument(
        "--document",
        action="store_true",
        help="print only the canonical policy document, byte for byte (its SHA-256 is the "
        "digest): a file to edit and send as a draft",
    )
    d.set_defaults(func=cmd_policy_describe)
    v = psub.add_parser("validate", help="validate policy files offline, listing every problem")
    v.add_argument("files", nargs="+", type=Path, metavar="FILE", help="policy .toml or directory")
    v.set_defaults(func=cmd_policy_validate)
    s = psub.add_parser("show", help="summarise a policy file offline")
    s.add_argument("file", type=Path, metavar="FILE", help="policy .toml (or directory)")
    s.add_argument("--json", action="store_true", help="print the canonical JSON document")
    s.set_defaults(func=cmd_policy_show)

    add_audit_commands(sub)  # pricing audit ...: offline verify/prove (cli/audit.py)
    add_simulate_commands(sub, conn, _client, UsageError)  # cli/simulate_args.py
    return parser


def entry() -> None:
    """The `pricing` command: `main` in a process of its own."""
    # `pricing ... | head` should end quietly, as Unix tools do. Only here, never in
    # `main`: a process that calls `main` (a test, a notebook) and also writes to a pipe
    # whose reader died (a killed simulation worker's queue) would die of SIGPIPE.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    """The `pricing` command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(normalise_argv(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.func
    try:
        return int(handler(args))
    except UsageError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PricingClientError as exc:
        print("\n".join(exc.describe()), file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    entry()
