"""Monte Carlo of carbon-grade and mine-score migration, with an annual re-pricing.

The model (docs/fragments/montecarlo.md says the same for the README):

* Year 1 is the loan as priced at `as_of` by `price_portfolio`; its concession
  is the quote's own first-year concession (the schedule's exact figure).
* At each anniversary (years 2, 3, ...) the loan re-prices like the margin
  ratchet of a sustainability-linked loan. Its ordinary rate does not change:
  the LPR is held at the fixing in force at `as_of`, and the rating, term and
  tenor are the contract's. Only the product adjustment follows the evidence of
  the year: a carbon-account loan's grade moves by the transition matrix (a grade
  computed from emissions moves like a given one), a mine-score loan's score by
  the drift distribution (rounded to one decimal, kept within 0-100). Bounds and
  rounding are the policy's. A grade or score the product does not accept that
  year loses the concession for that year only: the loan continues at the
  ordinary rate (adjustment 0, bounds and rounding applied, what the standard
  product would quote), it is not called. Standard and transition loans do not
  migrate (transition KPIs are fixed at origination). Evidence is re-assessed at
  each reset, so its age limit does not bite.
* Loans that price as refused at `as_of` (ineligible, invalid, unknown product)
  are never booked and stay out of every figure.
* Concession of a loan-year t >= 2, in whole fen: the interest saved in the
  months of year t (12, fewer in the last year, none after maturity) at the
  year's concession d (ordinary minus quoted rate) on the month's outstanding
  principal, rounded once, half-even, per loan-year. Outstanding principal by
  repayment method: interest-only with bullet, the principal; equal principal,
  the straight line (both exactly the schedule's first-year formula moved to
  year t); equal instalments, the balance of the annuity at the ordinary rate,
  summed over the year's months and rounded to the fen-month. That is first
  order in the concession: it leaves out that the cheaper annuity amortises
  faster, so it is below the schedule's exact re-amortised saving, by 0.3-0.6%
  of the saving at 200 bp off (measured: 0.26-0.36% a year for 5 years at
  3.70% vs 1.70%, 0.45-0.61% for 3 years at 5.00% vs 3.00%). Linear in the
  concession, it makes each loan-year an exact integer function of the state.
* Volume-weighted average rate of a year: sum(rate x fen-months) / sum(fen-months)
  over the loans outstanding that year (fen-months: the balances above summed
  over the year's months, rounded half-even), rounded half-even to the rate
  unit (0.0001 bp); 0 for a year with no loan outstanding.

Randomness: path p draws from its own PCG64 stream, SeedSequence(seed,
spawn_key=(p,)), year by year: first the grade draws of the carbon-account loans
outstanding that year, then the score draws of the mine-score loans. A path is
therefore the same whatever the number of paths or the chunking, and a run is
reproducible by seed (for the same numpy and scipy versions). A grade draw is a
uniform 32-bit integer and each transition probability is realised to 2^-32
(cumulative probabilities x 2^32, rounded half-even): probabilities 0 and 1 are
exact. Draws are floats where they choose a scenario; no float reaches a rate or
an amount.

Speed: the pricer runs once. Each loan's quoted rate is then a function of its
state alone (a grade, or a score in tenths), tabulated exactly in integers
(the policy's rounding on the policy's bounds), and paths run in chunks over
int8/int16 state arrays.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.stats

from pricing_service.domain.evidence import ProductKind, RepaymentMethod
from pricing_service.domain.policy import Policy
from pricing_service.domain.rates import CTX
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.results import bp_to_units, units_to_percent
from pricing_service.simulate.vector import price_portfolio

Ints = npt.NDArray[np.int64]
Signed = npt.NDArray[np.signedinteger[Any]]
Int32s = npt.NDArray[np.int32]
Int16s = npt.NDArray[np.int16]
Int8s = npt.NDArray[np.int8]
Progress = Callable[[int, int], None]

GRADES = (1, 2, 3, 4, 5)
MAX_TENTHS = 1000  # a score of 100.0
DEFAULT_LEVEL = Decimal("0.95")
BANDS = (5, 25, 50, 75, 95)  # percentiles of the fan chart

_DRAW_SPAN = 1 << 32  # a grade draw is uniform on [0, 2^32)
_TABLE_BITS = 16  # the fast transition table reads the top 16 bits of a draw
_UNITS_PER_PERCENT = 1_000_000
# One month's interest in fen = balance_fen x rate_units / this (12 months, 100 percent,
# 10^6 rate units per percent).
_MONTH_INTEREST_DEN = 12 * 100 * _UNITS_PER_PERCENT
_INT64_LIMIT = 1 << 63
_CHUNK_CELLS = 1 << 21  # paths x migrating loans per chunk: a few MB per state array
_FEN = Decimal("0.01")


class MigrationModelError(ValueError):
    """A migration model (transition matrix, score drift) failed validation; all problems listed."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid migration model:\n" + "\n".join(f"- {p}" for p in problems))


# --- the migration model -----------------------------------------------------------------


def _decimal(value: Any, path: str, problems: list[str]) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        hint = f' like "{value}"' if isinstance(value, float) else ""
        problems.append(f"{path}: must be a decimal string{hint}, got {value!r}")
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        problems.append(f"{path}: not a decimal: {value!r}")
        return None
    if not d.is_finite():
        problems.append(f"{path}: not a finite decimal: {value!r}")
        return None
    return d


@dataclass(frozen=True, slots=True)
class GradeTransitions:
    """Row g-1: the probabilities that a loan of carbon grade g has grade 1..5 a year later."""

    matrix: tuple[tuple[Decimal, ...], ...]

    def __post_init__(self) -> None:
        problems = _matrix_problems(self.matrix)
        if problems:
            raise MigrationModelError(problems)

    @classmethod
    def identity(cls) -> GradeTransitions:
        """No grade ever moves."""
        return cls(
            tuple(tuple(Decimal(int(g == h)) for h in GRADES) for g in GRADES),
        )

    @classmethod
    def from_rows(cls, rows: Any, path: str = "grade_transition.matrix") -> GradeTransitions:
        """From 5 rows of 5 decimal strings (as a TOML file holds them)."""
        problems: list[str] = []
        matrix: list[tuple[Decimal, ...]] = []
        if not isinstance(rows, list) or len(rows) != len(GRADES):
            raise MigrationModelError([f"{path}: must be 5 rows (grades 1-5) of 5 probabilities"])
        for g, row in enumerate(rows, start=1):
            where = f"{path}[{g - 1}] (from grade {g})"
            if not isinstance(row, list) or len(row) != len(GRADES):
                problems.append(f"{where}: must be 5 probabilities (to grades 1-5)")
                continue
            values = [_decimal(v, f"{where}[{h}]", problems) for h, v in enumerate(row)]
            matrix.append(tuple(v if v is not None else Decimal(0) for v in values))
        if problems:
            raise MigrationModelError(problems)
        return cls(tuple(matrix))

    def thresholds(self) -> tuple[tuple[int, ...], ...]:
        """Per row, the cumulative probabilities of grades 1-4 x 2^32, rounded half-even.

        A draw u uniform on [0, 2^32) moves to grade 1 + (number of thresholds <= u):
        each probability is realised to within 2^-32, and 0 and 1 exactly.
        """
        out = []
        for row in self.matrix:
            cumulative = Fraction(0)
            cuts = []
            for p in row[:-1]:
                cumulative += Fraction(p)
                cuts.append(
                    _round_half_even(cumulative.numerator * _DRAW_SPAN, cumulative.denominator)
                )
            out.append(tuple(cuts))
        return tuple(out)

    def to_rows(self) -> list[list[str]]:
        """The matrix as decimal strings, as a TOML file holds it."""
        return [[str(p) for p in row] for row in self.matrix]


def _matrix_problems(matrix: Sequence[Sequence[Decimal]]) -> list[str]:
    problems: list[str] = []
    if len(matrix) != len(GRADES) or any(len(row) != len(GRADES) for row in matrix):
        return ["grade_transition.matrix: must be 5 rows (grades 1-5) of 5 probabilities"]
    for g, row in enumerate(matrix, start=1):
        where = f"grade_transition.matrix[{g - 1}] (from grade {g})"
        for h, p in enumerate(row, start=1):
            if not Decimal(0) <= p <= Decimal(1):
                problems.append(f"{where}: probability to grade {h} is {p}, must be 0 to 1")
        total = sum(row, Decimal(0))
        if total != 1:
            problems.append(f"{where}: sums to {total}, must be exactly 1")
    return problems


@dataclass(frozen=True, slots=True)
class ScoreDrift:
    """Yearly change of a mine score in points: a scipy.stats continuous distribution.

    `shapes` are the distribution's shape parameters by name (e.g. ("df", 5) for
    "t"). A scale of 0 is the point mass at `loc` (no draw is made): loc 0,
    scale 0 is no drift.
    """

    distribution: str = "norm"
    loc: Decimal = Decimal(0)
    scale: Decimal = Decimal(0)
    shapes: tuple[tuple[str, Decimal], ...] = ()

    def __post_init__(self) -> None:
        problems = _drift_problems(self)
        if problems:
            raise MigrationModelError(problems)

    @classmethod
    def none(cls) -> ScoreDrift:
        """Scores never move."""
        return cls()

    @property
    def deterministic(self) -> bool:
        """Whether every draw is `loc` (scale 0)."""
        return self.scale == 0

    def draw_tenths(self, rng: np.random.Generator, size: int) -> Int16s:
        """`size` yearly changes in tenths of a point (a change is rounded half-even to 0.1)."""
        if size == 0:
            return np.zeros(0, dtype=np.int16)
        if self.deterministic:
            tenths = _round_decimal(self.loc * 10)
            return np.full(size, max(-MAX_TENTHS, min(MAX_TENTHS, tenths)), dtype=np.int16)
        dist = getattr(scipy.stats, self.distribution)
        by_name = dict(self.shapes)
        draws = np.asarray(
            dist.rvs(
                *(float(by_name[name]) for name in _shape_names(dist)),
                loc=float(self.loc),
                scale=float(self.scale),
                size=size,
                random_state=rng,
            ),
            dtype=np.float64,
        )
        # Any move beyond the whole scale lands on 0 or 100 anyway; clipping first
        # keeps a heavy-tailed draw from overflowing int16.
        return np.clip(np.rint(draws * 10), -MAX_TENTHS, MAX_TENTHS).astype(np.int16)

    def to_table(self) -> dict[str, str]:
        """The drift as a TOML table holds it."""
        return {
            "distribution": self.distribution,
            **{name: str(v) for name, v in self.shapes},
            "loc": str(self.loc),
            "scale": str(self.scale),
        }


def _shape_names(dist: Any) -> list[str]:
    return [s.strip() for s in (dist.shapes or "").split(",") if s.strip()]


def _drift_problems(drift: ScoreDrift) -> list[str]:
    dist = getattr(scipy.stats, drift.distribution, None)
    if not isinstance(dist, scipy.stats.rv_continuous):
        return [
            f"score_drift.distribution: {drift.distribution!r} is not a continuous "
            "distribution of scipy.stats (e.g. norm, t, laplace, logistic)"
        ]
    problems: list[str] = []
    expected = _shape_names(dist)
    given = [name for name, _ in drift.shapes]
    if sorted(given) != sorted(expected):
        want = ", ".join(expected) if expected else "none"
        problems.append(
            f"score_drift: {drift.distribution} takes shape parameters {want}; "
            f"got {', '.join(given) or 'none'}"
        )
    if drift.scale < 0:
        problems.append(f"score_drift.scale: {drift.scale} must be >= 0")
    if not problems and not drift.deterministic:
        by_name = dict(drift.shapes)
        args = [float(by_name[name]) for name in expected]
        # support() is NaN for parameters outside the distribution's domain.
        low, high = dist.support(*args)
        if np.isnan(low) or np.isnan(high):
            problems.append(
                f"score_drift: shape parameters { {k: str(v) for k, v in drift.shapes} } "
                f"are outside the domain of {drift.distribution}"
            )
    return problems


def _drift_from_table(table: Mapping[str, Any], problems: list[str]) -> ScoreDrift | None:
    name = table.get("distribution")
    if not isinstance(name, str):
        problems.append('score_drift.distribution: missing (a scipy.stats name, e.g. "norm")')
        return None
    values: dict[str, Decimal] = {}
    for key, raw in table.items():
        if key == "distribution":
            continue
        d = _decimal(raw, f"score_drift.{key}", problems)
        if d is not None:
            values[key] = d
    for key in ("loc", "scale"):
        if key not in table:
            problems.append(f"score_drift.{key}: missing")
    if problems:
        return None
    loc, scale = values.pop("loc"), values.pop("scale")
    try:
        return ScoreDrift(name, loc, scale, tuple(sorted(values.items())))
    except MigrationModelError as exc:
        problems.extend(exc.problems)
        return None


def parse_migration(raw: bytes) -> tuple[GradeTransitions, ScoreDrift]:
    """A migration model from TOML: [grade_transition] matrix and [score_drift]."""
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MigrationModelError([f"not valid TOML: {exc}"]) from exc
    return migration_from_document(doc)


def migration_from_document(
    doc: Mapping[str, Any], prefix: str = ""
) -> tuple[GradeTransitions, ScoreDrift]:
    """A migration model from parsed tables: a migration file, or a policy's [simulation]
    section (then `prefix` is "simulation." so that problems name the policy's paths)."""
    problems = [
        f"{prefix}{key}: unknown section; expected grade_transition, score_drift"
        for key in doc
        if key not in ("grade_transition", "score_drift")
    ]
    transitions: GradeTransitions | None = None
    section = doc.get("grade_transition")
    if not isinstance(section, dict) or "matrix" not in section:
        problems.append(f"{prefix}grade_transition.matrix: missing (5 rows of 5 decimal strings)")
    else:
        problems.extend(
            f"{prefix}grade_transition.{key}: unknown key; expected matrix"
            for key in section
            if key != "matrix"
        )
        try:
            transitions = GradeTransitions.from_rows(
                section["matrix"], f"{prefix}grade_transition.matrix"
            )
        except MigrationModelError as exc:
            problems.extend(exc.problems)
    drift: ScoreDrift | None = None
    table = doc.get("score_drift")
    if not isinstance(table, dict):
        problems.append(f"{prefix}score_drift: missing (distribution, loc, scale)")
    else:
        drift = _drift_from_table(table, problems)
    if problems or transitions is None or drift is None:
        raise MigrationModelError([p if p.startswith(prefix) else prefix + p for p in problems])
    return transitions, drift


def load_migration(path: Path) -> tuple[GradeTransitions, ScoreDrift]:
    """A migration model from a TOML file (`--transitions FILE`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MigrationModelError([f"{path}: {exc.strerror or exc}"]) from exc
    try:
        return parse_migration(raw)
    except MigrationModelError as exc:
        raise MigrationModelError([f"{path}: {p}" for p in exc.problems]) from exc


def default_migration_bytes() -> bytes:
    """The shipped default migration model (synthetic, [unconfirmed])."""
    return (resources.files("pricing_service.simulate") / "default_transitions.toml").read_bytes()


def default_migration() -> tuple[GradeTransitions, ScoreDrift]:
    """The shipped default migration model, parsed."""
    return parse_migration(default_migration_bytes())


# --- exact integer arithmetic ------------------------------------------------------------


def _round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half-even to an integer."""
    q, r = divmod(numerator, denominator)  # floors: r / denominator in [0, 1)
    if 2 * r > denominator or (2 * r == denominator and q % 2 == 1):
        q += 1
    return q


def _round_decimal(value: Decimal) -> int:
    num, den = value.as_integer_ratio()
    return _round_half_even(num, den)


def round_units(values: Ints, step: int, mode: str) -> Ints:
    """Rates in RATE_UNIT rounded to a multiple of `step` units, as round_to_step() does.

    "half_even" ties to the even multiple, "half_up" ties away from zero (Decimal's
    ROUND_HALF_UP).
    """
    q, r = np.divmod(values, step)  # floors
    twice = 2 * r
    up = twice > step
    tie = twice == step
    if mode == "half_even":
        up |= tie & (q % 2 == 1)
    elif mode == "half_up":
        up |= tie & (q >= 0)
    else:
        raise ValueError(f"unknown rounding mode {mode!r}")
    return np.asarray((q + up) * step, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class RateRule:
    """The policy's bounds and rounding in RATE_UNIT: what turns a raw rate into a quote."""

    floor: int
    cap: int
    step: int
    mode: str

    @classmethod
    def of(cls, policy: Policy) -> RateRule:
        """The rule of a policy."""
        return cls(
            bp_to_units(policy.floor_bp),
            bp_to_units(policy.cap_bp),
            bp_to_units(policy.rounding_step_bp),
            policy.rounding_mode,
        )

    def quoted(self, raw: Ints, adjust: Ints) -> Ints:
        """The quoted rate: ordinary raw rate + adjustment, bounded, rounded once."""
        return round_units(np.clip(raw + adjust, self.floor, self.cap), self.step, self.mode)


def concession_fen(m: Signed, q: Ints, r: Ints, den: Ints) -> Ints:
    """round_half_even(m x (q x den + r) / den) elementwise, exactly, in int64.

    m is a concession in rounding steps; (q, r) split one step's exact saving in
    a loan-year, q x den + r over den fen, so that no product overflows (the
    caller checks m x r and m x q against the int64 range).
    """
    am = np.abs(m).astype(np.int64)
    x = am * r
    whole = x // den
    rem = x - whole * den
    base = am * q + whole
    twice = 2 * rem
    up = (twice > den) | ((twice == den) & ((base & 1) == 1))
    out = base + up
    # Half-even is symmetric, so a negative concession is the negated positive one.
    return np.asarray(np.where(m < 0, -out, out), dtype=np.int64)


# --- loan-year weights ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Weights:
    """Per priced loan and year (rows: years 1..Y): what one rounding step saves, and the volume.

    A concession of d rate units saves d x N_t / 1.2e9 fen in loan-year t, N_t the
    year's fen-months (equal principal: n times them over a denominator n times
    larger, to stay exact). For d = m rounding steps that is m x (q_t x den + r_t)
    / den, split so that the hot loop's products stay small.
    """

    q: Ints
    r: Ints
    den: Ints
    volume: Ints  # fen-months outstanding in the year (rounded half-even to the fen-month)
    months: Ints  # months of the year before maturity (0 after)


def _annuity_ratios(ordinary_units: int, n: int, years: int) -> list[Fraction]:
    """Per year, the sum over its months of the ordinary-rate annuity balance / principal.

    The balance after j months of an annuity over n months at monthly rate r is
    P (g^n - g^j) / (g^n - 1) with g = 1 + r; summed over j = a..a+k-1 that is
    P (k g^n - g^a (g^k - 1) / r) / (g^n - 1), evaluated under CTX.
    """
    out = []
    with localcontext(CTX):
        r = Decimal(ordinary_units) / (1200 * _UNITS_PER_PERCENT)
        g = 1 + r
        gn = g**n
        for t in range(years):
            a = 12 * t
            k = max(0, min(12, n - a))
            if k == 0:
                out.append(Fraction(0))
            elif r == 0:
                out.append(Fraction(2 * k * (n - a) - k * (k - 1), 2 * n))
            else:
                total = (k * gn - g**a * (g**k - 1) / r) / (gn - 1)
                out.append(Fraction(total))
    return out


def _half_even(num: npt.NDArray[Any], den: npt.NDArray[Any] | int) -> npt.NDArray[Any]:
    """Elementwise round_half_even(num / den) over integer or object (Python int) arrays."""
    q = num // den
    twice = 2 * (num - q * den)
    up = (twice > den) | ((twice == den) & (q % 2 == 1))
    return np.where(up, q + 1, q)


def _weights(
    principal: Ints,
    term: Ints,
    method: npt.NDArray[np.object_],
    ordinary: Ints,
    years: int,
    step: int,
) -> _Weights:
    # Python integers (object arrays) throughout: a principal of 5e11 fen times a
    # 34-digit annuity ratio is far beyond int64; the results are checked into it.
    n_loans = len(principal)
    gcd = math.gcd(step, _MONTH_INTEREST_DEN)
    mult, base_den = step // gcd, _MONTH_INTEREST_DEN // gcd
    p = principal.astype(object)
    n = term.astype(np.int64)
    bullet = method == RepaymentMethod.INTEREST_ONLY_BULLET.value
    linear = method == RepaymentMethod.EQUAL_PRINCIPAL.value
    annuity = ~(bullet | linear)
    den = np.where(linear, base_den * n, base_den).astype(np.int64)
    # Annuity balances depend on (ordinary rate, term) and scale with the principal.
    keys = np.stack([ordinary, n], axis=1)[annuity]
    groups, group_of = np.unique(keys, axis=0, return_inverse=True)
    ratios = [_annuity_ratios(int(o), int(m), years) for o, m in groups]
    q = np.zeros((years, n_loans), dtype=np.int64)
    r = np.zeros((years, n_loans), dtype=np.int64)
    volume = np.zeros((years, n_loans), dtype=np.int64)
    months = np.zeros((years, n_loans), dtype=np.int64)
    for t in range(years):
        a = 12 * t
        k = np.clip(n - a, 0, 12)
        months[t] = k
        # Equal principal: the balance before month j (0-based) is P (n - j) / n; over
        # the year's months that sums to P (k (n - a) - k (k - 1) / 2) / n, the
        # schedule's first-year formula (2nk - k(k-1) halves) moved to year t.
        linear_sum = p * (k * (n - a) - k * (k - 1) // 2)
        num = np.where(bullet, p * k, np.where(linear, linear_sum, 0))
        vol = np.where(linear, _half_even(linear_sum, np.maximum(n, 1).astype(object)), num)
        if annuity.any():
            index = group_of.reshape(-1)
            ratio_num = np.array([x[t].numerator for x in ratios], dtype=object)[index]
            ratio_den = np.array([x[t].denominator for x in ratios], dtype=object)[index]
            fen_months = _half_even(p[annuity] * ratio_num, ratio_den)
            num[annuity] = fen_months
            vol[annuity] = fen_months
        scaled = num * mult
        whole = scaled // den.astype(object)
        q[t] = whole.astype(np.int64)
        r[t] = (scaled - whole * den.astype(object)).astype(np.int64)
        volume[t] = vol.astype(np.int64)
    return _Weights(q, r, den, volume, months)


# --- state tables --------------------------------------------------------------------------


def _raw_units(
    portfolio: Portfolio, policy: Policy, rows: npt.NDArray[np.intp], base: Ints
) -> Ints:
    """Ordinary rate before rounding (base + rating spread + tenor spread), in RATE_UNIT."""
    ratings = portfolio.credit_rating[rows].astype(str)
    names, inverse = np.unique(ratings, return_inverse=True)
    spread = np.array([bp_to_units(policy.spreads_bp[str(x)]) for x in names], dtype=np.int64)
    terms = portfolio.term_months[rows]
    term_values, term_inverse = np.unique(terms, return_inverse=True)
    tenor = np.array(
        [bp_to_units(policy.tenor_spread_bp(int(x))) for x in term_values], dtype=np.int64
    )
    return np.asarray(base + spread[inverse] + tenor[term_inverse], dtype=np.int64)


def _carbon_steps(
    products: npt.NDArray[np.object_], raw: Ints, ordinary: Ints, policy: Policy, rule: RateRule
) -> Int32s:
    """Concession in rounding steps of each carbon loan (rows) at grades 1-5 (columns)."""
    adjust = np.zeros((len(raw), len(GRADES)), dtype=np.int64)
    for pid in np.unique(products.astype(str)):
        table = policy.products[str(pid)].grade_adjust_bp
        # An ineligible grade prices as the ordinary rate: adjustment 0.
        row = [bp_to_units(table[g]) if g in table else 0 for g in GRADES]
        adjust[products == pid] = row
    quoted = rule.quoted(raw[:, None], adjust)
    return _steps(ordinary[:, None] - quoted, rule)


def _steps(concession_units: Ints, rule: RateRule) -> Int32s:
    steps, rest = np.divmod(concession_units, rule.step)
    if np.any(rest):  # both rates are multiples of the step
        raise AssertionError("a concession is not a whole number of rounding steps")
    return steps.astype(np.int32)


def _mine_steps(
    portfolio: Portfolio,
    rows: npt.NDArray[np.intp],
    raw: Ints,
    ordinary: Ints,
    policy: Policy,
    rule: RateRule,
) -> tuple[Int32s, Ints]:
    """A table of concession steps per (pricing key, score tenth) and each loan's row offset.

    A mine loan's rate is a function of its score given (product, raw rate,
    ordinary rate, class adjustment): loans sharing those share a row of 1001.
    """
    products = portfolio.product_id[rows].astype(str)
    pids = sorted(set(products.tolist()))
    product_code = np.searchsorted(np.array(pids), products)
    class_units = np.zeros(len(rows), dtype=np.int64)
    classes = portfolio.construction_class[rows]
    for pid in pids:
        mask = products == pid
        for c, bp in policy.products[pid].class_adjust_bp.items():
            class_units[mask & (classes == c)] = bp_to_units(bp)
    keys = np.stack([product_code, raw, ordinary, class_units], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    tenths = np.arange(MAX_TENTHS + 1, dtype=np.int64)
    adjust = np.zeros((len(unique), MAX_TENTHS + 1), dtype=np.int64)
    for pid_index, pid in enumerate(pids):
        product = policy.products[pid]
        assert product.curve is not None
        curve = np.array([bp_to_units(v) for v in product.curve.table], dtype=np.int64)
        minimum = int((product.min_score * 10).to_integral_value(rounding=ROUND_CEILING))
        eligible = tenths >= minimum
        rows_of = unique[:, 0] == pid_index
        # Below the minimum the loan is not refused but prices at the ordinary rate.
        adjust[rows_of] = np.where(eligible, curve[None, :] + unique[rows_of, 3][:, None], 0)
    quoted = rule.quoted(unique[:, 1][:, None], adjust)
    table = _steps(unique[:, 2][:, None] - quoted, rule)
    return table, np.asarray(inverse * (MAX_TENTHS + 1), dtype=np.int64)


def _transition_table(cuts: tuple[tuple[int, ...], ...]) -> Int8s:
    """Next grade index (0-4) by (top 16 bits of the draw) x 5 + current index; -1: look closer.

    A bin of 2^16 draws that a threshold cuts is marked -1 and resolved against
    the thresholds themselves: the table is a shortcut, the thresholds the rule.
    """
    bins = 1 << _TABLE_BITS
    width = _DRAW_SPAN // bins
    low = np.arange(bins, dtype=np.int64) * width
    high = low + width - 1
    table = np.empty((bins, len(GRADES)), dtype=np.int8)
    for g, row in enumerate(cuts):
        c = np.array(row, dtype=np.int64)
        at_low = (low[:, None] >= c[None, :]).sum(axis=1)
        at_high = (high[:, None] >= c[None, :]).sum(axis=1)
        table[:, g] = np.where(at_low == at_high, at_low, -1)
    return table.reshape(-1)


def _migrate_grades(
    grades: Int8s, draws: npt.NDArray[np.uint32], table: Int8s, cuts: Ints
) -> Int8s:
    """Next grade index of each loan from its draw (arrays of one shape)."""
    index = (draws >> _TABLE_BITS).astype(np.int64)
    index *= len(GRADES)
    index += grades
    out = table[index]
    unsure = np.flatnonzero(out < 0)
    if unsure.size:
        flat = out.reshape(-1)
        u = draws.reshape(-1)[unsure].astype(np.int64)
        g = grades.reshape(-1)[unsure].astype(np.int64)
        flat[unsure] = (u[:, None] >= cuts[g]).sum(axis=1)
    return out


# --- exact sums ------------------------------------------------------------------------------


def _row_dot(x: npt.NDArray[Any], w: Ints, bound: int) -> list[int]:
    """Exact sum over columns of x[p, i] x w[i] for each row p.

    `bound` (>= sum of max|x_i| x w_i) decides: in int64 when it cannot overflow,
    otherwise w is split in 31-bit limbs whose sums cannot.
    """
    if bound < _INT64_LIMIT:
        return [int(v) for v in np.einsum("pi,i->p", x, w, dtype=np.int64)]
    high = np.einsum("pi,i->p", x, w >> 31, dtype=np.int64)
    low = np.einsum("pi,i->p", x, w & ((1 << 31) - 1), dtype=np.int64)
    return [(int(h) << 31) + int(lo) for h, lo in zip(high, low, strict=True)]


def _dot(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> int:
    """Exact sum of a x b (Python integers: no overflow whatever the values)."""
    return int(np.dot(a.astype(object), b.astype(object))) if len(a) else 0


def _int_sum(values: npt.NDArray[Any]) -> int:
    """Exact sum of integers (int64 when the bound allows, else Python integers)."""
    if not len(values):
        return 0
    if values.dtype != object and int(np.abs(values).max()) * len(values) < _INT64_LIMIT:
        return int(values.sum())
    return int(values.astype(object).sum())


# --- the result ------------------------------------------------------------------------------


def fen_to_cny(fen: int | Fraction) -> Decimal:
    """Fen (an integer or an exact ratio) as CNY, rounded half-even to the fen."""
    f = Fraction(fen)
    return Decimal(_round_half_even(f.numerator, f.denominator)).scaleb(-2)


def percentile(sorted_values: Sequence[int], percent: Fraction) -> Fraction:
    """The percentile of sorted integers, exactly, by linear interpolation between order
    statistics (numpy's default, Hyndman-Fan type 7)."""
    n = len(sorted_values)
    h = (n - 1) * percent / 100
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def _bands(column: npt.NDArray[np.int64]) -> dict[str, int]:
    ordered = np.sort(column).tolist()
    out = {}
    for p in BANDS:
        f = percentile(ordered, Fraction(p))
        out[f"p{p}"] = _round_half_even(f.numerator, f.denominator)
    return out


@dataclass(frozen=True, slots=True)
class MonteCarloResult:
    """Every path's concession and average rate by year, and the no-migration baseline.

    Arrays are (paths, years) int64: concession in whole fen, rates in RATE_UNIT
    (0.0001 bp). Year y is column y - 1.
    """

    as_of: datetime
    policy_version: str
    policy_digest: str
    years: int
    paths: int
    seed: int
    transitions: GradeTransitions
    score_drift: ScoreDrift
    loans: int
    priced: int
    migrating_grade: int
    migrating_score: int
    outstanding: Ints  # (years,) priced loans with months left in the year
    volume_fen_months: tuple[int, ...]
    path_concession_fen: Ints
    path_rate_units: Ints
    baseline_concession_fen: Ints
    baseline_rate_units: Ints

    @property
    def path_total_fen(self) -> Ints:
        """Lifetime concession of each path (sum over the years), fen."""
        return np.asarray(self.path_concession_fen.sum(axis=1), dtype=np.int64)

    @property
    def baseline_total_fen(self) -> int:
        """Lifetime concession without migration, fen."""
        return int(self.baseline_concession_fen.sum())

    def expected_total_fen(self) -> Fraction:
        """Mean lifetime concession over the paths, exact."""
        return Fraction(_int_sum(self.path_total_fen), self.paths)

    def sd_total_fen(self) -> Decimal | None:
        """Sample standard deviation of the path totals (34 digits; None for one path)."""
        if self.paths < 2:
            return None
        totals = [int(v) for v in self.path_total_fen.tolist()]
        n, s = len(totals), sum(totals)
        var = Fraction(n * sum(v * v for v in totals) - s * s, n * (n - 1))
        with localcontext(CTX):
            return (Decimal(var.numerator) / Decimal(var.denominator)).sqrt()

    def confidence_interval(self, level: Decimal = DEFAULT_LEVEL) -> tuple[Decimal, Decimal] | None:
        """Mean ± z·sd/√paths of the lifetime concession, CNY rounded to the fen (an estimate).

        sd is the sample standard deviation of the path totals; z the normal
        quantile of (1 + level) / 2 (scipy, a float). None with a single path.
        """
        sd = self.sd_total_fen()
        if sd is None:
            return None
        z = Decimal(repr(float(scipy.stats.norm.ppf((1 + float(level)) / 2))))
        mean = self.expected_total_fen()
        with localcontext(CTX):
            half = z * sd / Decimal(self.paths).sqrt()
            centre = Decimal(mean.numerator) / Decimal(mean.denominator)
            low, high = (centre - half) / 100, (centre + half) / 100
        return low.quantize(_FEN, context=CTX), high.quantize(_FEN, context=CTX)

    def summary(self, level: Decimal = DEFAULT_LEVEL) -> dict[str, Any]:
        """Everything a report needs, as JSON-ready exact integers and decimal strings.

        Percentiles interpolate linearly between order statistics (numpy's
        default), exactly, then round half-even to the fen or rate unit. The
        interval and sd are estimates (a float normal quantile, a square root);
        the means and percentiles are exact.
        """
        totals = np.sort(self.path_total_fen).tolist()
        tail = (1 - Fraction(level)) * 50  # percent in each tail: 2.5 for 95%
        ci = self.confidence_interval(level)
        sd = self.sd_total_fen()
        per_year = []
        for y in range(self.years):
            conc = self.path_concession_fen[:, y]
            rate = self.path_rate_units[:, y]
            rate_bands = _bands(rate)
            mean_rate = Fraction(_int_sum(rate), self.paths)
            per_year.append(
                {
                    "year": y + 1,
                    "loans_outstanding": int(self.outstanding[y]),
                    "volume_fen_months": self.volume_fen_months[y],
                    "expected_concession_cny": str(
                        fen_to_cny(Fraction(_int_sum(conc), self.paths))
                    ),
                    "baseline_concession_cny": str(
                        fen_to_cny(int(self.baseline_concession_fen[y]))
                    ),
                    "concession_fen": _bands(conc),
                    "expected_rate_units": _round_half_even(
                        mean_rate.numerator, mean_rate.denominator
                    ),
                    "baseline_rate_units": int(self.baseline_rate_units[y]),
                    "rate_units": rate_bands,
                    "baseline_rate_percent": str(
                        units_to_percent(int(self.baseline_rate_units[y]))
                    ),
                    "rate_percent": {k: str(units_to_percent(v)) for k, v in rate_bands.items()},
                }
            )
        return {
            "as_of": self.as_of.isoformat(),
            "policy_version": self.policy_version,
            "policy_digest": self.policy_digest,
            "years": self.years,
            "paths": self.paths,
            "seed": self.seed,
            "loans": {
                "total": self.loans,
                "priced": self.priced,
                "excluded_refused": self.loans - self.priced,
                "migrating_grade": self.migrating_grade,
                "migrating_score": self.migrating_score,
            },
            "migration": {
                "grade_transition": self.transitions.to_rows(),
                "score_drift": self.score_drift.to_table(),
            },
            "lifetime_concession": {
                "expected_cny": str(fen_to_cny(self.expected_total_fen())),
                "baseline_cny": str(fen_to_cny(self.baseline_total_fen)),
                "sd_cny_estimate": None
                if sd is None
                else str((sd / 100).quantize(_FEN, context=CTX)),
                "confidence_level": str(level),
                "ci_cny_estimate": None if ci is None else [str(ci[0]), str(ci[1])],
                "empirical_percentiles": [_fraction_text(tail), _fraction_text(100 - tail)],
                "empirical_cny": [
                    str(fen_to_cny(percentile(totals, tail))),
                    str(fen_to_cny(percentile(totals, 100 - tail))),
                ],
            },
            "per_year": per_year,
        }


def _fraction_text(value: Fraction) -> str:
    with localcontext(CTX):
        return format(Decimal(value.numerator) / Decimal(value.denominator), "f")


# --- the simulation --------------------------------------------------------------------------


def _prefix_counts(months: Ints) -> list[int]:
    """Loans outstanding in each year (a prefix: loans are sorted longest first)."""
    return [int(np.count_nonzero(row)) for row in months]


@dataclass(frozen=True, slots=True)
class _CarbonLoans:
    """The carbon-account loans, longest first, with their concession at each grade.

    Tables are loan-major (loan x 5 + grade index) so that a state array indexes
    them with one addition.
    """

    grade0: Int8s  # initial grade index, 0-4
    steps: Int32s  # concession in rounding steps per (loan, grade)
    fen: list[Ints]  # per year: the loan-year's concession in fen per (loan, grade)
    volume: Ints  # (years, loans) fen-months
    active: list[int]
    dot_bound: list[int]  # per year: sum of max |steps| x volume

    @classmethod
    def build(
        cls, steps: Int32s, grade0: Int8s, w: _Weights, order: npt.NDArray[np.intp], years: int
    ) -> _CarbonLoans:
        steps64 = steps.astype(np.int64)
        largest = np.abs(steps64).max(axis=1, initial=0)
        q, r, den = w.q[:, order], w.r[:, order], w.den[order]
        _check_products(largest, q, r, "carbon-account loans")
        fen = [
            concession_fen(steps64, q[t][:, None], r[t][:, None], den[:, None]).reshape(-1)
            for t in range(years)
        ]
        for f in fen:
            if int(np.abs(f).max(initial=0)) * len(order) >= _INT64_LIMIT:
                raise OverflowError("carbon-account loans: a year's concession exceeds int64")
        volume = w.volume[:, order]
        return cls(
            grade0=grade0,
            steps=steps.reshape(-1),
            fen=fen,
            volume=volume,
            active=_prefix_counts(w.months[:, order]),
            dot_bound=[_dot(largest, v) for v in volume],
        )

    def year(self, t: int, grades: Int8s) -> tuple[list[int], list[int]]:
        """Per path (rows of `grades`): the year's concession in fen and sum(steps x volume)."""
        n = grades.shape[1]
        cell = np.arange(0, n * len(GRADES), len(GRADES), dtype=np.int64) + grades
        fen = np.take(self.fen[t], cell).sum(axis=1)
        steps_volume = _row_dot(np.take(self.steps, cell), self.volume[t, :n], self.dot_bound[t])
        return [int(v) for v in fen], steps_volume


@dataclass(frozen=True, slots=True)
class _MineLoans:
    """The mine-score loans, longest first, with their concession per score tenth."""

    score0: Int16s
    table: Int32s  # concession steps per (pricing key, tenth), flat
    offset: Ints  # each loan's row start in `table`
    nonnegative: bool  # no state raises a rate above the ordinary one
    q: Ints  # (years, loans)
    r: Ints
    den: Ints
    volume: Ints
    active: list[int]
    dot_bound: list[int]

    @classmethod
    def build(
        cls,
        table: Int32s,
        offset: Ints,
        score0: Int16s,
        w: _Weights,
        order: npt.NDArray[np.intp],
    ) -> _MineLoans:
        rows = offset // (MAX_TENTHS + 1)
        largest = np.abs(table.astype(np.int64)).max(axis=1, initial=0)[rows]
        q, r, den = w.q[:, order], w.r[:, order], w.den[order]
        _check_products(largest, q, r, "mine-score loans")
        volume = w.volume[:, order]
        return cls(
            score0=score0,
            table=table.reshape(-1),
            offset=offset,
            nonnegative=bool(table.size == 0 or table.min() >= 0),
            q=q,
            r=r,
            den=den,
            volume=volume,
            active=_prefix_counts(w.months[:, order]),
            dot_bound=[_dot(largest, v) for v in volume],
        )

    def year(self, t: int, scores: Int16s) -> tuple[list[int], list[int]]:
        """Per path (rows of `scores`): the year's concession in fen and sum(steps x volume)."""
        n = scores.shape[1]
        steps = np.take(self.table, self.offset[:n] + scores)
        q, r, den = self.q[t, :n], self.r[t, :n], self.den[:n]
        if self.nonnegative:
            fen = _nonnegative_fen(steps, q, r, den).sum(axis=1)
        else:
            fen = concession_fen(steps, q, r, den).sum(axis=1)
        steps_volume = _row_dot(steps, self.volume[t, :n], self.dot_bound[t])
        return [int(v) for v in fen], steps_volume


def _nonnegative_fen(m: Int32s, q: Ints, r: Ints, den: Ints) -> Ints:
    """concession_fen() for m >= 0, in place where it can: the hot loop's case."""
    x = np.multiply(m, r, dtype=np.int64)
    whole = x // den
    x -= whole * den  # the remainder
    x <<= 1
    out = np.multiply(m, q, dtype=np.int64)
    out += whole
    # A half-fen tie is rare: round those to even apart, after rounding the rest up
    # when the remainder is over half.
    tie = np.flatnonzero(x == den)
    out += x > den
    if tie.size:
        flat = out.reshape(-1)
        flat[tie] += flat[tie] & 1
    return out


def _check_products(largest: Ints, q: Ints, r: Ints, what: str) -> None:
    """The hot loop's m x r, m x q and a year's sum over loans must fit int64."""
    if not largest.size:
        return
    m = int(largest.max())
    if m * int(r.max()) >= _INT64_LIMIT:
        raise OverflowError(f"{what}: a loan-year's concession exceeds the int64 range")
    year_bound = (q.max(axis=1).astype(object) + 1) * m * largest.size
    if any(int(v) >= _INT64_LIMIT for v in year_bound):
        raise OverflowError(f"{what}: a year's concession could exceed the int64 range")


def _stream(seed: int, path: int) -> np.random.Generator:
    """Path `path`'s own generator: a path never depends on the number of paths or chunks."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(path,))))


def run_montecarlo(
    portfolio: Portfolio,
    policy: Policy,
    as_of: datetime,
    *,
    years: int,
    paths: int,
    seed: int,
    transitions: GradeTransitions,
    score_drift: ScoreDrift,
    progress: Progress | None = None,
    chunk_paths: int | None = None,
) -> MonteCarloResult:
    """Simulate `paths` paths of `years` annual resets of every loan priced at `as_of`.

    `progress(done, paths)` is called after each chunk of paths. `chunk_paths`
    (default: a few MB of state per chunk) changes speed and memory, never the result.
    """
    if years < 1 or paths < 1:
        raise ValueError("years and paths must be at least 1")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    results = price_portfolio(portfolio, policy, as_of)
    rows = np.flatnonzero(results.priced)
    res = results.take(rows)
    rule = RateRule.of(policy)
    raw = _raw_units(portfolio, policy, rows, res.base_units)
    ordinary = res.ordinary_units
    if not np.array_equal(round_units(raw, rule.step, rule.mode), ordinary):
        raise AssertionError("the ordinary rates rebuilt from the policy differ from the pricer's")
    kind_of = {pid: product.kind for pid, product in policy.products.items()}
    kinds = np.array([kind_of[str(p)] for p in portfolio.product_id[rows]], dtype=object)
    steps0 = _steps(res.concession_units, rule).astype(np.int64)
    w = _weights(
        portfolio.principal_fen[rows],
        portfolio.term_months[rows],
        portfolio.repayment[rows],
        ordinary,
        years,
        rule.step,
    )
    lifetime = w.months.sum(axis=0)

    def longest_first(kind: ProductKind) -> npt.NDArray[np.intp]:
        members = np.flatnonzero(kinds == kind)
        return members[np.argsort(-lifetime[members], kind="stable")]

    co = longest_first(ProductKind.CARBON_ACCOUNT)
    carbon_steps = _carbon_steps(
        portfolio.product_id[rows[co]], raw[co], ordinary[co], policy, rule
    )
    grade0 = (res.carbon_grade[co] - 1).astype(np.int8)
    _check_state(carbon_steps[np.arange(len(co)), grade0], steps0[co], "grade")
    carbon = _CarbonLoans.build(carbon_steps, grade0, w, co, years)

    mo = longest_first(ProductKind.MINE_SCORE)
    mine_table, mine_offset = _mine_steps(portfolio, rows[mo], raw[mo], ordinary[mo], policy, rule)
    score0 = portfolio.mine_score_tenths[rows[mo]].astype(np.int16)
    _check_state(mine_table.reshape(-1)[mine_offset + score0], steps0[mo], "score")
    mine = _MineLoans.build(mine_table, mine_offset, score0, w, mo)

    # The baseline: every loan keeps its state; year 1 is the quotes' own first-year figure.
    baseline = [_int_sum(res.first_year_concession_fen)] + [
        _int_sum(concession_fen(steps0, w.q[t], w.r[t], w.den)) for t in range(1, years)
    ]
    volume = [_int_sum(w.volume[t]) for t in range(years)]
    ordinary_volume = [_dot(ordinary, w.volume[t]) for t in range(years)]
    steps_volume = [_dot(steps0, w.volume[t]) for t in range(years)]

    def average_rate(t: int, year_steps_volume: int) -> int:
        # sum(rate x volume) / sum(volume), with rate = ordinary - steps x step.
        if volume[t] == 0:
            return 0
        return _round_half_even(ordinary_volume[t] - rule.step * year_steps_volume, volume[t])

    baseline_rate = [average_rate(t, steps_volume[t]) for t in range(years)]
    # A path's year = the baseline with the migrating loans' baseline share replaced.
    fixed_fen = [baseline[0]] + [
        baseline[t]
        - carbon.year(t, grade0[None, : carbon.active[t]])[0][0]
        - mine.year(t, score0[None, : mine.active[t]])[0][0]
        for t in range(1, years)
    ]
    fixed_steps_volume = [
        steps_volume[t] - _dot(steps0[co], carbon.volume[t]) - _dot(steps0[mo], mine.volume[t])
        for t in range(years)
    ]

    conc = np.tile(np.array(baseline, dtype=np.int64), (paths, 1))
    rate = np.tile(np.array(baseline_rate, dtype=np.int64), (paths, 1))
    cuts = np.array(transitions.thresholds(), dtype=np.int64)
    table = _transition_table(transitions.thresholds())
    moving = len(co) + len(mo)
    chunk = chunk_paths or max(1, _CHUNK_CELLS // max(1, moving))
    for start in range(0, paths if moving and years > 1 else 0, chunk):
        stop = min(paths, start + chunk)
        streams = [_stream(seed, p) for p in range(start, stop)]
        grades = np.tile(grade0, (len(streams), 1))
        scores = np.tile(score0, (len(streams), 1))
        for t in range(1, years):
            ac, am = carbon.active[t], mine.active[t]
            draws = np.empty((len(streams), ac), dtype=np.uint32)
            drift = np.empty((len(streams), am), dtype=np.int16)
            for j, rng in enumerate(streams):  # each path's draws in its documented order
                draws[j] = rng.integers(0, _DRAW_SPAN, size=ac, dtype=np.uint32)
                drift[j] = score_drift.draw_tenths(rng, am)
            grades[:, :ac] = _migrate_grades(grades[:, :ac], draws, table, cuts)
            s = scores[:, :am]
            s += drift
            np.clip(s, 0, MAX_TENTHS, out=s)
            carbon_fen, carbon_sv = carbon.year(t, grades[:, :ac])
            mine_fen, mine_sv = mine.year(t, s)
            for j in range(len(streams)):
                conc[start + j, t] = fixed_fen[t] + carbon_fen[j] + mine_fen[j]
                rate[start + j, t] = average_rate(
                    t, fixed_steps_volume[t] + carbon_sv[j] + mine_sv[j]
                )
        if progress is not None:
            progress(stop, paths)
    if progress is not None and not (moving and years > 1):
        progress(paths, paths)
    return MonteCarloResult(
        as_of=as_of,
        policy_version=policy.version,
        policy_digest=policy.digest,
        years=years,
        paths=paths,
        seed=seed,
        transitions=transitions,
        score_drift=score_drift,
        loans=len(portfolio),
        priced=len(rows),
        migrating_grade=len(co),
        migrating_score=len(mo),
        outstanding=np.count_nonzero(w.months, axis=1).astype(np.int64),
        volume_fen_months=tuple(volume),
        path_concession_fen=conc,
        path_rate_units=rate,
        baseline_concession_fen=np.array(baseline, dtype=np.int64),
        baseline_rate_units=np.array(baseline_rate, dtype=np.int64),
    )


def _check_state(tabulated: npt.NDArray[Any], priced: Ints, what: str) -> None:
    # The tables re-derive each quote from the policy: at the loan's own state they
    # must give what the pricer gave, or the tables (not the pricer) are wrong.
    if not np.array_equal(tabulated.astype(np.int64), priced):
        raise AssertionError(f"the {what} table does not reproduce the pricer's concessions")
