"""The fast path of replay says what today's path says: drawn requests (quotes and
refusals, well-formed and not), their records, and altered records.

`read_canonical` is held to the adapter (`decode_document(doc).to_domain()` and the
document it re-renders); `FastQuotes` to `replay_record` on the same line: it may only
ever say "identical" where `replay_record` finds no difference, and it must take every
unaltered quote the service can log (else it would be no faster).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from ecoloan.pricing.v1 import pricing_service_pb2 as pb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing_service.api.incoming import PbIncoming, decode_document
from pricing_service.audit.archive import PolicyArchive
from pricing_service.audit.reader import LogRecord, parse_record
from pricing_service.audit.record import canonical_json
from pricing_service.domain.errors import InvalidRequestError, PricingError
from pricing_service.policy.store import default_policy_bytes, load_policy_bytes
from pricing_service.quoting.canonical_request import read_canonical
from pricing_service.quoting.documents import dumps_canonical
from pricing_service.quoting.incoming import RequestDecodeError
from pricing_service.quoting.pricing import price_under
from pricing_service.quoting.refusals import error_record
from pricing_service.quoting.replay import (
    ArchivedPolicies,
    ReplayFilter,
    ReplayReport,
    replay_record,
)
from pricing_service.quoting.replay_fast import FastQuotes

POLICY, CANONICAL = load_policy_bytes(default_policy_bytes())
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_ids = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=70
) | st.sampled_from(["B-1", "91650000MA00000001", "借款人-甲", ' quo"te\\ '])
_dates = st.dates().map(lambda d: d.isoformat()) | st.sampled_from(
    ["2025-01-05", "2025-06-30", "2026-02-30", "2025-1-5", ""]
)
_decimals = st.sampled_from(
    ["0", "1", "12.5", "100", "100.0", "60.05", "0.000001", "-1", "1e3", "", "٣"]
) | st.decimals(min_value=0, max_value=10**7, places=3, allow_nan=False).map(str)


_names = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S")), min_size=1, max_size=40
)
_day = st.integers(0, 330)


@st.composite
def quotable(draw: st.DrawFn) -> pb.CreateQuoteRequest:
    """A request the default policy prices (mostly), of any product, method, fee, term."""
    product = draw(
        st.sampled_from(["standard", "lvtanrong", "lvtanrong", "mine_score", "transition"])
    )
    principal = draw(st.integers(10**6, 5 * 10**10))
    req = pb.CreateQuoteRequest(
        request_id=draw(_names),
        borrower_id=draw(_names),
        product_id=product,
        credit_rating=draw(st.sampled_from(["AAA", "AA", "A", "BBB", "BB", "B"])),
        principal_fen=principal,
        term_months=draw(st.sampled_from([6, 12, 60, 360]) | st.integers(1, 360)),
        repayment_method=pb.RepaymentMethod.ValueType(draw(st.sampled_from([1, 2, 3]))),
        upfront_fee_fen=draw(st.sampled_from([0, 0, 1]) | st.integers(0, principal // 50)),
    )
    day = draw(_day)
    req.pricing_time.seconds = 1748912400 + day * 86400 + draw(st.integers(0, 86399))
    req.pricing_time.nanos = draw(
        st.sampled_from([0, 100_000_000, 123_456_000, 123_456_789]) | st.integers(0, 10**9 - 1)
    )
    evidence_day = f"2025-{draw(st.integers(1, 5)):02d}-{draw(st.integers(1, 28)):02d}"
    if product == "lvtanrong" and draw(st.booleans()):
        req.carbon_grade.grade = draw(st.integers(1, 5))
        req.carbon_grade.assessed_on = evidence_day
        req.carbon_grade.platform_id = draw(_names)
    elif product == "lvtanrong":
        e = req.carbon_emissions
        e.industry = pb.Industry.ValueType(draw(st.integers(1, 6)))
        e.emissions_tco2 = str(draw(st.decimals(0, 10**7, places=1)))
        activity = str(draw(st.decimals("0.1", 10**6, places=2)))
        if e.industry in (pb.INDUSTRY_POWER, pb.INDUSTRY_ELECTROLYTIC_ALUMINIUM):
            e.output_quantity = activity
        else:
            e.value_added_10k_cny = activity
        e.period_end = evidence_day
        e.platform_id = draw(_names)
    elif product == "mine_score":
        m = req.mine_score
        m.score = str(draw(st.decimals(50, 100, places=1)))
        m.construction_class = draw(st.integers(1, 3))
        m.mandatory_indicators_passed = draw(st.booleans()) or draw(st.booleans())
        m.accepted_on = evidence_day
    elif product == "transition":
        t = req.transition_kpis
        before = draw(st.decimals(250, 350, places=1))
        t.annual_tco2_reduced = str(draw(st.decimals(0, 10**6, places=0)))
        t.coal_g_per_kwh_before = str(before)
        t.coal_g_per_kwh_after = str(draw(st.decimals(200, before, places=1)))
        t.verified_on = evidence_day
    return req


@st.composite
def anything(draw: st.DrawFn) -> pb.CreateQuoteRequest:
    """A CreateQuoteRequest of any of the default policy's products, often wrong somewhere."""
    req = pb.CreateQuoteRequest(
        request_id=draw(_ids),
        borrower_id=draw(_ids),
        product_id=draw(st.sampled_from(["standard", "lvtanrong", "mine_score", "transition"]))
        if draw(st.integers(0, 9))
        else draw(_ids),
        credit_rating=draw(st.sampled_from(["AAA", "AA", "A", "BBB", "BB", "B", "C", ""])),
        principal_fen=draw(st.sampled_from([0, -5, 1, 10**7, 10**11, 2**63 - 1]))
        if not draw(st.integers(0, 5))
        else draw(st.integers(1, 10**12)),
        term_months=draw(st.sampled_from([0, 1, 12, 60, 361, 400]) | st.integers(1, 360)),
        repayment_method=pb.RepaymentMethod.ValueType(draw(st.sampled_from([0, 1, 2, 3]))),
        upfront_fee_fen=draw(st.sampled_from([0, 0, 0, -1, 500, 10**6]) | st.integers(0, 10**8)),
    )
    seconds = draw(st.integers(946684800 - 10, 1830000000))
    req.pricing_time.seconds = seconds
    req.pricing_time.nanos = draw(
        st.sampled_from([0, 100_000_000, 123_456_000, 123_456_789, 5000])
        | st.integers(0, 10**9 - 1)
    )
    evidence = draw(st.sampled_from(["none", "grade", "emissions", "mine", "kpis", "both"]))
    if evidence in ("grade", "both"):
        req.carbon_grade.grade = draw(st.integers(0, 6))
        req.carbon_grade.assessed_on = draw(_dates)
        req.carbon_grade.platform_id = draw(_ids)
    if evidence in ("emissions", "both"):
        e = req.carbon_emissions
        e.industry = pb.Industry.ValueType(draw(st.integers(0, 6)))
        e.emissions_tco2 = draw(_decimals)
        if draw(st.booleans()):
            e.output_quantity = draw(_decimals)
        else:
            e.value_added_10k_cny = draw(_decimals)
        e.period_end = draw(_dates)
        e.platform_id = draw(_ids)
    if evidence == "mine":
        m = req.mine_score
        m.score = draw(_decimals)
        m.construction_class = draw(st.integers(0, 4))
        m.mandatory_indicators_passed = draw(st.booleans())
        m.accepted_on = draw(_dates)
    if evidence == "kpis":
        t = req.transition_kpis
        t.annual_tco2_reduced = draw(_decimals)
        t.coal_g_per_kwh_before = draw(_decimals)
        t.coal_g_per_kwh_after = draw(_decimals)
        t.verified_on = draw(_dates)
    return req


def requests() -> st.SearchStrategy[pb.CreateQuoteRequest]:
    """Quotes and refusals of every kind."""
    return quotable() | anything()


def _adapter(document: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """(domain request, re-rendered document) by the adapter, None if it refuses."""
    try:
        incoming = decode_document(document)
        return incoming.to_domain(), incoming.document()
    except (RequestDecodeError, InvalidRequestError):
        return None


@SETTINGS
@given(requests())
def test_the_canonical_reader_is_the_adapter_on_what_it_accepts(req: pb.CreateQuoteRequest) -> None:
    document = PbIncoming(req).document()
    fast = read_canonical(document)
    adapter = _adapter(document)
    if fast is not None:
        assert adapter is not None
        assert fast == adapter[0]
        assert adapter[1] == document
        # Its strings are printable: orjson writes the quote id's bytes as json does.
        assert orjson.dumps(document, option=orjson.OPT_SORT_KEYS) == dumps_canonical(document)
    elif adapter is not None:
        # What the adapter accepts and the reader does not: only a blank request_id.
        assert not document.get("request_id", "x").strip()


_MUTATIONS = (
    ("term_months", "12"),
    ("term_months", 12.0),
    ("term_months", True),
    ("principal_fen", 1000000),
    ("principal_fen", "01000000"),
    ("upfront_fee_fen", "0"),
    ("repayment_method", 1),
    ("pricing_time", "2025-08-02T05:45:10.100000Z"),
    ("pricing_time", "2025-08-02T13:45:10+08:00"),
    ("pricing_time", "2025-08-02T05:45:10.000Z"),
    ("request_id", ""),
    ("unknown_field", "x"),
)


@pytest.mark.parametrize(("key", "value"), _MUTATIONS)
def test_a_document_not_in_the_canonical_form_is_left_to_the_adapter(key: str, value: Any) -> None:
    document = {
        "borrower_id": "B-1",
        "credit_rating": "AA",
        "pricing_time": "2025-08-02T05:45:10.826610Z",
        "principal_fen": "1000000",
        "product_id": "standard",
        "repayment_method": "REPAYMENT_METHOD_EQUAL_INSTALLMENT",
        "request_id": "r-1",
        "term_months": 12,
    }
    assert read_canonical(document) is not None
    assert read_canonical(document | {key: value}) is None


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArchivedPolicies:
    logdir = tmp_path_factory.mktemp("fast")
    PolicyArchive(logdir).store(POLICY.digest, CANONICAL)
    return ArchivedPolicies(logdir)


def _line(req: pb.CreateQuoteRequest, seq: int) -> tuple[bytes, str]:
    """The record line the service would log for `req` (quote or refusal), and its kind."""
    incoming = PbIncoming(req)
    record: dict[str, Any] = {
        "caller": "bank",
        "code_version": "0.1.0",
        "origin": "test.example/fast",
        "peer": "",
        "policies": None,
        "policy_digest": POLICY.digest,
        "request": incoming.document(),
        "seq": seq,
        "time": "2026-12-08T00:00:00Z",
        "v": 2,
    }
    try:
        record |= {"kind": "quote", "response": price_under(incoming, POLICY).document}
        record["error"] = None
    except PricingError as exc:
        record |= {"kind": "refusal", "response": None, "error": dict(error_record(exc))}
    return canonical_json(record), record["kind"]


def _today(raw: bytes, seq: int, archive: ArchivedPolicies) -> ReplayReport:
    report = ReplayReport()
    rec = LogRecord("s", 1, seq, raw, parse_record(raw, "s", 1))
    replay_record(rec, archive, ReplayFilter(), report, decode=decode_document)
    return report


@SETTINGS
@given(requests(), st.integers(0, 10**6))
def test_the_fast_path_judges_as_today(
    archive: ArchivedPolicies, req: pb.CreateQuoteRequest, seq: int
) -> None:
    raw, kind = _line(req, seq)
    today = _today(raw, seq, archive)
    fast = ReplayReport()
    took = FastQuotes(archive, ReplayFilter()).replay(raw, seq, fast)
    if kind == "refusal" or read_canonical(PbIncoming(req).document()) is None:
        assert not took
        return
    assert took
    assert fast.to_json() == today.to_json()
    assert today.matched == 1
    # Another seq than its position: the reader's error is today's path's to raise.
    assert not FastQuotes(archive, ReplayFilter()).replay(raw, seq + 1, ReplayReport())


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


_VALID = pb.CreateQuoteRequest(
    request_id="r-1",
    borrower_id="XJ-ALU-0001",
    product_id="lvtanrong",
    credit_rating="AA",
    principal_fen=1_000_000_000,
    term_months=12,
    repayment_method=pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    upfront_fee_fen=1_000_000,
    carbon_emissions=pb.CarbonEmissions(
        industry=pb.INDUSTRY_ELECTROLYTIC_ALUMINIUM,
        emissions_tco2="1050000",
        output_quantity="200000",
        period_end="2026-06-30",
        platform_id="changji-carbon-account",
    ),
)
_VALID.pricing_time.FromJsonString("2026-11-20T02:00:00Z")


@SETTINGS
@given(st.data())
def test_an_altered_quote_is_left_to_today_which_reports_it_field_by_field(
    archive: ArchivedPolicies, data: st.DataObject
) -> None:
    raw, kind = _line(_VALID, 7)
    assert kind == "quote"
    record = orjson.loads(raw)
    # (A quote id that is no string makes the line no record: the reader's to refuse.)
    path = data.draw(
        st.sampled_from([p for p in _leaves(record["response"]) if p != ("quote_id",)])
    )
    new = data.draw(st.sampled_from(["0.01", "", 0, True, None, "步骤"]))
    altered = copy.deepcopy(record)
    node = altered["response"]
    for key in path[:-1]:
        node = node[key]
    if node[path[-1]] == new:
        return
    node[path[-1]] = new
    line = canonical_json(altered)
    assert not FastQuotes(archive, ReplayFilter()).replay(line, 7, ReplayReport())
    today = _today(line, 7, archive)
    field = "response"
    for key in path:
        field += f"[{key}]" if isinstance(key, int) else f".{key}"
    found = [(d.field, d.recorded, d.replayed) for d in today.differences]
    assert (field, new, _get(record["response"], path)) in found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def test_a_line_of_another_shape_is_left_to_today(archive: ArchivedPolicies) -> None:
    raw, _ = _line(_VALID, 3)
    record = orjson.loads(raw)
    fast = FastQuotes(archive, ReplayFilter())
    assert fast.replay(raw, 3, ReplayReport())
    changes: tuple[dict[str, Any], ...] = (
        {"v": 1},
        {"v": 3},
        {"error": {"code": "X"}},
        {"policies": {}},
        {"policy_digest": "ab" * 32},
        {"peer": 5},
        {"extra": 1},
    )
    for change in changes:
        assert not fast.replay(canonical_json(record | change), 3, ReplayReport()), change
    assert fast.replay(canonical_json(record | {"v": 3, "replica": "r1"}), 3, ReplayReport())
    assert not fast.replay(raw[:-1], 3, ReplayReport())


def test_the_selection_applies_on_the_fast_path(archive: ArchivedPolicies, tmp_path: Path) -> None:
    raw, _ = _line(_VALID, 0)
    for selection, selected in (
        (ReplayFilter(), 1),
        (ReplayFilter(product="standard"), 0),
        (ReplayFilter(borrower="XJ-ALU-0001"), 1),
    ):
        report = ReplayReport()
        assert FastQuotes(archive, selection).replay(raw, 0, report)
        assert (report.records, report.selected, report.matched) == (1, selected, selected)
        assert report.to_json() == _today_with(raw, archive, selection).to_json()


def _today_with(raw: bytes, archive: ArchivedPolicies, selection: ReplayFilter) -> ReplayReport:
    report = ReplayReport()
    rec = LogRecord("s", 1, 0, raw, parse_record(raw, "s", 1))
    replay_record(rec, archive, selection, report, decode=decode_document)
    return report
