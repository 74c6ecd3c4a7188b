"""Portfolio files (CSV, Parquet) and the synthetic portfolio generator."""

from __future__ import annotations

import collections
import csv
import io
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing_service.domain.evidence import Industry, RepaymentMethod
from pricing_service.domain.policy import Policy
from pricing_service.simulate.generator import BENCHMARK_MICRO, generate_portfolio, quotas
from pricing_service.simulate.portfolio import ABSENT, Portfolio
from pricing_service.simulate.portfolio_io import (
    FILE_COLUMNS,
    RESULT_COLUMNS,
    PortfolioError,
    RowProblem,
    bp_text,
    csv_reader,
    percent_text,
    read_portfolio,
    schema,
    write_portfolio,
    write_results,
)
from pricing_service.simulate.reference import price_portfolio_scalar

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
BEIJING = timezone(timedelta(hours=8))
SAMPLE_AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=BEIJING).astimezone(UTC)
HEADER = ",".join(FILE_COLUMNS)


def same(a: Portfolio, b: Portfolio) -> None:
    """Column by column: same dtype, same values (NaT equal to NaT)."""
    for f in fields(Portfolio):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype, f.name
        if x.dtype.kind == "M":
            assert np.array_equal(x, y, equal_nan=True), f.name
        else:
            assert x.tolist() == y.tolist(), f.name


@pytest.fixture(params=["arrow", "csv-module"])
def tokeniser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every CSV test runs with pyarrow's tokeniser and with the csv module's."""
    monkeypatch.setattr(csv_reader, "USE_ARROW_CSV", request.param == "arrow")
    return str(request.param)


def csv_file(tmp_path: Path, text: str, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def row(**cells: str) -> str:
    """A data line in FILE_COLUMNS order, quoted where CSV needs it; unnamed cells empty."""
    unknown = set(cells) - set(FILE_COLUMNS)
    assert not unknown, unknown
    out = io.StringIO()
    # The default "\r\n" terminator makes the writer quote line breaks in cells.
    csv.writer(out).writerow([cells.get(c, "") for c in FILE_COLUMNS])
    return out.getvalue().removesuffix("\r\n")


STANDARD = {
    "loan_id": "L1",
    "borrower_id": "B1",
    "product_id": "standard",
    "credit_rating": "AA",
    "principal_fen": "100000000",
    "term_months": "12",
    "repayment": "equal_installment",
}


def with_rows(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


# ---------------------------------------------------------------------------
# Reading a hand-written file exactly

HAND = with_rows(
    row(
        loan_id="CJ-1",
        borrower_id="昌吉-甲",
        product_id="lvtanrong",
        credit_rating="A",
        industry="chemicals",
        principal_fen="250000000",
        term_months="24",
        repayment="equal_principal",
        upfront_fee_fen="125000",
        carbon_grade="2",
        carbon_assessed_on="2026-06-30",
    ),
    row(
        loan_id="CJ-2",
        borrower_id="B, with comma",
        product_id="lvtanrong",
        credit_rating="BBB",
        industry="power",
        principal_fen="800000000",
        term_months="36",
        repayment="equal_installment",
        emissions_tco2="3508000.5",
        output_quantity="4000000",
        value_added_10k_cny="0.000001",
        emissions_period_end="2026-09-30",
    ),
    row(
        loan_id="CJ-3",
        borrower_id="B3",
        product_id="mine_score",
        credit_rating="AAA",
        industry="other",
        principal_fen="500000000",
        term_months="60",
        repayment="interest_only_bullet",
        mine_score="87.50",
        construction_class="2",
        mandatory_passed="No",
        mine_accepted_on="2026-04-15",
    ),
    row(
        loan_id="CJ-4",
        borrower_id="B4",
        product_id="transition",
        credit_rating="B",
        principal_fen="30000000000",
        term_months="-7",
        repayment="equal_principal",
        annual_tco2_reduced="786800",
        coal_g_per_kwh_before="305.2",
        coal_g_per_kwh_after="0",
        kpis_verified_on="2026-10-10",
    ),
)


def test_hand_written_csv_reads_exactly(tmp_path: Path, tokeniser: str) -> None:
    load = read_portfolio(csv_file(tmp_path, HAND))
    assert load.problems == []
    assert load.skipped == 0
    assert load.rows == 4
    p = load.portfolio
    assert p.loan_id.tolist() == ["CJ-1", "CJ-2", "CJ-3", "CJ-4"]
    assert p.borrower_id.tolist() == ["昌吉-甲", "B, with comma", "B3", "B4"]
    assert p.product_id.tolist() == ["lvtanrong", "lvtanrong", "mine_score", "transition"]
    assert p.credit_rating.tolist() == ["A", "BBB", "AAA", "B"]
    assert p.industry.tolist() == ["chemicals", "power", "other", ""]
    assert p.principal_fen.tolist() == [250_000_000, 800_000_000, 500_000_000, 30_000_000_000]
    assert p.term_months.tolist() == [24, 36, 60, -7]
    assert p.repayment.tolist() == [
        "equal_principal",
        "equal_installment",
        "interest_only_bullet",
        "equal_principal",
    ]
    assert p.upfront_fee_fen.tolist() == [125_000, 0, 0, 0]
    assert p.carbon_grade.tolist() == [2, ABSENT, ABSENT, ABSENT]
    assert p.carbon_assessed_on.astype(str).tolist() == ["2026-06-30", "NaT", "NaT", "NaT"]
    assert p.emissions_tco2.tolist() == [ABSENT, 3_508_000_500_000, ABSENT, ABSENT]
    assert p.output_quantity.tolist() == [ABSENT, 4_000_000_000_000, ABSENT, ABSENT]
    assert p.value_added_10k_cny.tolist() == [ABSENT, 1, ABSENT, ABSENT]
    assert p.emissions_period_end.astype(str).tolist() == ["NaT", "2026-09-30", "NaT", "NaT"]
    assert p.mine_score_tenths.tolist() == [ABSENT, ABSENT, 875, ABSENT]
    assert p.construction_class.tolist() == [ABSENT, ABSENT, 2, ABSENT]
    assert p.mandatory_passed.tolist() == [False, False, False, False]
    assert p.mine_accepted_on.astype(str).tolist() == ["NaT", "NaT", "2026-04-15", "NaT"]
    assert p.annual_tco2_reduced.tolist() == [ABSENT, ABSENT, ABSENT, 786_800_000_000]
    assert p.coal_g_per_kwh_before.tolist() == [ABSENT, ABSENT, ABSENT, 305_200_000]
    assert p.coal_g_per_kwh_after.tolist() == [ABSENT, ABSENT, ABSENT, 0]
    assert p.kpis_verified_on.astype(str).tolist() == ["NaT", "NaT", "NaT", "2026-10-10"]


def test_columns_in_any_order_optional_ones_omitted(tmp_path: Path, tokeniser: str) -> None:
    text = (
        "repayment,term_months,principal_fen,credit_rating,product_id,borrower_id,loan_id\n"
        "equal_principal,6,1,BB,standard,B9,L9\n"
    )
    p = read_portfolio(csv_file(tmp_path, text)).portfolio
    assert p.loan_id.tolist() == ["L9"]
    assert p.repayment.tolist() == ["equal_principal"]
    assert p.term_months.tolist() == [6]
    assert p.principal_fen.tolist() == [1]
    assert p.upfront_fee_fen.tolist() == [0]
    assert p.industry.tolist() == [""]
    assert p.mine_score_tenths.tolist() == [ABSENT]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("0", False),
    ],
)
def test_booleans(tmp_path: Path, text: str, value: bool) -> None:
    mine = {
        "mine_score": "70.0",
        "construction_class": "1",
        "mandatory_passed": text,
        "mine_accepted_on": "2026-01-01",
    }
    load = read_portfolio(csv_file(tmp_path, with_rows(row(**STANDARD, **mine))))
    assert load.problems == []
    assert load.portfolio.mandatory_passed.tolist() == [value]


def test_byte_order_mark_blank_lines_and_empty_rows(tmp_path: Path, tokeniser: str) -> None:
    # Rows of only empty cells hold no loan: passed over, but counted in the numbering.
    empty = "," * (len(FILE_COLUMNS) - 1)
    lines = [row(**STANDARD), empty, row(**{**STANDARD, "loan_id": "L2", "term_months": "x"})]
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + with_rows(*lines).encode())
    load = read_portfolio(path)
    assert load.portfolio.loan_id.tolist() == ["L1"]
    assert load.problems == [
        RowProblem(
            4, "term_months", "must be an integer like 120 (ASCII digits, no separators), got 'x'"
        )
    ]
    assert load.rows == 2


def test_blank_line_keeps_row_numbers(tmp_path: Path, tokeniser: str) -> None:
    bad = row(**{**STANDARD, "loan_id": "L2", "principal_fen": "0"})
    load = read_portfolio(csv_file(tmp_path, with_rows(row(**STANDARD), "", "", bad)))
    assert load.problems == [RowProblem(5, "principal_fen", "must be > 0, got 0")]
    assert load.rows == 2


def test_quoted_line_break_does_not_start_a_row(tmp_path: Path, tokeniser: str) -> None:
    broken = row(**{**STANDARD, "loan_id": "L2", "borrower_id": "B\nB"})
    text = with_rows(
        row(**STANDARD), broken, row(**{**STANDARD, "loan_id": "L3", "term_months": ""})
    )
    load = read_portfolio(csv_file(tmp_path, text))
    assert load.problems == [
        RowProblem(
            3,
            "borrower_id",
            "must not contain control, format or separator characters: 'B\\nB'",
        ),
        RowProblem(4, "term_months", "required"),
    ]


# ---------------------------------------------------------------------------
# Bad rows: exact row, field and message

BAD_CELLS: list[tuple[dict[str, str], str, str]] = [
    ({"loan_id": ""}, "loan_id", "required"),
    ({"borrower_id": "   "}, "borrower_id", "required"),
    ({"product_id": "p" * 65}, "product_id", "at most 64 characters, got 65"),
    (
        {"credit_rating": "AA\u202e"},
        "credit_rating",
        ("must not contain control, format or separator characters: 'AA\\u202e'"),
    ),
    ({"principal_fen": "0"}, "principal_fen", "must be > 0, got 0"),
    (
        {"principal_fen": "1,000"},
        "principal_fen",
        ("must be an integer like 120 (ASCII digits, no separators), got '1,000'"),
    ),
    (
        {"principal_fen": "１２"},
        "principal_fen",
        ("must be an integer like 120 (ASCII digits, no separators), got '１２'"),
    ),
    (
        {"principal_fen": "1" * 19},
        "principal_fen",
        ("must be an integer like 120 (ASCII digits, no separators), got '1111111111111111111'"),
    ),
    (
        {"term_months": "12.0"},
        "term_months",
        ("must be an integer like 120 (ASCII digits, no separators), got '12.0'"),
    ),
    ({"upfront_fee_fen": "-1"}, "upfront_fee_fen", "must be >= 0, got -1"),
    (
        {"repayment": "monthly"},
        "repayment",
        (
            "unknown repayment 'monthly'; one of equal_installment, equal_principal, "
            "interest_only_bullet"
        ),
    ),
    ({"repayment": ""}, "repayment", "required"),
    (
        {"industry": "Power"},
        "industry",
        (
            "unknown industry 'Power'; one of power, electrolytic_aluminium, chemicals, "
            "petrochemicals, coking, other"
        ),
    ),
    (
        {"carbon_grade": "6", "carbon_assessed_on": "2026-01-01"},
        "carbon_grade",
        ("must be 1 to 5, got 6"),
    ),
    (
        {"carbon_grade": "2", "carbon_assessed_on": "2026-02-30"},
        "carbon_assessed_on",
        ("not a calendar date: '2026-02-30'"),
    ),
    (
        {"carbon_grade": "2", "carbon_assessed_on": "2026-1-05"},
        "carbon_assessed_on",
        ("must be a date YYYY-MM-DD, got '2026-1-05'"),
    ),
    (
        {"carbon_grade": "2", "carbon_assessed_on": "2026-01-05T00:00"},
        "carbon_assessed_on",
        ("must be a date YYYY-MM-DD, got '2026-01-05T00:00'"),
    ),
]
EMISSIONS = {"industry": "power", "emissions_period_end": "2026-06-30", "output_quantity": "100"}
MINE = {"construction_class": "1", "mandatory_passed": "true", "mine_accepted_on": "2026-06-30"}
KPIS = {
    "coal_g_per_kwh_before": "300",
    "coal_g_per_kwh_after": "290",
    "kpis_verified_on": "2026-06-30",
}
BAD_CELLS += [
    (
        {**EMISSIONS, "emissions_tco2": "1.5e3"},
        "emissions_tco2",
        ("exponent notation is not accepted, write a plain decimal like 1234.5: '1.5e3'"),
    ),
    (
        {**EMISSIONS, "emissions_tco2": "1E-2"},
        "emissions_tco2",
        ("exponent notation is not accepted, write a plain decimal like 1234.5: '1E-2'"),
    ),
    (
        {**EMISSIONS, "emissions_tco2": "1.1234567"},
        "emissions_tco2",
        ("at most 6 decimals, got '1.1234567'"),
    ),
    ({**EMISSIONS, "emissions_tco2": "-3"}, "emissions_tco2", "must not be negative, got '-3'"),
    (
        {**EMISSIONS, "emissions_tco2": "+3"},
        "emissions_tco2",
        ("must be a plain decimal like 1234.5 (no sign, exponent or separators), got '+3'"),
    ),
    (
        {**EMISSIONS, "emissions_tco2": ".5"},
        "emissions_tco2",
        ("must be a plain decimal like 1234.5 (no sign, exponent or separators), got '.5'"),
    ),
    (
        {**EMISSIONS, "emissions_tco2": "1,234.5"},
        "emissions_tco2",
        ("must be a plain decimal like 1234.5 (no sign, exponent or separators), got '1,234.5'"),
    ),
    (
        {**EMISSIONS, "emissions_tco2": "NaN"},
        "emissions_tco2",
        ("must be a plain decimal like 1234.5 (no sign, exponent or separators), got 'NaN'"),
    ),
    (
        {**EMISSIONS, "emissions_tco2": "1000000000000"},
        "emissions_tco2",
        ("must be below 10^12, got '1000000000000'"),
    ),
    (
        {**EMISSIONS, "emissions_tco2": "1" * 16},
        "emissions_tco2",
        ("at most 15 digits before the point, got '1111111111111111'"),
    ),
    (
        {**EMISSIONS, "emissions_tco2": "5", "output_quantity": "0.000"},
        "output_quantity",
        ("must be > 0, got '0.000'"),
    ),
    ({**MINE, "mine_score": "100.5"}, "mine_score", "must be 0 to 100, got '100.5'"),
    ({**MINE, "mine_score": "87.55"}, "mine_score", "at most one decimal, got '87.55'"),
    ({**MINE, "mine_score": "-1"}, "mine_score", "must not be negative, got '-1'"),
    (
        {**MINE, "mine_score": "80", "construction_class": "4"},
        "construction_class",
        ("must be 1 to 3, got 4"),
    ),
    (
        {**MINE, "mine_score": "80", "mandatory_passed": "y"},
        "mandatory_passed",
        ("must be true/false, yes/no or 1/0, got 'y'"),
    ),
    (
        {**KPIS, "annual_tco2_reduced": "20000", "coal_g_per_kwh_before": "0"},
        "coal_g_per_kwh_before",
        "must be > 0, got '0'",
    ),
    # Evidence groups: a key needs its companions, a companion needs its key.
    (
        {"mine_score": "80", "construction_class": "1", "mandatory_passed": "true"},
        "mine_accepted_on",
        "required when mine_score is given",
    ),
    (
        {"mine_accepted_on": "2026-01-01"},
        "mine_accepted_on",
        ("given without mine_score: it would be ignored"),
    ),
    (
        {"mandatory_passed": "false"},
        "mandatory_passed",
        ("given without mine_score: it would be ignored"),
    ),
    (
        {"emissions_tco2": "10", "emissions_period_end": "2026-01-01"},
        "industry",
        ("required when emissions_tco2 is given"),
    ),
    (
        {"value_added_10k_cny": "10"},
        "value_added_10k_cny",
        ("given without emissions_tco2: it would be ignored"),
    ),
    ({"carbon_grade": "3"}, "carbon_assessed_on", "required when carbon_grade is given"),
    (
        {**KPIS, "kpis_verified_on": ""} | {"annual_tco2_reduced": "20000"},
        "kpis_verified_on",
        ("required when annual_tco2_reduced is given"),
    ),
]


@pytest.mark.parametrize(("cells", "field", "message"), BAD_CELLS)
def test_each_kind_of_bad_cell(
    tmp_path: Path, tokeniser: str, cells: dict[str, str], field: str, message: str
) -> None:
    lines = [
        row(**STANDARD),
        row(**{**STANDARD, "loan_id": "L2", **cells}),
        row(**{**STANDARD, "loan_id": "L3"}),
    ]
    load = read_portfolio(csv_file(tmp_path, with_rows(*lines)))
    assert load.problems == [RowProblem(3, field, message)]
    assert load.skipped == 1
    assert load.portfolio.loan_id.tolist() == ["L1", "L3"]


def test_every_bad_field_of_a_row_in_column_order(tmp_path: Path, tokeniser: str) -> None:
    bad = row(
        **{
            **STANDARD,
            "loan_id": "L2",
            "principal_fen": "12000000.00",
            "term_months": "twelve",
            "repayment": "monthly",
            "mine_score": "87.55",
            "construction_class": "0",
            "mandatory_passed": "maybe",
            "mine_accepted_on": "2026/03/01",
        }
    )
    load = read_portfolio(csv_file(tmp_path, with_rows(row(**STANDARD), bad)))
    integer = "must be an integer like 120 (ASCII digits, no separators), got "
    assert load.problems == [
        RowProblem(3, "principal_fen", integer + "'12000000.00'"),
        RowProblem(3, "term_months", integer + "'twelve'"),
        RowProblem(
            3,
            "repayment",
            "unknown repayment 'monthly'; one of equal_installment, equal_principal, "
            "interest_only_bullet",
        ),
        RowProblem(3, "mine_score", "at most one decimal, got '87.55'"),
        RowProblem(3, "construction_class", "must be 1 to 3, got 0"),
        RowProblem(3, "mandatory_passed", "must be true/false, yes/no or 1/0, got 'maybe'"),
        RowProblem(3, "mine_accepted_on", "must be a date YYYY-MM-DD, got '2026/03/01'"),
    ]
    assert load.skipped == 1


def test_duplicate_loan_id_skips_every_row_carrying_it(tmp_path: Path, tokeniser: str) -> None:
    lines = [
        row(**STANDARD),
        row(**{**STANDARD, "loan_id": "L2"}),
        row(**{**STANDARD, "borrower_id": "other"}),
        row(**{**STANDARD, "borrower_id": "third"}),
    ]
    load = read_portfolio(csv_file(tmp_path, with_rows(*lines)))
    assert load.problems == [
        RowProblem(2, "loan_id", "duplicate 'L1', also in row 4"),
        RowProblem(4, "loan_id", "duplicate 'L1', also in row 2"),
        RowProblem(5, "loan_id", "duplicate 'L1', also in row 2"),
    ]
    assert load.skipped == 3
    assert load.portfolio.loan_id.tolist() == ["L2"]


def test_duplicate_across_chunks(
    tmp_path: Path, tokeniser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "CHUNK_ROWS", 2)
    monkeypatch.setattr(csv_reader, "ARROW_BLOCK_BYTES", 256)
    lines = [row(**{**STANDARD, "loan_id": f"L{i}"}) for i in range(1, 9)]
    lines.append(row(**{**STANDARD, "loan_id": "L3"}))
    lines.append(row(**{**STANDARD, "loan_id": "L10"}))
    load = read_portfolio(csv_file(tmp_path, with_rows(*lines)))
    assert load.problems == [
        RowProblem(4, "loan_id", "duplicate 'L3', also in row 10"),
        RowProblem(10, "loan_id", "duplicate 'L3', also in row 4"),
    ]
    assert load.portfolio.loan_id.tolist() == [f"L{i}" for i in (1, 2, 4, 5, 6, 7, 8, 10)]


def test_pyarrow_reads_well_formed_csv_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast path must not quietly fall back: the csv module is not called at all.
    def no_fallback(*_args: object) -> None:
        raise AssertionError("fell back to the csv module")

    monkeypatch.setattr(csv_reader, "_read_csv_module", no_fallback)
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HAND.replace("\n", "\r\n").encode())
    assert len(read_portfolio(path).portfolio) == 4
    assert len(read_portfolio(EXAMPLES / "portfolio_bad.csv").portfolio) == 7


def test_wrong_number_of_cells(tmp_path: Path, tokeniser: str) -> None:
    text = with_rows(row(**STANDARD), "L2,B2,standard", row(**{**STANDARD, "loan_id": "L3"}))
    load = read_portfolio(csv_file(tmp_path, text))
    assert load.problems == [RowProblem(3, "(row)", "has 3 cells, the header 23")]
    assert load.skipped == 1
    assert load.portfolio.loan_id.tolist() == ["L1", "L3"]


def test_strict_raises_on_the_first_bad_row(tmp_path: Path, tokeniser: str) -> None:
    lines = [
        row(**STANDARD),
        row(**{**STANDARD, "loan_id": "L2", "term_months": "x", "repayment": "monthly"}),
        row(**{**STANDARD, "loan_id": "L3", "principal_fen": "-5"}),
    ]
    path = csv_file(tmp_path, with_rows(*lines))
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(path, strict=True)
    assert caught.value.problems == [
        RowProblem(
            3, "term_months", "must be an integer like 120 (ASCII digits, no separators), got 'x'"
        ),
        RowProblem(
            3,
            "repayment",
            "unknown repayment 'monthly'; one of equal_installment, equal_principal, "
            "interest_only_bullet",
        ),
    ]
    assert str(caught.value) == (
        "row 3 is bad (strict mode: the file is refused)\n"
        "  row 3, term_months: must be an integer like 120 (ASCII digits, no separators), "
        "got 'x'\n"
        "  row 3, repayment: unknown repayment 'monthly'; one of equal_installment, "
        "equal_principal, interest_only_bullet"
    )


def test_strict_stops_before_reading_on(
    tmp_path: Path, tokeniser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "CHUNK_ROWS", 2)
    monkeypatch.setattr(csv_reader, "ARROW_BLOCK_BYTES", 256)
    lines = [row(**{**STANDARD, "loan_id": f"L{i}"}) for i in range(1, 30)]
    lines[2] = row(**{**STANDARD, "loan_id": "L3", "term_months": ""})
    lines[20] = row(**{**STANDARD, "loan_id": "L21", "principal_fen": ""})
    seen: list[int] = []
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(
            csv_file(tmp_path, with_rows(*lines)),
            strict=True,
            progress=lambda done, _total: seen.append(done),
        )
    assert caught.value.problems == [RowProblem(4, "term_months", "required")]
    assert all(done < 21 for done in seen)


def test_strict_accepts_a_good_file(tmp_path: Path, tokeniser: str) -> None:
    load = read_portfolio(csv_file(tmp_path, HAND), strict=True)
    assert load.problems == []
    assert len(load.portfolio) == 4


# ---------------------------------------------------------------------------
# The header, the file as a whole


def test_unknown_column_refuses_the_file(tmp_path: Path, tokeniser: str) -> None:
    text = HEADER.replace("principal_fen", "principle_fen") + "\n" + row(**STANDARD) + "\n"
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(csv_file(tmp_path, text))
    assert caught.value.problems == [
        RowProblem(1, "principle_fen", "unknown column (did you mean principal_fen?)"),
        RowProblem(1, "principal_fen", "required column missing"),
    ]
    assert str(caught.value).startswith(f"{tmp_path / 'p.csv'}: bad header\n")


def test_missing_required_and_repeated_columns(tmp_path: Path) -> None:
    text = "loan_id,borrower_id,product_id,credit_rating,principal_fen,repayment,loan_id\n"
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(csv_file(tmp_path, text))
    assert caught.value.problems == [
        RowProblem(1, "loan_id", "column appears more than once"),
        RowProblem(1, "term_months", "required column missing"),
    ]


def test_the_stored_score_column_name_is_not_the_file_one(tmp_path: Path) -> None:
    text = "loan_id,borrower_id,product_id,credit_rating,principal_fen,term_months,repayment,"
    text += "mine_score_tenths\n"
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(csv_file(tmp_path, text))
    assert caught.value.problems == [
        RowProblem(
            1,
            "mine_score_tenths",
            "unknown column (the file column is mine_score, a decimal like 87.5)",
        )
    ]


def test_header_only_is_an_empty_portfolio(tmp_path: Path, tokeniser: str) -> None:
    load = read_portfolio(csv_file(tmp_path, HEADER + "\n"))
    assert len(load.portfolio) == 0
    same(load.portfolio, Portfolio.empty(0))


def test_empty_csv(tmp_path: Path, tokeniser: str) -> None:
    path = csv_file(tmp_path, "")
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(path)
    assert str(caught.value) == f"{path}: empty file, no header row"


@pytest.mark.parametrize("rows_before", [1, 20_000])
def test_not_utf8(tmp_path: Path, tokeniser: str, rows_before: int) -> None:
    # The position is the file's, also past the first buffer of the text decoder.
    line = row(**STANDARD) + "\n"
    lines = [line.replace("L1", f"L{i}") for i in range(rows_before)]
    head = (HEADER + "\n" + "".join(lines)).encode()
    path = tmp_path / "x.csv"
    path.write_bytes(head + b"Lx,\xff\xfe\n")
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(path)
    assert str(caught.value) == (
        f"{path}: not UTF-8: line {rows_before + 2}, byte {len(head) + 3} (invalid start byte)"
    )


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(PortfolioError, match=r"unknown portfolio format '\.xlsx'"):
        read_portfolio(tmp_path / "book.xlsx")
    with pytest.raises(PortfolioError, match=r"unknown portfolio format '\.json'"):
        write_portfolio(Portfolio.empty(0), tmp_path / "book.json")


def test_missing_file(tmp_path: Path, tokeniser: str) -> None:
    with pytest.raises(PortfolioError, match="cannot read"):
        read_portfolio(tmp_path / "none.csv")


def test_progress_reports_rows(
    tmp_path: Path, tokeniser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "CHUNK_ROWS", 4)
    monkeypatch.setattr(csv_reader, "ARROW_BLOCK_BYTES", 1024)
    lines = [row(**{**STANDARD, "loan_id": f"L{i}"}) for i in range(10)]
    calls: list[tuple[int, int | None]] = []
    read_portfolio(
        csv_file(tmp_path, with_rows(*lines)), progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (10, None)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    if tokeniser == "csv-module":
        assert calls == [(4, None), (8, None), (10, None)]
    portfolio = read_portfolio(csv_file(tmp_path, with_rows(*lines))).portfolio
    path = tmp_path / "p.parquet"
    write_portfolio(portfolio, path)
    calls.clear()
    read_portfolio(path, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]


# ---------------------------------------------------------------------------
# Parquet


def parquet_file(tmp_path: Path, table: pa.Table) -> Path:
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    return path


def standard_columns(n: int = 1) -> dict[str, pa.Array]:
    return {
        "loan_id": pa.array([f"L{i}" for i in range(1, n + 1)]),
        "borrower_id": pa.array(["B1"] * n),
        "product_id": pa.array(["standard"] * n).dictionary_encode(),
        "credit_rating": pa.array(["AA"] * n),
        "principal_fen": pa.array([100_000_000] * n, pa.int64()),
        "term_months": pa.array([12] * n, pa.int32()),
        "repayment": pa.array(["equal_installment"] * n),
    }


def test_parquet_exact_types_and_strings(tmp_path: Path) -> None:
    d = Decimal
    columns = standard_columns(3)
    columns |= {
        "industry": pa.array(["power", "chemicals", None]),
        "emissions_tco2": pa.array([d("3508000.500000"), d("12"), None], pa.decimal128(18, 6)),
        "output_quantity": pa.array([d("4000000.00000000"), None, None], pa.decimal128(30, 8)),
        "value_added_10k_cny": pa.array([None, "60000.25", None]),
        "emissions_period_end": pa.array([date(2026, 9, 30), date(2026, 6, 30), None], pa.date32()),
        "mine_score": pa.array([None, None, d("87.5")], pa.decimal128(4, 1)),
        "construction_class": pa.array([None, None, 3], pa.int8()),
        "mandatory_passed": pa.array([None, None, True]),
        "mine_accepted_on": pa.array([None, None, "2026-04-15"]),
    }
    load = read_portfolio(parquet_file(tmp_path, pa.table(columns)))
    assert load.problems == []
    p = load.portfolio
    assert p.industry.tolist() == ["power", "chemicals", ""]
    assert p.product_id.tolist() == ["standard"] * 3
    assert p.term_months.tolist() == [12, 12, 12]
    assert p.emissions_tco2.tolist() == [3_508_000_500_000, 12_000_000, ABSENT]
    assert p.output_quantity.tolist() == [4_000_000_000_000, ABSENT, ABSENT]
    assert p.value_added_10k_cny.tolist() == [ABSENT, 60_000_250_000, ABSENT]
    assert p.emissions_period_end.astype(str).tolist() == ["2026-09-30", "2026-06-30", "NaT"]
    assert p.mine_score_tenths.tolist() == [ABSENT, ABSENT, 875]
    assert p.construction_class.tolist() == [ABSENT, ABSENT, 3]
    assert p.mandatory_passed.tolist() == [False, False, True]
    assert p.mine_accepted_on.astype(str).tolist() == ["NaT", "NaT", "2026-04-15"]


def test_parquet_bad_cells_by_row(tmp_path: Path) -> None:
    d = Decimal
    columns = standard_columns(3)
    columns |= {
        "industry": pa.array(["power"] * 3),
        "emissions_tco2": pa.array(
            [d("1.00000000"), d("1.00000010"), d("-2")], pa.decimal128(20, 8)
        ),
        "output_quantity": pa.array(["1", "1", "1"]),
        "emissions_period_end": pa.array([date(2026, 1, 31)] * 3, pa.date32()),
        "principal_fen": pa.array([d("5"), d("5.50"), d("7")], pa.decimal128(10, 2)),
    }
    load = read_portfolio(parquet_file(tmp_path, pa.table(columns)))
    integer = "must be an integer like 120 (ASCII digits, no separators), got "
    assert load.problems == [
        RowProblem(1, "principal_fen", integer + "'5.00'"),
        RowProblem(2, "principal_fen", integer + "'5.50'"),
        RowProblem(2, "emissions_tco2", "at most 6 decimals, got '1.0000001'"),
        RowProblem(3, "principal_fen", integer + "'7.00'"),
        RowProblem(3, "emissions_tco2", "must not be negative, got '-2.000000'"),
    ]


def test_parquet_float_column_is_refused(tmp_path: Path) -> None:
    columns = standard_columns() | {
        "industry": pa.array(["power"]),
        "emissions_tco2": pa.array([1.5], pa.float64()),
        "mine_score": pa.array([87.5], pa.float32()),
    }
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(parquet_file(tmp_path, pa.table(columns)))
    assert caught.value.problems == [
        RowProblem(
            0,
            "emissions_tco2",
            "is a float column (double): a binary float cannot hold a decimal exactly; "
            "store it as decimal128, integer or string",
        ),
        RowProblem(
            0,
            "mine_score",
            "is a float column (float): a binary float cannot hold a decimal exactly; "
            "store it as decimal128, integer or string",
        ),
    ]


def test_parquet_other_wrong_types(tmp_path: Path) -> None:
    columns = standard_columns() | {
        "carbon_assessed_on": pa.array([datetime(2026, 1, 1, tzinfo=UTC)]),
        "principal_fen": pa.array([1.0e8]),
    }
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(parquet_file(tmp_path, pa.table(columns)))
    assert caught.value.problems == [
        RowProblem(
            0,
            "principal_fen",
            "is a float column (double): a binary float cannot hold a decimal exactly; "
            "store it as integer or string",
        ),
        RowProblem(
            0,
            "carbon_assessed_on",
            "has type timestamp[us, tz=UTC]; expected date32 or YYYY-MM-DD string",
        ),
    ]


def test_parquet_schema_problems(tmp_path: Path) -> None:
    columns = standard_columns()
    del columns["repayment"]
    columns["repayment_method"] = pa.array(["equal_installment"])
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(parquet_file(tmp_path, pa.table(columns)))
    assert caught.value.problems == [
        RowProblem(0, "repayment_method", "unknown column (did you mean repayment?)"),
        RowProblem(0, "repayment", "required column missing"),
    ]


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    path.write_bytes(b"PAR1 but not really")
    with pytest.raises(PortfolioError, match="not a readable Parquet file"):
        read_portfolio(path)


def test_without_pyarrow_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(PortfolioError) as caught:
        read_portfolio(tmp_path / "p.parquet")
    assert str(caught.value) == (
        "Parquet needs pyarrow: pip install pyarrow "
        "(or pip install 'ecoloan-pricing-service[parquet]')"
    )
    # CSV still reads, with the csv module.
    load = read_portfolio(csv_file(tmp_path, with_rows(row(**STANDARD))))
    assert load.portfolio.loan_id.tolist() == ["L1"]


# ---------------------------------------------------------------------------
# Round trips

# What str.isprintable() accepts: letters, marks, numbers, punctuation, symbols, the space.
printable = st.text(
    st.characters(categories=["L", "M", "N", "P", "S"], include_characters=" "),
    min_size=1,
    max_size=12,
).filter(lambda s: bool(s.strip()))
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
micro = st.integers(0, 10**18 - 1)
positive_micro = st.integers(1, 10**18 - 1)


@st.composite
def loan_rows(draw: st.DrawFn) -> dict[str, Any]:
    r: dict[str, Any] = {
        "borrower_id": draw(printable),
        "product_id": draw(printable),
        "credit_rating": draw(printable),
        "industry": draw(st.sampled_from(["", *(i.value for i in Industry)])),
        "principal_fen": draw(st.integers(1, 10**18 - 1)),
        "term_months": draw(st.integers(-(10**18) + 1, 10**18 - 1)),
        "repayment": draw(st.sampled_from([m.value for m in RepaymentMethod])),
        "upfront_fee_fen": draw(st.integers(0, 10**18 - 1)),
    }
    if draw(st.booleans()):
        r["carbon_grade"] = draw(st.integers(1, 5))
        r["carbon_assessed_on"] = draw(days)
    if draw(st.booleans()):
        r["industry"] = draw(st.sampled_from([i.value for i in Industry]))
        r["emissions_tco2"] = draw(micro)
        r["output_quantity"] = draw(st.none() | positive_micro)
        r["value_added_10k_cny"] = draw(st.none() | positive_micro)
        r["emissions_period_end"] = draw(days)
    if draw(st.booleans()):
        r["mine_score_tenths"] = draw(st.integers(0, 1000))
        r["construction_class"] = draw(st.integers(1, 3))
        r["mandatory_passed"] = draw(st.booleans())
        r["mine_accepted_on"] = draw(days)
    if draw(st.booleans()):
        r["annual_tco2_reduced"] = draw(micro)
        r["coal_g_per_kwh_before"] = draw(positive_micro)
        r["coal_g_per_kwh_after"] = draw(micro)
        r["kpis_verified_on"] = draw(days)
    return r


@st.composite
def portfolios(draw: st.DrawFn, max_size: int = 12) -> Portfolio:
    rows = draw(st.lists(loan_rows(), max_size=max_size))
    ids = draw(st.lists(printable, min_size=len(rows), max_size=len(rows), unique=True))
    p = Portfolio.empty(len(rows))
    for i, (loan_id, r) in enumerate(zip(ids, rows, strict=True)):
        p.loan_id[i] = loan_id
        for name, value in r.items():
            if value is None:
                continue
            column = getattr(p, name)
            column[i] = np.datetime64(value, "D") if isinstance(value, date) else value
    return p


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(portfolios())
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip(tmp_path: Path, tokeniser: str, suffix: str, portfolio: Portfolio) -> None:
    path = tmp_path / f"p{suffix}"
    write_portfolio(portfolio, path)
    load = read_portfolio(path, strict=True)
    assert load.problems == []
    same(load.portfolio, portfolio)


BAD_TOKENS = {
    "text": ["", "a\u202eb", "x" * 200],
    "int": ["1.5", "1e3", "１", "+5", " 7"],
    "micro": ["-1", "1e3", "0.1234567", "1,5", "1000000000000"],
    "tenths": ["100.1", "87.55", "-1", "abc"],
    "date": ["2026-02-30", "2026/01/01", "20260101"],
    "bool": ["maybe", "t"],
    "enum": ["nope"],
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(portfolios(max_size=6).filter(len), st.data())
def test_one_bad_cell_is_reported_where_it_is(
    tmp_path: Path, tokeniser: str, portfolio: Portfolio, data: st.DataObject
) -> None:
    # Invariant: corrupt any one cell of a good file; the problems name that row (and that
    # field among them), and every other row reads back unchanged.
    good = tmp_path / "good.csv"
    write_portfolio(portfolio, good)
    records = list(csv.reader(io.StringIO(good.read_text(encoding="utf-8"))))
    i = data.draw(st.integers(0, len(portfolio) - 1))
    column = data.draw(st.sampled_from(FILE_COLUMNS))
    kind = "enum" if column in {"industry", "repayment"} else schema._KINDS[column]
    token = data.draw(st.sampled_from(BAD_TOKENS[kind]))
    j = FILE_COLUMNS.index(column)
    records[i + 1][j] = token
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(records)
    load = read_portfolio(bad)
    assert {p.row for p in load.problems} == {i + 2}
    assert column in {p.field for p in load.problems}
    keep = np.array([k for k in range(len(portfolio)) if k != i], dtype=np.intp)
    same(load.portfolio, portfolio.take(keep))


def test_written_csv_text(tmp_path: Path) -> None:
    p = read_portfolio(csv_file(tmp_path, HAND)).portfolio
    out = tmp_path / "out.csv"
    write_portfolio(p, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    # Decimals as plain text without trailing zeros, the score with one decimal,
    # mandatory_passed only beside a score, the fee always.
    assert lines[2] == (
        'CJ-2,"B, with comma",lvtanrong,BBB,power,800000000,36,equal_installment,0,,,'
        "3508000.5,4000000,0.000001,2026-09-30,,,,,,,,"
    )
    assert lines[3] == (
        "CJ-3,B3,mine_score,AAA,other,500000000,60,interest_only_bullet,0,,,,,,,"
        "87.5,2,false,2026-04-15,,,,"
    )


def test_written_parquet_has_no_floats(tmp_path: Path) -> None:
    p = read_portfolio(csv_file(tmp_path, HAND)).portfolio
    out = tmp_path / "out.parquet"
    write_portfolio(p, out)
    schema = pq.read_schema(out)
    assert schema.names == list(FILE_COLUMNS)
    types = {f.name: str(f.type) for f in schema}
    assert types["emissions_tco2"] == "decimal128(18, 6)"
    assert types["mine_score"] == "decimal128(4, 1)"
    assert types["principal_fen"] == "int64"
    assert types["kpis_verified_on"] == "date32[day]"
    assert types["mandatory_passed"] == "bool"
    assert not any(pa.types.is_floating(f.type) for f in schema)
    table = pq.read_table(out)
    assert table.column("emissions_tco2").to_pylist()[1] == Decimal("3508000.500000")
    assert table.column("mine_score").to_pylist() == [None, None, Decimal("87.5"), None]


# ---------------------------------------------------------------------------
# Results


def test_rate_texts() -> None:
    assert percent_text(3_300_000) == "3.30"
    assert percent_text(3_000_000) == "3.00"
    assert percent_text(3_305_000) == "3.305"
    assert percent_text(12_345) == "0.012345"
    assert percent_text(0) == "0.00"
    assert bp_text(-2_000_000) == "-200"
    assert bp_text(-1_335_900) == "-133.59"
    assert bp_text(5_000) == "0.5"
    assert bp_text(0) == "0"


def priced_bad_sample(policy: Policy) -> tuple[Portfolio, Any]:
    portfolio = read_portfolio(EXAMPLES / "portfolio_bad.csv").portfolio
    return portfolio, price_portfolio_scalar(portfolio, policy, SAMPLE_AS_OF)


def test_write_results_csv(tmp_path: Path, policy: Policy) -> None:
    portfolio, results = priced_bad_sample(policy)
    out = tmp_path / "results.csv"
    write_results(portfolio, results, out)
    assert out.read_text(encoding="utf-8").splitlines() == [
        ",".join(RESULT_COLUMNS),
        "CJ-0001,B-0001,standard,chemicals,AA,100000000,12,equal_installment,PRICED,,1Y,"
        "3.00,3.30,0,3.30,0,false,false,,,0,,",
        "CJ-0003,B-0003,lvtanrong,power,BBB,800000000,36,equal_installment,PRICED,,1Y,"
        "3.00,4.10,-200,2.10,200,false,false,3,true,13731551,,",
        "CJ-0004,B-0004,mine_score,other,A,500000000,60,interest_only_bullet,PRICED,,1Y,"
        "3.00,3.80,-133.59,2.46,134,false,false,,,6700000,87.5,2",
        "CJ-0005,B-0005,transition,power,AA,30000000000,120,equal_principal,PRICED,,5Y+,"
        "3.50,4.00,-30,3.70,30,false,false,,,85875000,,",
        "CJ-0014,B-0015,standard,power,AAA+,700000000,12,equal_installment,"
        "INVALID_ARGUMENT,credit_rating,,,,,,,,,,,,,",
        "CJ-0015,B-0016,green_bond,power,AA,700000000,12,equal_installment,"
        "PRODUCT_NOT_FOUND,,,,,,,,,,,,,,",
        "CJ-0016,B-0017,lvtanrong,coking,A,180000000,24,equal_installment,"
        "EVIDENCE_TOO_OLD,,,,,,,,,,,,,,",
    ]


def test_write_results_parquet(tmp_path: Path, policy: Policy) -> None:
    portfolio, results = priced_bad_sample(policy)
    out = tmp_path / "results.parquet"
    write_results(portfolio, results, out)
    table = pq.read_table(out)
    assert table.schema.names == list(RESULT_COLUMNS)
    assert not any(pa.types.is_floating(f.type) for f in table.schema)
    rows = table.to_pylist()
    assert rows[2] == {
        "loan_id": "CJ-0004",
        "borrower_id": "B-0004",
        "product_id": "mine_score",
        "industry": "other",
        "credit_rating": "A",
        "principal_fen": 500_000_000,
        "term_months": 60,
        "repayment": "interest_only_bullet",
        "status": "PRICED",
        "invalid_fields": None,
        "tenor": "1Y",
        "base_rate": "3.00",
        "ordinary_rate": "3.80",
        "adjustment_bp": "-133.59",
        "rate": "2.46",
        "concession_bp": "134",
        "floor_binding": False,
        "cap_binding": False,
        "carbon_grade": None,
        "grade_computed": None,
        "first_year_concession_fen": 6_700_000,
        "mine_score": Decimal("87.5"),
        "construction_class": 2,
    }
    assert rows[5]["status"] == "PRODUCT_NOT_FOUND"
    assert rows[5]["rate"] is None
    assert rows[5]["floor_binding"] is None


def test_write_results_lengths_must_match(tmp_path: Path, policy: Policy) -> None:
    portfolio, results = priced_bad_sample(policy)
    with pytest.raises(ValueError, match="7 loans but 6 results"):
        write_results(portfolio, results.take(slice(0, 6)), tmp_path / "r.csv")


# ---------------------------------------------------------------------------
# The shipped bad sample


def test_shipped_bad_sample(tokeniser: str, policy: Policy) -> None:
    load = read_portfolio(EXAMPLES / "portfolio_bad.csv")
    integer = "must be an integer like 120 (ASCII digits, no separators), got "
    assert load.problems == [
        RowProblem(3, "loan_id", "duplicate 'CJ-0002', also in row 14"),
        RowProblem(7, "principal_fen", integer + "'12000000.00'"),
        RowProblem(7, "term_months", integer + "'twelve'"),
        RowProblem(8, "mine_score", "must be 0 to 100, got '100.5'"),
        RowProblem(9, "mine_score", "at most one decimal, got '87.55'"),
        RowProblem(9, "mandatory_passed", "must be true/false, yes/no or 1/0, got 'maybe'"),
        RowProblem(
            10,
            "emissions_tco2",
            "exponent notation is not accepted, write a plain decimal like 1234.5: '1.2e5'",
        ),
        RowProblem(11, "output_quantity", "at most 6 decimals, got '250000.1234567'"),
        RowProblem(12, "carbon_assessed_on", "must be a date YYYY-MM-DD, got '2026/03/01'"),
        RowProblem(
            13,
            "industry",
            "unknown industry 'steel'; one of power, electrolytic_aluminium, chemicals, "
            "petrochemicals, coking, other",
        ),
        RowProblem(
            13,
            "repayment",
            "unknown repayment 'monthly'; one of equal_installment, equal_principal, "
            "interest_only_bullet",
        ),
        RowProblem(14, "loan_id", "duplicate 'CJ-0002', also in row 3"),
        RowProblem(15, "mine_accepted_on", "required when mine_score is given"),
    ]
    assert load.skipped == 10
    assert load.rows == 17
    # Policy matters are not file errors: an unknown rating, an unknown product and
    # stale evidence load, and pricing says what is wrong with each.
    results = price_portfolio_scalar(load.portfolio, policy, SAMPLE_AS_OF)
    assert dict(zip(load.portfolio.loan_id.tolist(), results.status.tolist(), strict=True)) == {
        "CJ-0001": "PRICED",
        "CJ-0003": "PRICED",
        "CJ-0004": "PRICED",
        "CJ-0005": "PRICED",
        "CJ-0014": "INVALID_ARGUMENT",
        "CJ-0015": "PRODUCT_NOT_FOUND",
        "CJ-0016": "EVIDENCE_TOO_OLD",
    }


# ---------------------------------------------------------------------------
# The generator


def test_generator_is_reproducible_by_seed() -> None:
    a = generate_portfolio(2_000, 7, date(2026, 11, 20))
    same(a, generate_portfolio(2_000, 7, date(2026, 11, 20)))
    b = generate_portfolio(2_000, 8, date(2026, 11, 20))
    assert a.principal_fen.tolist() != b.principal_fen.tolist()
    assert a.borrower_id.tolist() != b.borrower_id.tolist()


@pytest.mark.parametrize("n", [0, 1, 5, 37])
def test_generator_small_books(n: int, policy: Policy) -> None:
    p = generate_portfolio(n, 1, date(2026, 11, 20))
    assert len(p) == n
    assert p.loan_id.tolist() == [f"L{i:07d}" for i in range(1, n + 1)]
    results = price_portfolio_scalar(p, policy, SAMPLE_AS_OF)
    assert "INVALID_ARGUMENT" not in results.status.tolist()


def test_quotas_are_exact() -> None:
    assert quotas(10_000, [400, 300, 100, 150, 50]) == [4_000, 3_000, 1_000, 1_500, 500]
    assert quotas(7, [400, 300, 100, 150, 50]) == [3, 2, 1, 1, 0]
    assert sum(quotas(12_345, [194, 70, 194, 88, 88, 246, 120])) == 12_345


def test_generator_benchmarks_are_the_policys(policy: Policy) -> None:
    for industry, micro_value in BENCHMARK_MICRO.items():
        assert policy.industries[industry].benchmark == Decimal(micro_value).scaleb(-6)


def sample() -> Portfolio:
    return read_portfolio(EXAMPLES / "portfolio_10k.csv", strict=True).portfolio


def test_shipped_sample_is_what_the_script_makes(tmp_path: Path) -> None:
    out = tmp_path / "portfolio_10k.csv"
    command = [sys.executable, str(EXAMPLES / "make_portfolio.py"), "--loans", "10000"]
    command += ["--seed", "2026", "--as-of", "2026-11-20", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout == f"wrote 10000 loans to {out}\n"
    assert out.read_bytes() == (EXAMPLES / "portfolio_10k.csv").read_bytes()
    same(sample(), generate_portfolio(10_000, 2026, date(2026, 11, 20)))


def test_make_portfolio_refuses_a_negative_seed_without_a_traceback(tmp_path: Path) -> None:
    command = [sys.executable, str(EXAMPLES / "make_portfolio.py"), "--loans", "3"]
    command += ["--seed", "-1", "--as-of", "2026-11-20", "--out", str(tmp_path / "p.csv")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "--seed must be >= 0" in done.stderr
    assert "Traceback" not in done.stderr


def test_shipped_sample_shape() -> None:
    p = sample()
    products = collections.Counter(p.product_id.tolist())
    assert products == {
        "standard": 4_000,
        "lvtanrong": 4_000,
        "mine_score": 1_500,
        "transition": 500,
    }
    given_grades = collections.Counter(p.carbon_grade[p.carbon_grade != ABSENT].tolist())
    assert given_grades == {1: 420, 2: 498, 3: 1_002, 4: 879, 5: 201}
    assert int((p.emissions_tco2 != ABSENT).sum()) == 1_000
    assert set(p.industry[p.product_id == "mine_score"].tolist()) == {"other"}
    assert set(p.industry[p.product_id == "transition"].tolist()) == {"power"}
    assert int(p.principal_fen.min()) == 100_000_000
    assert int(p.principal_fen.max()) == 50_000_000_000
    assert set(p.term_months.tolist()) == {6, 12, 24, 36, 60, 120}
    assert np.isnat(p.carbon_assessed_on).sum() == 7_000
    assert not (p.carbon_assessed_on > np.datetime64("2026-11-20")).any()


def test_pricing_the_shipped_sample(policy: Policy) -> None:
    p = sample()
    results = price_portfolio_scalar(p, policy, SAMPLE_AS_OF)
    mix = collections.Counter(zip(p.product_id.tolist(), results.status.tolist(), strict=True))
    assert mix == {
        ("standard", "PRICED"): 4_000,
        ("lvtanrong", "PRICED"): 2_460,
        ("lvtanrong", "CARBON_GRADE_INELIGIBLE"): 1_348,
        ("lvtanrong", "EVIDENCE_TOO_OLD"): 192,
        ("mine_score", "PRICED"): 1_200,
        ("mine_score", "MANDATORY_INDICATOR_FAILED"): 125,
        ("mine_score", "MINE_SCORE_BELOW_MINIMUM"): 113,
        ("mine_score", "EVIDENCE_TOO_OLD"): 62,
        ("transition", "PRICED"): 390,
        ("transition", "TRANSITION_KPI_BELOW_MINIMUM"): 86,
        ("transition", "EVIDENCE_TOO_OLD"): 24,
    }
    computed = results.grade_computed & results.priced
    assert (
        int(computed.sum())
        == collections.Counter(
            zip(
                p.product_id.tolist(),
                (p.emissions_tco2 != ABSENT).tolist(),
                results.status.tolist(),
                strict=True,
            )
        )[("lvtanrong", True, "PRICED")]
    )
