"""Exact aggregates of a simulation, and of the difference between two simulations.

Every sum is an exact integer (fen, RATE_UNIT, counts): summed in plain int64
only when a bound proves it cannot overflow, else in two 32-bit limbs or in
Python integers. An
average is the exact ratio of two such integers, rounded once, half-even, to
its display step: 0.0001 percentage points for rates, 0.01 bp for
concessions. No binary float is involved.

Definitions (the README's summary section repeats them):

* loans: rows of the portfolio; priced: status PRICED; refused: any other
  status (an ineligibility reason, INVALID_ARGUMENT or PRODUCT_NOT_FOUND).
* volume: sum of principal over all loans of the group; priced volume: over
  the priced ones.
* average rate: mean quoted rate of the priced loans; volume-weighted average
  rate: sum(principal x rate) / sum(principal) over the priced loans. The same
  two averages for the concession (ordinary rate minus quoted rate, bp).
* first-year concession cost: sum of the quotes' first-year interest forgone
  against the ordinary-loan rate, whole fen.
* groups: product id; carbon grade 1-5 (priced carbon-account loans, by the
  grade that priced them, given or computed); mine score band (every loan with
  a mine score, whatever its product); industry; credit rating.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from io import StringIO
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pricing_service.domain.rates import CTX, fmt_percent
from pricing_service.simulate.portfolio import ABSENT, Portfolio
from pricing_service.simulate.results import (
    PRICED,
    UNITS_PER_BP,
    LoanResults,
    units_to_bp,
)

Ints = npt.NDArray[np.int64]
Codes = npt.NDArray[np.intp]

DEFAULT_SCORE_BANDS: tuple[Decimal, ...] = (Decimal(60), Decimal(70), Decimal(80), Decimal(90))
"""Lower edges of the mine score bands after the first: <60, 60-70, 70-80, 80-90, >=90."""
GRADES = (1, 2, 3, 4, 5)
NONE_LABEL = "(none)"  # group of an empty industry or credit rating
ROUNDING = "half-even"
RATE_DECIMALS = 4  # of a percent: 0.0001 percentage point = 0.01 bp
BP_DECIMALS = 2
UNITS_PER_PERCENT = UNITS_PER_BP * 100
_INT64_LIMIT = 2**63
_LIMB = 32


def rounded(numerator: int, denominator: int, decimals: int) -> Decimal:
    """numerator / denominator rounded half-even to `decimals` places, in integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(numerator * 10**decimals, denominator)
    # divmod floors, so r / denominator is the fraction above q, in [0, 1).
    if 2 * r > denominator or (2 * r == denominator and q % 2 == 1):
        q += 1
    # A string is parsed exactly whatever the thread's decimal context.
    return Decimal(f"{q}E-{decimals}")


def fen_to_cny(fen: int) -> Decimal:
    """Whole fen as CNY with two decimals, exact."""
    return Decimal(f"{fen}E-2")


def _group_sums(codes: Codes, k: int, values: Ints) -> list[int]:
    """Exact sums of `values` by group code (every code in 0..k-1)."""
    if len(values) == 0:
        return [0] * k
    largest = int(np.abs(values).max())
    if largest * len(values) < _INT64_LIMIT:
        out = np.zeros(k, dtype=np.int64)
        np.add.at(out, codes, values)
        return [int(v) for v in out]
    # Each value = hi * 2^32 + lo with 0 <= lo < 2^32 (two's complement shifts
    # floor); neither limb's sum can overflow for fewer than 2^31 rows.
    hi = np.zeros(k, dtype=np.int64)
    lo = np.zeros(k, dtype=np.int64)
    np.add.at(hi, codes, values >> _LIMB)
    np.add.at(lo, codes, values & ((1 << _LIMB) - 1))
    return [(int(h) << _LIMB) + int(low) for h, low in zip(hi, lo, strict=True)]


def _group_dot(codes: Codes, k: int, a: Ints, b: Ints) -> list[int]:
    """Exact sums of a x b by group code (every code in 0..k-1)."""
    if len(a) == 0:
        return [0] * k
    if int(np.abs(a).max()) * int(np.abs(b).max()) < _INT64_LIMIT:
        return _group_sums(codes, k, a * b)
    out = [0] * k
    for g, x, y in zip(codes.tolist(), a.tolist(), b.tolist(), strict=True):
        out[g] += x * y
    return out


def _group_counts(codes: Codes, k: int, flags: npt.NDArray[np.bool_]) -> list[int]:
    """How many rows of each group have `flags` set (bincount of ints is exact)."""
    return [int(v) for v in np.bincount(codes[flags], minlength=k)]


def _codes_of(labels: npt.NDArray[np.object_]) -> tuple[list[str], Codes]:
    """Sorted distinct labels and each row's index into them ("" becomes NONE_LABEL)."""
    # One dict pass: reporting dimensions have few distinct values, and sorting
    # a million strings (what np.unique does) costs ten times as much.
    first_seen: dict[str, int] = {}
    raw = np.fromiter(
        (first_seen.setdefault(str(v), len(first_seen)) for v in labels.tolist()),
        dtype=np.intp,
        count=len(labels),
    )
    names = sorted(first_seen)
    rank = np.empty(len(names), dtype=np.intp)
    for position, name in enumerate(names):
        rank[first_seen[name]] = position
    return [n or NONE_LABEL for n in names], rank[raw]


def score_band_labels(bands: Sequence[Decimal]) -> list[str]:
    """Band names for the lower edges `bands`: ["<60", "60-70", ..., ">=90"]."""
    edges = [format(b, "f") for b in bands]
    if not edges:
        return ["all"]
    middle = [f"{lo}-{hi}" for lo, hi in pairwise(edges)]
    return [f"<{edges[0]}", *middle, f">={edges[-1]}"]


def _score_codes(portfolio: Portfolio, bands: Sequence[Decimal]) -> Codes:
    tenths = []
    for b in bands:
        t = CTX.multiply(b, 10)
        if t != t.to_integral_value():
            raise ValueError(f"score band edge {b} is finer than 0.1")
        tenths.append(int(t))
    if tenths != sorted(set(tenths)):
        raise ValueError("score band edges must be strictly increasing")
    scores = portfolio.mine_score_tenths
    # side="right": an edge belongs to the band it opens (60.0 is in 60-70).
    codes = np.searchsorted(np.asarray(tenths, dtype=np.int64), scores, side="right")
    return np.where(scores == ABSENT, -1, codes).astype(np.intp)


def _grade_codes(results: LoanResults) -> Codes:
    grade = results.carbon_grade
    ok = results.priced & (grade >= 1) & (grade <= 5)
    return np.where(ok, grade - 1, -1).astype(np.intp)


# ---------------------------------------------------------------------------
# Summary of one simulation


@dataclass(frozen=True, slots=True)
class Stats:
    """Exact aggregates of one group of loans."""

    loans: int
    priced: int
    refused: Mapping[str, int]  # status -> count, statuses in sorted order
    volume_fen: int
    priced_volume_fen: int
    rate_units_sum: int  # over priced loans
    rate_volume_sum: int  # sum of principal_fen x rate_units over priced loans
    concession_units_sum: int
    concession_volume_sum: int
    first_year_concession_fen: int
    floor_binding: int
    cap_binding: int

    @property
    def refused_total(self) -> int:
        """Loans of the group that were not priced."""
        return self.loans - self.priced

    @property
    def avg_rate_percent(self) -> Decimal | None:
        """Simple mean quoted rate of the priced loans, percent, 4 decimals, half-even."""
        if self.priced == 0:
            return None
        return rounded(self.rate_units_sum, self.priced * UNITS_PER_PERCENT, RATE_DECIMALS)

    @property
    def weighted_avg_rate_percent(self) -> Decimal | None:
        """Principal-weighted mean quoted rate of the priced loans, percent, 4 decimals."""
        if self.priced_volume_fen == 0:
            return None
        return rounded(
            self.rate_volume_sum, self.priced_volume_fen * UNITS_PER_PERCENT, RATE_DECIMALS
        )

    @property
    def avg_concession_bp(self) -> Decimal | None:
        """Simple mean concession of the priced loans, bp, 2 decimals, half-even."""
        if self.priced == 0:
            return None
        return rounded(self.concession_units_sum, self.priced * UNITS_PER_BP, BP_DECIMALS)

    @property
    def weighted_avg_concession_bp(self) -> Decimal | None:
        """Principal-weighted mean concession of the priced loans, bp, 2 decimals."""
        if self.priced_volume_fen == 0:
            return None
        return rounded(
            self.concession_volume_sum, self.priced_volume_fen * UNITS_PER_BP, BP_DECIMALS
        )

    def to_json(self) -> dict[str, Any]:
        """Ints, decimal strings and nulls; keys in a fixed order."""
        return {
            "loans": self.loans,
            "priced": self.priced,
            "refused": self.refused_total,
            "refused_by_status": dict(self.refused),
            "volume_fen": self.volume_fen,
            "volume_cny": _s(fen_to_cny(self.volume_fen)),
            "priced_volume_fen": self.priced_volume_fen,
            "priced_volume_cny": _s(fen_to_cny(self.priced_volume_fen)),
            "avg_rate_percent": _s(self.avg_rate_percent),
            "weighted_avg_rate_percent": _s(self.weighted_avg_rate_percent),
            "avg_concession_bp": _s(self.avg_concession_bp),
            "weighted_avg_concession_bp": _s(self.weighted_avg_concession_bp),
            "first_year_concession_fen": self.first_year_concession_fen,
            "first_year_concession_cny": _s(fen_to_cny(self.first_year_concession_fen)),
            "floor_binding": self.floor_binding,
            "cap_binding": self.cap_binding,
        }


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@dataclass(frozen=True, slots=True)
class _Columns:
    """The per-loan columns every grouping sums, computed once."""

    priced: npt.NDArray[np.bool_]
    principal: Ints
    priced_principal: Ints
    rate: Ints
    concession: Ints
    first_year: Ints
    floor: npt.NDArray[np.bool_]
    cap: npt.NDArray[np.bool_]
    statuses: list[str]
    status_codes: Codes

    @classmethod
    def of(cls, portfolio: Portfolio, results: LoanResults) -> _Columns:
        if len(portfolio) != len(results):
            raise ValueError(f"{len(results)} results for a portfolio of {len(portfolio)} loans")
        priced = results.priced
        zero = np.zeros(len(results), dtype=np.int64)
        statuses, status_codes = _codes_of(results.status)
        return cls(
            priced=priced,
            principal=portfolio.principal_fen,
            priced_principal=np.where(priced, portfolio.principal_fen, zero),
            # Unpriced rows hold zeros by contract; masking again costs little
            # and keeps a partly filled result from leaking into an average.
            rate=np.where(priced, results.rate_units, zero),
            concession=np.where(priced, results.concession_units, zero),
            first_year=np.where(priced, results.first_year_concession_fen, zero),
            floor=priced & results.floor_binding,
            cap=priced & results.cap_binding,
            statuses=statuses,
            status_codes=status_codes,
        )

    def take(self, rows: npt.NDArray[np.bool_]) -> _Columns:
        return _Columns(
            priced=self.priced[rows],
            principal=self.principal[rows],
            priced_principal=self.priced_principal[rows],
            rate=self.rate[rows],
            concession=self.concession[rows],
            first_year=self.first_year[rows],
            floor=self.floor[rows],
            cap=self.cap[rows],
            statuses=self.statuses,
            status_codes=self.status_codes[rows],
        )

    def stats(self, codes: Codes, labels: Sequence[str]) -> dict[str, Stats]:
        k = len(labels)
        keep = codes >= 0
        # Rows outside every group (code -1) are dropped once, not per column.
        c = self.take(keep) if not keep.all() else self
        codes = codes[keep]
        loans = np.bincount(codes, minlength=k)
        n_status = len(c.statuses)
        pairs = np.bincount(codes * n_status + c.status_codes, minlength=k * n_status).reshape(
            k, n_status
        )
        columns = [
            _group_counts(codes, k, c.priced),
            _group_sums(codes, k, c.principal),
            _group_sums(codes, k, c.priced_principal),
            _group_sums(codes, k, c.rate),
            _group_dot(codes, k, c.priced_principal, c.rate),
            _group_sums(codes, k, c.concession),
            _group_dot(codes, k, c.priced_principal, c.concession),
            _group_sums(codes, k, c.first_year),
            _group_counts(codes, k, c.floor),
            _group_counts(codes, k, c.cap),
        ]
        out: dict[str, Stats] = {}
        for g, label in enumerate(labels):
            refused = {
                s: int(pairs[g, j])
                for j, s in enumerate(c.statuses)
                if s != PRICED and pairs[g, j] > 0
            }
            priced, vol, pvol, rsum, rvol, csum, cvol, fy, floor, cap = (c[g] for c in columns)
            out[label] = Stats(
                loans=int(loans[g]),
                priced=priced,
                refused=refused,
                volume_fen=vol,
                priced_volume_fen=pvol,
                rate_units_sum=rsum,
                rate_volume_sum=rvol,
                concession_units_sum=csum,
                concession_volume_sum=cvol,
                first_year_concession_fen=fy,
                floor_binding=floor,
                cap_binding=cap,
            )
        return out


@dataclass(frozen=True, slots=True)
class Summary:
    """Exact aggregates of one simulation: overall and by each reporting dimension."""

    policy_version: str
    policy_digest: str
    as_of: datetime
    score_bands: tuple[Decimal, ...]
    overall: Stats
    by_product: Mapping[str, Stats]
    by_grade: Mapping[str, Stats]  # "1".."5", always all five
    by_score_band: Mapping[str, Stats]  # every band, in score order
    by_industry: Mapping[str, Stats]
    by_credit_rating: Mapping[str, Stats]

    def groupings(self) -> list[tuple[str, str, Mapping[str, Stats]]]:
        """(JSON key, heading, groups) of each dimension, in display order."""
        return [
            ("by_product", "By product", self.by_product),
            ("by_carbon_grade", "By carbon grade (priced carbon-account loans)", self.by_grade),
            ("by_mine_score_band", "By mine score band (loans with a mine score)",
             self.by_score_band),
            ("by_industry", "By industry", self.by_industry),
            ("by_credit_rating", "By credit rating", self.by_credit_rating),
        ]  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ints, decimal strings and nulls only, keys in a fixed order."""
        out: dict[str, Any] = {
            "policy_version": self.policy_version,
            "policy_digest": self.policy_digest,
            "as_of": self.as_of.isoformat(),
            "rounding": ROUNDING,
            "rate_decimals": RATE_DECIMALS,
            "bp_decimals": BP_DECIMALS,
            "score_bands": score_band_labels(self.score_bands),
            "overall": self.overall.to_json(),
        }
        for key, _, groups in self.groupings():
            out[key] = {label: stats.to_json() for label, stats in groups.items()}
        return out

    def tables(self) -> list[Table]:
        """rich tables for a terminal: overall, each dimension, refusals by reason."""
        tables = [_rich_table("Overall", {"all loans": self.overall})]
        tables += [_rich_table(heading, groups) for _, heading, groups in self.groupings()]
        refusals = refusal_rows(self.by_product)
        if refusals:
            title = "Refused loans by product and reason"
            tables.append(plain_table(title, REFUSAL_HEADERS, refusals))
        return tables

    def to_text(self, width: int = 140) -> str:
        """The tables as plain text (no colour), for logs and files."""
        return tables_text(self.tables(), width)


STATS_HEADERS = (
    "group",
    "loans",
    "priced",
    "refused",
    "volume CNY",
    "avg rate %",
    "vol-wtd rate %",
    "avg concession bp",
    "vol-wtd concession bp",
    "1st-year concession CNY",
)
REFUSAL_HEADERS = ("product", "reason", "loans")


def cny(fen: int) -> str:
    """Whole fen as CNY with thousands separators: 1090935 -> "10,909.35"."""
    return format(fen_to_cny(fen), ",.2f")


def _dash(value: Decimal | None) -> str:
    return "-" if value is None else format(value, "f")


def stats_row(label: str, s: Stats) -> list[str]:
    """One display row in STATS_HEADERS order (exact decimal strings)."""
    return [
        label,
        str(s.loans),
        str(s.priced),
        str(s.refused_total),
        cny(s.volume_fen),
        _dash(s.avg_rate_percent),
        _dash(s.weighted_avg_rate_percent),
        _dash(s.avg_concession_bp),
        _dash(s.weighted_avg_concession_bp),
        cny(s.first_year_concession_fen),
    ]


def stats_rows(groups: Mapping[str, Stats]) -> list[list[str]]:
    """Display rows of a grouping, in its order."""
    return [stats_row(label, s) for label, s in groups.items()]


def refusal_rows(by_product: Mapping[str, Stats]) -> list[list[str]]:
    """(product, reason, count) of every refusal, by product then reason."""
    return [
        [product, status, str(n)]
        for product, s in by_product.items()
        for status, n in s.refused.items()
    ]


def _rich_table(title: str, groups: Mapping[str, Stats]) -> Table:
    return plain_table(title, STATS_HEADERS, stats_rows(groups))


def plain_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A rich table whose cells are plain text (a "[...]" in data is never markup)."""
    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for i, h in enumerate(headers):
        t.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*(Text(c) for c in row))
    return t


def tables_text(tables: Sequence[Table], width: int) -> str:
    """rich tables rendered without colour or terminal control codes."""
    buffer = StringIO()
    console = Console(
        file=buffer, width=width, color_system=None, markup=False, emoji=False, highlight=False
    )
    for t in tables:
        console.print(t)
    return buffer.getvalue()


def summarise(
    portfolio: Portfolio,
    results: LoanResults,
    *,
    policy_version: str,
    policy_digest: str,
    as_of: datetime,
    score_bands: Sequence[Decimal] = DEFAULT_SCORE_BANDS,
) -> Summary:
    """Exact aggregates of `results` (priced from `portfolio`), overall and by group.

    `score_bands` are the lower edges of the mine score bands after the first,
    each band including its lower edge: the default gives <60, 60-70, 70-80,
    80-90, >=90.
    """
    bands = tuple(score_bands)
    cols = _Columns.of(portfolio, results)
    n = len(portfolio)
    products, product_codes = _codes_of(portfolio.product_id)
    industries, industry_codes = _codes_of(portfolio.industry)
    ratings, rating_codes = _codes_of(portfolio.credit_rating)
    return Summary(
        policy_version=policy_version,
        policy_digest=policy_digest,
        as_of=as_of,
        score_bands=bands,
        overall=cols.stats(np.zeros(n, dtype=np.intp), ["all"])["all"],
        by_product=cols.stats(product_codes, products),
        by_grade=cols.stats(_grade_codes(results), [str(g) for g in GRADES]),
        by_score_band=cols.stats(_score_codes(portfolio, bands), score_band_labels(bands)),
        by_industry=cols.stats(industry_codes, industries),
        by_credit_rating=cols.stats(rating_codes, ratings),
    )


# ---------------------------------------------------------------------------
# Difference between two simulations of one portfolio (policy diff)


@dataclass(frozen=True, slots=True)
class DiffStats:
    """Exact aggregates of the change from base to draft over one group of loans.

    Rate and concession deltas count only loans priced under both policies; the
    first-year cost delta counts every loan, a refused loan costing nothing.
    """

    loans: int
    changed: int  # any result column differs
    both_priced: int
    rate_changed: int
    rate_up: int
    rate_down: int
    rate_delta_units_sum: int
    concession_delta_units_sum: int
    first_year_delta_fen: int
    status_changed: int
    to_refused: int  # PRICED under base, refused under draft
    to_priced: int  # refused under base, PRICED under draft

    @property
    def avg_rate_delta_bp(self) -> Decimal | None:
        """Mean rate change over loans priced under both, bp, 2 decimals, half-even."""
        if self.both_priced == 0:
            return None
        return rounded(self.rate_delta_units_sum, self.both_priced * UNITS_PER_BP, BP_DECIMALS)

    @property
    def avg_concession_delta_bp(self) -> Decimal | None:
        """Mean concession change over loans priced under both, bp, 2 decimals."""
        if self.both_priced == 0:
            return None
        return rounded(
            self.concession_delta_units_sum, self.both_priced * UNITS_PER_BP, BP_DECIMALS
        )

    def to_json(self) -> dict[str, Any]:
        """Ints, decimal strings and nulls; keys in a fixed order."""
        return {
            "loans": self.loans,
            "changed": self.changed,
            "both_priced": self.both_priced,
            "rate_changed": self.rate_changed,
            "rate_up": self.rate_up,
            "rate_down": self.rate_down,
            "avg_rate_delta_bp": _s(self.avg_rate_delta_bp),
            "avg_concession_delta_bp": _s(self.avg_concession_delta_bp),
            "first_year_delta_fen": self.first_year_delta_fen,
            "first_year_delta_cny": _s(fen_to_cny(self.first_year_delta_fen)),
            "status_changed": self.status_changed,
            "to_refused": self.to_refused,
            "to_priced": self.to_priced,
        }


@dataclass(frozen=True, slots=True)
class LoanChange:
    """One loan whose result differs between base and draft."""

    row: int  # 0-based position in the portfolio
    loan_id: str
    product_id: str
    base_status: str
    draft_status: str
    base_rate_units: int | None  # None when not priced
    draft_rate_units: int | None
    rate_delta_units: int  # 0 unless priced under both
    concession_delta_units: int  # 0 unless priced under both
    first_year_delta_fen: int

    @property
    def both_priced(self) -> bool:
        """Priced under both policies: only then is there a rate or concession change."""
        return self.base_rate_units is not None and self.draft_rate_units is not None

    def to_json(self) -> dict[str, Any]:
        """Rates as exact percent strings, deltas as exact bp strings (null for a flip)."""
        both = self.both_priced
        return {
            "index": self.row,  # 0-based position among the loans read, not a file row
            "loan_id": self.loan_id,
            "product_id": self.product_id,
            "base_status": self.base_status,
            "draft_status": self.draft_status,
            "base_rate_percent": _pct(self.base_rate_units),
            "draft_rate_percent": _pct(self.draft_rate_units),
            "rate_delta_bp": _bp_delta(self.rate_delta_units) if both else None,
            "concession_delta_bp": _bp_delta(self.concession_delta_units) if both else None,
            "first_year_delta_fen": self.first_year_delta_fen,
        }


def _bp_delta(units: int) -> str:
    return format(units_to_bp(units), "f")


def _pct(units: int | None) -> str | None:
    # fmt_percent: at least two decimals, as quotes show rates ("1.60", not "1.6").
    return None if units is None else fmt_percent(units_to_bp(units))


CHANGE_HEADERS = (
    "loan",
    "product",
    "base status",
    "draft status",
    "base rate %",
    "draft rate %",
    "rate Δ bp",
    "concession Δ bp",
    "1st-year cost Δ CNY",
)
DIFF_HEADERS = (
    "group",
    "loans",
    "changed",
    "rate up",
    "rate down",
    "avg rate Δ bp",
    "avg concession Δ bp",
    "1st-year cost Δ CNY",
    "PRICED→refused",
    "refused→PRICED",
)
FLIP_HEADERS = ("direction", "product", "reason", "loans")


def change_row(c: LoanChange) -> list[str]:
    """One display row in CHANGE_HEADERS order."""
    return [
        c.loan_id,
        c.product_id,
        c.base_status,
        c.draft_status,
        _pct(c.base_rate_units) or "-",
        _pct(c.draft_rate_units) or "-",
        # A flip (priced under one policy only) has no rate change: "-", never a made-up 0.
        _bp_delta(c.rate_delta_units) if c.both_priced else "-",
        _bp_delta(c.concession_delta_units) if c.both_priced else "-",
        cny(c.first_year_delta_fen),
    ]


def diff_row(label: str, s: DiffStats) -> list[str]:
    """One display row in DIFF_HEADERS order."""
    return [
        label,
        str(s.loans),
        str(s.changed),
        str(s.rate_up),
        str(s.rate_down),
        _dash(s.avg_rate_delta_bp),
        _dash(s.avg_concession_delta_bp),
        cny(s.first_year_delta_fen),
        str(s.to_refused),
        str(s.to_priced),
    ]


@dataclass(frozen=True, slots=True)
class DiffSummary:
    """What changes for each loan, and in aggregate, when the draft policy replaces the base."""

    base_version: str
    base_digest: str
    draft_version: str
    draft_digest: str
    as_of: datetime
    score_bands: tuple[Decimal, ...]
    overall: DiffStats
    by_product: Mapping[str, DiffStats]
    by_grade: Mapping[str, DiffStats]  # base grade if priced so, else draft grade
    by_score_band: Mapping[str, DiffStats]
    # product -> reason -> loans; the reason is the draft status (to refused)
    # or the base status (to priced)
    to_refused: Mapping[str, Mapping[str, int]]
    to_priced: Mapping[str, Mapping[str, int]]
    # per loan, in portfolio order
    changed: npt.NDArray[np.bool_] = field(repr=False)
    rate_delta_units: Ints = field(repr=False)
    concession_delta_units: Ints = field(repr=False)
    first_year_delta_fen: Ints = field(repr=False)
    loan_id: npt.NDArray[np.object_] = field(repr=False)
    product_id: npt.NDArray[np.object_] = field(repr=False)
    base: LoanResults = field(repr=False)
    draft: LoanResults = field(repr=False)

    @property
    def is_empty(self) -> bool:
        """No loan's result changed."""
        return self.overall.changed == 0

    def changes(self, limit: int | None = None) -> Iterator[LoanChange]:
        """The changed loans in portfolio order, at most `limit` of them."""
        rows = np.flatnonzero(self.changed)
        if limit is not None:
            rows = rows[:limit]
        b, d = self.base, self.draft
        for i in rows.tolist():
            b_priced = b.status[i] == PRICED
            d_priced = d.status[i] == PRICED
            yield LoanChange(
                row=i,
                loan_id=str(self.loan_id[i]),
                product_id=str(self.product_id[i]),
                base_status=str(b.status[i]),
                draft_status=str(d.status[i]),
                base_rate_units=int(b.rate_units[i]) if b_priced else None,
                draft_rate_units=int(d.rate_units[i]) if d_priced else None,
                rate_delta_units=int(self.rate_delta_units[i]),
                concession_delta_units=int(self.concession_delta_units[i]),
                first_year_delta_fen=int(self.first_year_delta_fen[i]),
            )

    def groupings(self) -> list[tuple[str, str, Mapping[str, DiffStats]]]:
        """(JSON key, heading, groups) of each dimension, in display order."""
        return [
            ("by_product", "By product", self.by_product),
            ("by_carbon_grade", "By carbon grade", self.by_grade),
            ("by_mine_score_band", "By mine score band", self.by_score_band),
        ]

    def flip_rows(self) -> list[list[str]]:
        """(direction, product, reason, count) of every eligibility flip."""
        rows = [
            ["PRICED→refused", p, reason, str(n)]
            for p, reasons in self.to_refused.items()
            for reason, n in reasons.items()
        ]
        rows += [
            ["refused→PRICED", p, reason, str(n)]
            for p, reasons in self.to_priced.items()
            for reason, n in reasons.items()
        ]
        return rows

    def to_json(self, loan_limit: int | None = None) -> dict[str, Any]:
        """A JSON-ready dict (ints, decimal strings, nulls); changed loans up to `loan_limit`."""
        out: dict[str, Any] = {
            "base_policy_version": self.base_version,
            "base_policy_digest": self.base_digest,
            "draft_policy_version": self.draft_version,
            "draft_policy_digest": self.draft_digest,
            "as_of": self.as_of.isoformat(),
            "rounding": ROUNDING,
            "score_bands": score_band_labels(self.score_bands),
            "overall": self.overall.to_json(),
        }
        for key, _, groups in self.groupings():
            out[key] = {label: stats.to_json() for label, stats in groups.items()}
        out["to_refused"] = {p: dict(r) for p, r in self.to_refused.items()}
        out["to_priced"] = {p: dict(r) for p, r in self.to_priced.items()}
        listed = [c.to_json() for c in self.changes(loan_limit)]
        out["changed_loans"] = listed
        out["changed_loans_truncated"] = len(listed) < self.overall.changed
        return out

    def tables(self, loan_limit: int = 20) -> list[Table]:
        """rich tables: overall, each dimension, flips, the first changed loans."""
        tables = [plain_table("Overall", DIFF_HEADERS, [diff_row("all loans", self.overall)])]
        for _, heading, groups in self.groupings():
            rows = [diff_row(label, s) for label, s in groups.items()]
            tables.append(plain_table(heading, DIFF_HEADERS, rows))
        flips = self.flip_rows()
        if flips:
            tables.append(plain_table("Eligibility flips", FLIP_HEADERS, flips))
        if self.overall.changed:
            shown = [change_row(c) for c in self.changes(loan_limit)]
            title = f"Changed loans (first {len(shown)} of {self.overall.changed})"
            tables.append(plain_table(title, CHANGE_HEADERS, shown))
        return tables

    def to_text(self, width: int = 160, loan_limit: int = 20) -> str:
        """The tables as plain text (no colour)."""
        return tables_text(self.tables(loan_limit), width)


def _changed_mask(base: LoanResults, draft: LoanResults) -> npt.NDArray[np.bool_]:
    changed = np.zeros(len(base), dtype=np.bool_)
    for name in LoanResults.column_names():
        changed |= np.asarray(getattr(base, name) != getattr(draft, name), dtype=np.bool_)
    return changed


def _flips(
    mask: npt.NDArray[np.bool_], products: npt.NDArray[np.object_], reasons: npt.NDArray[np.object_]
) -> dict[str, dict[str, int]]:
    counts = Counter(zip(products[mask].tolist(), reasons[mask].tolist(), strict=True))
    out: dict[str, dict[str, int]] = {}
    for (product, reason), n in sorted(counts.items()):
        out.setdefault(str(product), {})[str(reason)] = n
    return out


def _diff_stats(
    codes: Codes, labels: Sequence[str], per_loan: Mapping[str, Ints]
) -> dict[str, DiffStats]:
    k = len(labels)
    keep = codes >= 0
    codes = codes[keep]
    sums = {name: _group_sums(codes, k, column[keep]) for name, column in per_loan.items()}
    loans = np.bincount(codes, minlength=k)
    return {
        label: DiffStats(loans=int(loans[g]), **{name: s[g] for name, s in sums.items()})
        for g, label in enumerate(labels)
    }


def diff_summary(
    portfolio: Portfolio,
    base_results: LoanResults,
    draft_results: LoanResults,
    *,
    base_version: str,
    base_digest: str,
    draft_version: str,
    draft_digest: str,
    as_of: datetime,
    score_bands: Sequence[Decimal] = DEFAULT_SCORE_BANDS,
) -> DiffSummary:
    """Per-loan and aggregate changes from `base_results` to `draft_results` of `portfolio`."""
    n = len(portfolio)
    if len(base_results) != n or len(draft_results) != n:
        raise ValueError("base, draft and portfolio must have the same number of loans")
    bands = tuple(score_bands)
    b, d = base_results, draft_results
    b_priced, d_priced = b.priced, d.priced
    both = b_priced & d_priced
    zero = np.zeros(n, dtype=np.int64)
    changed = _changed_mask(b, d)
    rate_delta = np.where(both, d.rate_units - b.rate_units, zero)
    concession_delta = np.where(both, d.concession_units - b.concession_units, zero)
    # A loan refused on one side costs nothing there: the flip is part of the cost change.
    first_year_delta = np.where(d_priced, d.first_year_concession_fen, zero) - np.where(
        b_priced, b.first_year_concession_fen, zero
    )
    to_refused = b_priced & ~d_priced
    to_priced = ~b_priced & d_priced
    per_loan: dict[str, Ints] = {
        "changed": changed.astype(np.int64),
        "both_priced": both.astype(np.int64),
        "rate_changed": (rate_delta != 0).astype(np.int64),
        "rate_up": (rate_delta > 0).astype(np.int64),
        "rate_down": (rate_delta < 0).astype(np.int64),
        "rate_delta_units_sum": rate_delta,
        "concession_delta_units_sum": concession_delta,
        "first_year_delta_fen": first_year_delta,
        "status_changed": np.asarray(b.status != d.status, dtype=np.bool_).astype(np.int64),
        "to_refused": to_refused.astype(np.int64),
        "to_priced": to_priced.astype(np.int64),
    }
    products, product_codes = _codes_of(portfolio.product_id)
    base_grade, draft_grade = _grade_codes(b), _grade_codes(d)
    grade_codes = np.where(base_grade >= 0, base_grade, draft_grade)
    return DiffSummary(
        base_version=base_version,
        base_digest=base_digest,
        draft_version=draft_version,
        draft_digest=draft_digest,
        as_of=as_of,
        score_bands=bands,
        overall=_diff_stats(np.zeros(n, dtype=np.intp), ["all"], per_loan)["all"],
        by_product=_diff_stats(product_codes, products, per_loan),
        by_grade=_diff_stats(grade_codes, [str(g) for g in GRADES], per_loan),
        by_score_band=_diff_stats(
            _score_codes(portfolio, bands), score_band_labels(bands), per_loan
        ),
        to_refused=_flips(to_refused, portfolio.product_id, d.status),
        to_priced=_flips(to_priced, portfolio.product_id, b.status),
        changed=changed,
        rate_delta_units=rate_delta,
        concession_delta_units=concession_delta,
        first_year_delta_fen=first_year_delta,
        loan_id=portfolio.loan_id,
        product_id=portfolio.product_id,
        base=b,
        draft=d,
    )
