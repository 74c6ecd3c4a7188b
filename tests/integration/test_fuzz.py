"""Fuzz every RPC: 5,000 generated hostile requests and 500 raw byte strings.

Whatever arrives, the answer is a deliberate status — never UNKNOWN, never INTERNAL —
the server stays up, and afterwards the audit log verifies and replays with zero
differences. The generator is seeded, so a failure names a request that can be rebuilt.
Every field is drawn from values chosen to break parsers: huge, negative, zero,
exponents, NaN/Infinity, unicode and control characters, 100 kB strings, unknown enum
numbers, far dates and timestamps, and contradictory evidence (several kinds at once).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from google.protobuf.message import Message
from live_support import server_in_mode

from pricing_service.api.incoming import decode_document
from pricing_service.api.servicers import SERVICE
from pricing_service.audit.keys import load_verifier
from pricing_service.audit.reader import iter_records
from pricing_service.audit.verify import verify_log
from pricing_service.quoting.replay import ArchivedPolicies, replay_records

SEED = 20261207
REQUESTS = 5_000
RAW_BODIES = 500
TEXTS = (
    "", "x", "A" * 100_000, "绿碳融", "\x00\x07\x1b", "\u202eRTL", "NaN", "Infinity", "-Infinity",
    "-0", "1e5", "1E-7", "0.0000001", "9" * 40, "-1", " 1", "١٢٣", "1_000", "0x10", "12.",
    "500000", "1000000", "0.5", "2026-06-30", "AA", "lvtanrong", "mine_score", "standard",
    "transition", "q_" + "0" * 32,
)  # fmt: skip
INT32S = (0, 1, -1, 12, 36, 360, 361, 2**31 - 1, -(2**31))
INT64S = (*INT32S, 2**63 - 1, -(2**63), 100_000_000, 10**18)
ENUMS = (0, 1, 2, 3, 4, 5, 6, 99, -5, 2**31 - 1)
DATES = (
    "2026-06-30", "", "9999-12-31", "0001-01-01", "2026-02-30", "2026-6-30", "２０２６-06-30",
    "2026-06-30T00:00:00", "30/06/2026", "2026-13-01",
)  # fmt: skip
SECONDS = (0, 1_779_000_000, 1_795_000_000, -1, 10**15, -(10**15), 253402300799, 4102444800)
NANOS = (0, 1, 999_999_999, -1, 1_000_000_000, 2**31 - 1)
PRODUCTS = ("lvtanrong", "mine_score", "standard", "transition", "", "nope")


def _text(rng: random.Random) -> str:
    return rng.choice(TEXTS)


def _time(rng: random.Random, stamp: object) -> None:
    stamp.seconds = rng.choice(SECONDS)  # type: ignore[attr-defined]
    stamp.nanos = rng.choice(NANOS)  # type: ignore[attr-defined]


def create_request(rng: random.Random) -> pb.CreateQuoteRequest:
    r = pb.CreateQuoteRequest(
        request_id=rng.choice(("", f"fuzz-{rng.randrange(200)}", _text(rng))),
        borrower_id=rng.choice(("B-1", _text(rng))),
        product_id=rng.choice(PRODUCTS),
        credit_rating=rng.choice(("AA", "AAA", "BB", "ZZ", _text(rng))),
        principal_fen=rng.choice(INT64S),
        term_months=rng.choice(INT32S) if rng.random() < 0.5 else rng.randrange(-3, 400),
        repayment_method=rng.choice(ENUMS),  # type: ignore[arg-type]
        upfront_fee_fen=rng.choice(INT64S),
    )
    if rng.random() < 0.8:
        _time(rng, r.pricing_time)
    # Evidence: none, one kind, or several at once (contradictory).
    for kind in rng.sample(["grade", "emissions", "mine", "kpis"], rng.randrange(0, 5)):
        if kind == "grade":
            r.carbon_grade.grade = rng.choice(ENUMS)
            r.carbon_grade.assessed_on = rng.choice(DATES)
            r.carbon_grade.platform_id = _text(rng)
        elif kind == "emissions":
            e = r.carbon_emissions
            e.industry = rng.choice(ENUMS)  # type: ignore[assignment]
            e.emissions_tco2, e.output_quantity = _text(rng), _text(rng)
            e.value_added_10k_cny, e.platform_id = _text(rng), _text(rng)
            e.period_end = rng.choice(DATES)
        elif kind == "mine":
            m = r.mine_score
            m.score = rng.choice(("90", "59.9", "100", "100.0", "90.05", _text(rng)))
            m.construction_class = rng.choice(ENUMS)
            m.mandatory_indicators_passed = rng.random() < 0.5
            m.accepted_on = rng.choice(DATES)
        else:
            k = r.transition_kpis
            k.annual_tco2_reduced, k.coal_g_per_kwh_before = _text(rng), _text(rng)
            k.coal_g_per_kwh_after, k.verified_on = _text(rng), rng.choice(DATES)
    return r


def other_request(rng: random.Random) -> tuple[str, Message]:
    method = rng.choice(("GetQuote", "GetQuoteProof", "ListProducts", "DescribePolicy", "Sim"))
    if method in ("GetQuote", "GetQuoteProof"):
        quote_id = rng.choice(("q_" + "f" * 32, "", "q_", _text(rng)))
        if method == "GetQuote":
            return method, pb.GetQuoteRequest(quote_id=quote_id)
        return method, pb.GetQuoteProofRequest(quote_id=quote_id)
    if method == "Sim":
        sim = pb.SimulateQuotesRequest(loans=[create_request(rng) for _ in range(rng.randrange(4))])
        if rng.random() < 0.3:
            sim.draft_policy = rng.choice(
                (b"", b"[", b"\xff\xfe", b"version = 1", b"{}", b"x" * 5000)
            )
        return "SimulateQuotes", sim
    listing = pb.ListProductsRequest() if method == "ListProducts" else pb.DescribePolicyRequest()
    if rng.random() < 0.7:
        _time(rng, listing.as_of)
    return method, listing


def raw_body(rng: random.Random) -> bytes:
    size = rng.choice((0, 1, 2, 5, 17, 64, 300))
    body = bytes(rng.randrange(256) for _ in range(size))
    if rng.random() < 0.3:  # a valid message with bytes spliced in: deeper in the parser
        body = create_request(rng).SerializeToString()[: rng.randrange(1, 50)] + body
    return body


def _code(call: Callable[[], object]) -> str:
    try:
        call()
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        return code.name if code is not None else "NO_STATUS"
    return "OK"


def test_fuzz_every_rpc_never_unknown_or_internal(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    logdir = tmp_path / "audit"
    calls: list[Callable[[], object]] = []
    with server_in_mode(logdir, "sync") as target, grpc.insecure_channel(target) as channel:

        def send(method: str, body: bytes) -> Callable[[], object]:
            call = channel.unary_unary(
                f"/{SERVICE}/{method}", request_serializer=None, response_deserializer=None
            )
            return lambda: call(body, timeout=30)

        for _ in range(REQUESTS):
            request: Message
            if rng.random() < 0.6:
                method, request = "CreateQuote", create_request(rng)
            else:
                method, request = other_request(rng)
            calls.append(send(method, request.SerializeToString()))
        names = ("CreateQuote", "GetQuote", "ListProducts", "DescribePolicy", "GetQuoteProof")
        for i in range(RAW_BODIES):
            calls.append(send([*names, "SimulateQuotes"][i % 6], raw_body(rng)))
        with ThreadPoolExecutor(8) as pool:
            codes = Counter(pool.map(_code, calls))
        assert _code(send("ListProducts", b"")) == "OK"  # still up
    assert sum(codes.values()) == REQUESTS + RAW_BODIES
    assert (codes["UNKNOWN"], codes["INTERNAL"]) == (0, 0), codes
    assert codes["INVALID_ARGUMENT"] > REQUESTS // 2  # the generator is hostile, as meant
    report = verify_log(logdir, load_verifier(logdir / "audit.vkey"), full=True)
    assert report.ok, report
    replay = replay_records(iter_records(logdir), ArchivedPolicies(logdir), decode=decode_document)
    assert replay.differences == []
    assert replay.records == replay.matched > 0
