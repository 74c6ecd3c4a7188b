"""Hypothesis strategies drawing valid policy documents (imported as a plain module).

A drawn document is the shipped default's parsed document (`parse_document`)
with every number the pricing rules read drawn afresh, each value constructed
valid rather than filtered: the LPR rates (at the default's publication
instants); the rating spreads (a subset of a pool of ratings, now and then
thousands of them); the tenor split and term bands; floor, cap, rounding step
and mode (the bounds on the step's grid, near the book's rates so that they
bind); the term and principal limits; the evidence age limit; the K bounds and
industry benchmarks (and their basis); and the products: the carbon-account
grade adjustments (some grades ineligible), the mine-score minimum (sometimes
between two tenths), anchors (two to six, flat runs allowed, the first above or
below the minimum) and class adjustments (some classes missing), the transition
minimum and bands (none to four), each product's reference (absent, "ordinary",
or "base" with or without the spreads), in a shuffled order, with optional second
products of each kind. Mostly, one rating's ordinary rate then lands exactly on
the floor, the cap or a rounding tie. Numbers are written in every form the
validator reads: trimmed or with trailing zeros, signed, zero-padded, -0, TOML
integers.

`unheld_policy_documents` draws valid documents that the compiled integer form
cannot hold (policy_units raises UnitsUnavailableError): the vectorised pricer
must fall back to the scalar engine for them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from hypothesis import strategies as st

from pricing_service.domain.evidence import Industry, ProductKind
from pricing_service.domain.policy import Policy
from pricing_service.policy.document import build_policy, parse_document
from pricing_service.policy.store import default_policy_bytes

T = TypeVar("T")

DEFAULT_DOCUMENT: dict[str, Any] = parse_document(default_policy_bytes())
INT64_MAX = 2**63 - 1
UNITS_PER_BP = 10_000  # RATE_UNIT is 0.0001 bp
UNITS_PER_PERCENT = 100 * UNITS_PER_BP
MAX_RATE_UNITS = 100 * UNITS_PER_PERCENT  # floor and cap: at most 100 %
MAX_STEP_UNITS = 10_000 * UNITS_PER_BP

# The default ratings first (each usually kept), then names the default lacks.
DEFAULT_RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B")
RATING_POOL = (*DEFAULT_RATINGS, "CCC", "A-", "次级")
# Enough ratings that the ordinary-rate table by (rating, term) is not built:
# the vectorised pricer then computes each loan's ordinary rate on its own.
MANY_RATINGS = 3000
# Product ids of the optional second product of each kind.
EXTRA_CARBON, EXTRA_MINE, EXTRA_TRANSITION = "lvtanrong_b", "mine_b", "transition_b"


def often(common: st.SearchStrategy[T], *rare: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`common` three times in four, else one of `rare`."""
    # sampled_from picks by index: one_of would merge equal branches into one.
    return st.sampled_from((common, common, common, st.one_of(*rare))).flatmap(lambda s: s)


def plain(value: int, places: int, *, trim: bool) -> str:
    """value x 10^-places written plainly; `trim` drops trailing zeros ("-200" vs "-200.0000")."""
    d = Decimal(value).scaleb(-places)
    return format(d.normalize() if trim else d, "f")


@st.composite
def decimal_text(draw: st.DrawFn, value: int, places: int) -> str:
    """The text of value x 10^-places: trimmed or not, now and then signed or zero-padded."""
    text = plain(value, places, trim=draw(st.booleans()))
    form = draw(st.integers(0, 15))
    if form == 0 and value >= 0:
        return "+" + text  # the validator reads an explicit sign
    if form == 1:
        return text.replace("-", "-0") if value < 0 else "0" + text
    if form == 2 and value == 0:
        return "-" + text  # negative zero
    return text


def bp_units(low_bp: int, high_bp: int) -> st.SearchStrategy[int]:
    """A rate in units from low_bp to high_bp: whole bp, half bp, any unit, or the extremes."""
    low, high = low_bp * UNITS_PER_BP, high_bp * UNITS_PER_BP
    return often(
        st.integers(low_bp, high_bp).map(lambda bp: bp * UNITS_PER_BP),
        st.integers(2 * low_bp, 2 * high_bp).map(lambda half: half * UNITS_PER_BP // 2),
        st.integers(low, high),
        st.sampled_from([-10_000 * UNITS_PER_BP, 10_000 * UNITS_PER_BP, 0, 1, -1]),
    )


@st.composite
def bp_value(draw: st.DrawFn, units: st.SearchStrategy[int]) -> str | int:
    """A bp value of the document: a decimal string, or (whole bp, sometimes) a TOML integer."""
    u = draw(units)
    if u % UNITS_PER_BP == 0 and not draw(st.integers(0, 4)):
        return u // UNITS_PER_BP
    return draw(decimal_text(u, 4))


ADJUSTMENT = bp_units(-400, 100)  # product adjustments: mostly discounts
SPREAD = bp_units(-150, 400)


def _increasing(
    draw: st.DrawFn, values: st.SearchStrategy[int], min_size: int, max_size: int
) -> list[int]:
    return sorted(draw(st.lists(values, min_size=min_size, max_size=max_size, unique=True)))


@st.composite
def fixings(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The default's LPR publication instants, with the rates sometimes drawn (0 < LPR < 30 %)."""
    history: list[dict[str, Any]] = copy.deepcopy(DEFAULT_DOCUMENT["base_rate"]["fixings"])
    if draw(st.integers(0, 3)):
        return history
    for fixing in history:
        for key in ("lpr_1y", "lpr_5y"):
            if draw(st.booleans()):
                fixing[key] = draw(decimal_text(draw(st.integers(1, 2_999)), 2))
            else:  # to the unit, 0.0001 bp: six decimals of a percent
                fixing[key] = draw(
                    decimal_text(draw(st.integers(1, 30 * UNITS_PER_PERCENT - 1)), 6)
                )
    return history


@st.composite
def spreads(draw: st.DrawFn) -> dict[str, Any]:
    """[spreads]: ratings (at least one) with their spreads, and the term bands."""
    kept = [r for r in DEFAULT_RATINGS if draw(st.integers(0, 5))]
    kept += [r for r in RATING_POOL[len(DEFAULT_RATINGS) :] if not draw(st.integers(0, 2))]
    if not kept:
        kept = [draw(st.sampled_from(RATING_POOL))]
    table: dict[str, Any] = {rating: draw(bp_value(SPREAD)) for rating in kept}
    if not draw(st.integers(0, 40)):
        # Thousands of ratings: spreads from one drawn seed, not thousands of draws.
        seed = draw(st.integers(1, 10**6))
        for i in range(MANY_RATINGS):
            table[f"R{i:04d}"] = plain((seed * (i + 1)) % 6_000_000 - 1_000_000, 4, trim=True)
    ends = _increasing(
        draw,
        often(st.sampled_from([6, 12, 24, 36, 60, 120, 360]), st.integers(1, 1200)),
        0,
        4,
    )
    table["tenor"] = [
        {"max_months": end, "add_bp": draw(bp_value(bp_units(-50, 100)))} for end in ends
    ]
    return table


@st.composite
def bounds_and_rounding(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, Any]]:
    """[bounds] and [rounding]: a step, a mode, floor < cap on the step's grid, often binding."""
    step = draw(
        often(
            st.sampled_from([10_000, 10_000, 5_000, 1, 20_000, 25_000, 30_000, 50_000, 100_000]),
            st.integers(1, 1_000_000),
            st.sampled_from([7, 3_333, 1_000_000, 2_500_000, MAX_STEP_UNITS]),
        )
    )
    floor_target = draw(
        often(
            st.integers(0, 4 * UNITS_PER_PERCENT),  # near the book's rates: often binding
            st.sampled_from([0, 800_000, 2 * UNITS_PER_PERCENT, 3 * UNITS_PER_PERCENT]),
            st.integers(0, MAX_RATE_UNITS - 1),
        )
    )
    cap_target = draw(
        often(
            st.integers(floor_target + 1, max(floor_target + 1, 9 * UNITS_PER_PERCENT)),
            st.sampled_from([8 * UNITS_PER_PERCENT, MAX_RATE_UNITS]),
            st.integers(floor_target + 1, MAX_RATE_UNITS),
        )
    )
    low = floor_target // step
    high = min(max(low + 1, cap_target // step), MAX_RATE_UNITS // step)
    low = min(low, high - 1)  # high >= 1: the step is at most MAX_RATE_UNITS
    bounds = {
        "floor": draw(decimal_text(low * step, 6)),
        "cap": draw(decimal_text(high * step, 6)),
    }
    rounding = {
        "step_bp": draw(decimal_text(step, 4)),
        "mode": draw(st.sampled_from(["half_even", "half_up"])),
        "annualised_decimals": draw(st.integers(0, 6)),
    }
    return bounds, rounding


@st.composite
def quote_limits(draw: st.DrawFn) -> dict[str, int]:
    """[quote]: validity, the term range and the largest principal."""
    low = draw(often(st.just(1), st.integers(1, 36)))
    high = draw(
        often(st.just(360), st.sampled_from([low, 12, 60, 120, 1200]), st.integers(1, 1200))
    )
    low, high = min(low, high), max(low, high)
    principal = draw(
        often(
            st.just(500_000_000_000),
            st.sampled_from([1, 10**8, 2**53, 9 * 10**18, INT64_MAX]),
            st.integers(1, INT64_MAX),
        )
    )
    return {
        "validity_hours": draw(st.integers(1, 8760)),
        "min_term_months": low,
        "max_term_months": high,
        "max_principal_fen": principal,
    }


def _mantissa_digits(text: str) -> int:
    return len(Decimal(text).as_tuple().digits)


@st.composite
def benchmark_text(draw: st.DrawFn, k_digits: int) -> str:
    """A benchmark from 1e-10 to 1e6 whose digits and a K bound's stay within 15 together.

    The compiled units hold a K bound x benchmark x activity (19 digits) within the
    scalar engine's 34 digits; a longer product is what unheld_policy_documents draws.
    """
    most = 10 ** (15 - k_digits) - 1  # k_digits <= 9: at least 6 digits remain
    if draw(st.booleans()):  # 0.001 to 100, six decimals
        return draw(decimal_text(draw(st.integers(1_000, min(most, 100_000_000))), 6))
    places = draw(st.integers(0, 12))
    low = 10 ** max(0, places - 10)  # at least 1e-10
    high = min(most, 10 ** (6 + places))  # at most 1e6
    return draw(decimal_text(draw(st.integers(low, high)), places))


@st.composite
def carbon_section(draw: st.DrawFn) -> dict[str, Any]:
    """[carbon]: four K bounds, two level bounds, a benchmark (and basis) per industry."""
    carbon: dict[str, Any] = copy.deepcopy(DEFAULT_DOCUMENT["carbon"])
    if draw(st.booleans()):
        places = draw(often(st.just(4), st.integers(0, 6)))
        top = min(10 ** draw(st.integers(1, 9)), 10 ** (6 + places))  # K at most 1e6
        ks = _increasing(draw, st.integers(1, top), 4, 4)
        carbon["grade_k_upper"] = [draw(decimal_text(k, places)) for k in ks]
    if not draw(st.integers(0, 3)):
        levels = _increasing(draw, st.integers(0, 50_000), 2, 2)
        carbon["level_upper"] = [draw(decimal_text(v, 4)) for v in levels]
    k_digits = max(_mantissa_digits(str(k)) for k in carbon["grade_k_upper"])
    for industry in Industry:
        table = carbon["industries"][industry.value]
        if not draw(st.integers(0, 2)):
            table["benchmark"] = draw(benchmark_text(k_digits))
        if not draw(st.integers(0, 9)):
            table["basis"] = {"output": "value_added", "value_added": "output"}[table["basis"]]
    return carbon


@st.composite
def carbon_product(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A carbon-account product: adjustments for a non-empty subset of grades 1-5."""
    grades = draw(
        often(
            st.sampled_from([(1, 2, 3), (1, 2), (1,), (1, 2, 3, 4, 5), (2, 3), (2, 3, 4)]),
            st.lists(st.integers(1, 5), min_size=1, max_size=5, unique=True).map(tuple),
        )
    )
    return {
        "kind": "carbon_account",
        "name_zh": name,
        "name_en": name,
        "grade_adjust_bp": {str(g): draw(bp_value(ADJUSTMENT)) for g in sorted(grades)},
    }


@st.composite
def mine_product(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A mine-score product: a minimum, non-increasing anchors, class adjustments."""
    min_tenths = draw(often(st.integers(0, 1000), st.sampled_from([0, 600, 1000])))
    min_score = draw(decimal_text(min_tenths, 1))
    if not draw(st.integers(0, 2)):
        # Finer than the scores (tenths): the minimum falls between two of them.
        extra = draw(st.integers(1, 10**11 - 1))
        min_score = plain(min(min_tenths * 10**11 + extra, 100 * 10**12), 12, trim=True)
    tenths = _increasing(
        draw,
        often(st.sampled_from(range(0, 1001, 50)), st.integers(0, 1000)),
        2,
        6,
    )
    start = draw(st.integers(-30_000, 30_000))  # hundredths of a bp
    drops = [draw(often(st.integers(0, 15_000), st.just(0))) for _ in tenths[1:]]
    values = [start]
    for drop in drops:
        values.append(max(values[-1] - drop, -1_000_000))  # -10000 bp, the limit
    anchors = [
        [draw(decimal_text(t, 1)), draw(decimal_text(v, 2))]
        for t, v in zip(tenths, values, strict=True)
    ]
    classes = draw(
        often(
            st.just((1, 2, 3)),
            st.lists(st.integers(1, 3), max_size=3, unique=True).map(tuple),
        )
    )
    class_units = often(st.just(0), bp_units(-50, 50))
    return {
        "kind": "mine_score",
        "name_zh": name,
        "name_en": name,
        "min_score": min_score,
        "anchors": anchors,
        "class_adjust_bp": {str(c): draw(bp_value(class_units)) for c in sorted(classes)},
    }


@st.composite
def transition_product(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """A transition product: a minimum annual reduction and zero to four bands."""
    minimum_micro = draw(
        often(
            st.just(10_000 * 10**6),
            st.integers(0, 10**6 * 10**6),
            st.sampled_from([0, 1, 10**18]),  # 10^12 t, the limit
        )
    )
    minimum = draw(decimal_text(minimum_micro, 6))
    if not draw(st.integers(0, 5)):
        # Finer than the portfolio's micro-tonnes: the minimum falls between two of them.
        minimum = plain(
            min(minimum_micro, 10**18 - 1) * 10**6 + draw(st.integers(1, 999_999)), 12, trim=True
        )
    if not draw(st.integers(0, 4)):
        pcts = _increasing(draw, st.integers(0, 100 * 10**12), 0, 4)  # 12 decimals
        places = 12
    else:
        pcts = _increasing(draw, st.integers(0, 10_000), 0, 4)  # hundredths of a percent
        places = 2
    return {
        "kind": "transition",
        "name_zh": name,
        "name_en": name,
        "min_annual_tco2_reduced": minimum,
        "bands": [
            {
                "min_reduction_pct": draw(decimal_text(p, places)),
                "adjust_bp": draw(bp_value(ADJUSTMENT)),
            }
            for p in reversed(pcts)
        ],
    }


@st.composite
def products_section(draw: st.DrawFn) -> dict[str, Any]:
    """[products]: the four default ids (standard sometimes missing), optional seconds, shuffled."""
    products: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        products["standard"] = copy.deepcopy(DEFAULT_DOCUMENT["products"]["standard"])
    products["lvtanrong"] = draw(carbon_product("绿碳融"))
    products["mine_score"] = draw(mine_product("mine"))
    products["transition"] = draw(transition_product("transition"))
    for pid, make in (
        (EXTRA_CARBON, carbon_product),
        (EXTRA_MINE, mine_product),
        (EXTRA_TRANSITION, transition_product),
    ):
        if not draw(st.integers(0, 3)):
            products[pid] = draw(make(pid))
    for table in products.values():
        table.update(draw(reference_keys()))
    order = draw(st.permutations(list(products)))
    return {pid: products[pid] for pid in order}


@st.composite
def reference_keys(draw: st.DrawFn) -> dict[str, Any]:
    """A product's reference: mostly absent (the ordinary rate), else written out, `base`
    with or without spreads (the key `with_spreads` sometimes left to its default)."""
    choice = draw(st.integers(0, 5))
    if choice <= 1:
        return {}
    if choice == 2:
        return {"reference": "ordinary"}
    keys: dict[str, Any] = {"reference": "base"}
    spreads = draw(st.sampled_from([None, True, False]))
    if spreads is not None:
        keys["with_spreads"] = spreads
    return keys


@st.composite
def policy_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid policy document: the default's LPR history, every pricing number drawn."""
    doc = copy.deepcopy(DEFAULT_DOCUMENT)
    doc["version"] = "drawn"
    doc["base_rate"]["tenor_split_months"] = draw(
        often(st.sampled_from([60, 60, 0, 12, 36, 360, 1200]), st.integers(0, 1200))
    )
    doc["base_rate"]["fixings"] = draw(fixings())
    doc["spreads"] = draw(spreads())
    doc["bounds"], doc["rounding"] = draw(bounds_and_rounding())
    doc["quote"] = draw(quote_limits())
    doc["evidence"]["max_age_days"] = draw(
        often(st.sampled_from([365, 0, 1, 30, 3660]), st.integers(0, 3660))
    )
    doc["carbon"] = draw(carbon_section())
    doc["products"] = draw(products_section())
    if draw(st.integers(0, 2)):
        _spread_on_a_point(draw, doc)
    return doc


def _units(text: Any, scale: int) -> Decimal:
    return Decimal(text) * scale


def _spread_on_a_point(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """One rating's spread set so that its ordinary rate is the floor, the cap or a tie.

    At the latest fixing, for terms of the first term band within the tenor split
    (or above it, when the split is 0), a standard loan's raw rate is then exactly
    the bound, where `raw < floor` and `raw > cap` are both false, or exactly
    halfway between two multiples of the rounding step, where the mode decides.
    """
    rating = draw(st.sampled_from(sorted(r for r in doc["spreads"] if r != "tenor")))
    tenor = "lpr_5y" if doc["base_rate"]["tenor_split_months"] == 0 else "lpr_1y"
    lpr = _units(doc["base_rate"]["fixings"][-1][tenor], UNITS_PER_PERCENT)
    bands = doc["spreads"]["tenor"]
    add = _units(bands[0]["add_bp"], UNITS_PER_BP) if bands else Decimal(0)
    point = draw(st.sampled_from(["floor", "cap", "tie", "tie"]))
    step = int(_units(doc["rounding"]["step_bp"], UNITS_PER_BP))
    if point != "tie":
        target = _units(doc["bounds"][point], UNITS_PER_PERCENT)
    elif step % 2 == 0:  # a tie in whole units, between the bounds (else they would clamp it)
        low = int(_units(doc["bounds"]["floor"], UNITS_PER_PERCENT)) // step
        high = int(_units(doc["bounds"]["cap"], UNITS_PER_PERCENT)) // step - 1
        near = int(lpr + add) // step + draw(st.integers(-3, 3))
        target = Decimal(min(max(near, low), high) * step + step // 2)
    else:
        return
    spread = target - lpr - add
    if abs(spread) <= 10_000 * UNITS_PER_BP:
        doc["spreads"][rating] = plain(int(spread), 4, trim=True)


def policies(
    documents: st.SearchStrategy[dict[str, Any]] | None = None,
) -> st.SearchStrategy[Policy]:
    """Policies built from drawn documents (every one valid: build_policy raises otherwise)."""
    return (documents or policy_documents()).map(build_policy)


# --- documents the compiled units cannot hold -----------------------------------------------


def _finer(value: Any, draw: st.DrawFn) -> str:
    """A bp value moved by a fraction of a unit (0.0001 bp): finer than the units hold."""
    units = Decimal(value).scaleb(4)  # a drawn value is a whole number of units
    extra = draw(st.integers(1, 9))
    # Toward zero: the value stays within the validator's +-10000 bp.
    return format((units * 10 + (-extra if units > 0 else extra)).scaleb(-5), "f")


def _finer_spread(doc: dict[str, Any], draw: st.DrawFn) -> None:
    rating = draw(st.sampled_from(sorted(r for r in doc["spreads"] if r != "tenor")))
    doc["spreads"][rating] = _finer(doc["spreads"][rating], draw)


def _finer_tenor(doc: dict[str, Any], draw: st.DrawFn) -> None:
    bands = doc["spreads"]["tenor"]
    if not bands:
        bands.append({"max_months": 12, "add_bp": "0"})
    band = draw(st.sampled_from(bands))
    band["add_bp"] = _finer(band["add_bp"], draw)


def _finer_grade(doc: dict[str, Any], draw: st.DrawFn) -> None:
    grades = doc["products"]["lvtanrong"]["grade_adjust_bp"]
    grade = draw(st.sampled_from(sorted(grades)))
    grades[grade] = _finer(grades[grade], draw)


def _finer_class(doc: dict[str, Any], draw: st.DrawFn) -> None:
    classes = doc["products"]["mine_score"]["class_adjust_bp"]
    cls = draw(st.sampled_from(["1", "2", "3"]))
    classes[cls] = _finer(classes.get(cls, "0"), draw)


def _finer_band(doc: dict[str, Any], draw: st.DrawFn) -> None:
    bands = doc["products"]["transition"]["bands"]
    if not bands:
        bands.append({"min_reduction_pct": "0", "adjust_bp": "-10"})
    band = draw(st.sampled_from(bands))
    band["adjust_bp"] = _finer(band["adjust_bp"], draw)


def _finer_lpr(doc: dict[str, Any], draw: st.DrawFn) -> None:
    fixing = draw(st.sampled_from(doc["base_rate"]["fixings"]))
    key = draw(st.sampled_from(["lpr_1y", "lpr_5y"]))
    # Percent with 7 to 12 decimals: finer than 0.0001 bp (6 decimals of a percent).
    fixing[key] = format(
        Decimal(fixing[key]) + Decimal(draw(st.integers(1, 999_999))).scaleb(-12), "f"
    )


def _finer_step(doc: dict[str, Any], draw: st.DrawFn) -> None:
    # A step dividing 0.0001 bp: the floor and cap (whole units) stay on its grid.
    doc["rounding"]["step_bp"] = draw(st.sampled_from(["0.00005", "0.000025", "0.0000001"]))


def _tiny_benchmark(doc: dict[str, Any], draw: st.DrawFn) -> None:
    industry = draw(st.sampled_from([i.value for i in Industry]))
    # Under 1e-10, yet large enough that the scalar's K (4 decimals) keeps within 34 digits.
    doc["carbon"]["industries"][industry]["benchmark"] = plain(
        draw(st.integers(1, 9)), 11, trim=True
    )


def _long_benchmark(doc: dict[str, Any], draw: st.DrawFn) -> None:
    industry = draw(st.sampled_from([i.value for i in Industry]))
    # 15 significant digits: with any K bound, more than the 34-digit product keeps exact.
    digits = draw(st.integers(10**13, 10**14 - 1)) * 10 + draw(st.integers(1, 9))
    doc["carbon"]["industries"][industry]["benchmark"] = plain(digits, 12, trim=False)


UNHELD_EDITS: dict[str, Callable[[dict[str, Any], st.DrawFn], None]] = {
    "spread finer than a unit": _finer_spread,
    "tenor spread finer than a unit": _finer_tenor,
    "grade adjustment finer than a unit": _finer_grade,
    "class adjustment finer than a unit": _finer_class,
    "band adjustment finer than a unit": _finer_band,
    "LPR finer than a unit": _finer_lpr,
    "rounding step finer than a unit": _finer_step,
    "benchmark under 1e-10": _tiny_benchmark,
    "K bound x benchmark over 34 digits": _long_benchmark,
}

# Of these, the numbers a priced loan reports as they are (its adjustment, its base
# rate): LoanResults, in whole units, cannot hold them either, and pricing a loan
# that reports one raises ValueError on either path. The others are rounded away.
REPORTED_AS_IS = frozenset(
    {
        "grade adjustment finer than a unit",
        "class adjustment finer than a unit",
        "band adjustment finer than a unit",
        "LPR finer than a unit",
    }
)


@st.composite
def unheld_policy_documents(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(what was edited, a valid document the compiled units cannot hold)."""
    doc = draw(policy_documents())
    name = draw(st.sampled_from(sorted(UNHELD_EDITS)))
    UNHELD_EDITS[name](doc, draw)
    return name, doc


def product_ids(policy: Policy, kind: ProductKind) -> Sequence[str]:
    """The ids of the policy's products of `kind`, in the policy's order."""
    return [pid for pid, p in policy.products.items() if p.kind is kind]


__all__ = [
    "DEFAULT_DOCUMENT",
    "EXTRA_CARBON",
    "EXTRA_MINE",
    "EXTRA_TRANSITION",
    "MANY_RATINGS",
    "RATING_POOL",
    "REPORTED_AS_IS",
    "UNHELD_EDITS",
    "benchmark_text",
    "bounds_and_rounding",
    "carbon_product",
    "carbon_section",
    "fixings",
    "mine_product",
    "often",
    "plain",
    "policies",
    "policy_documents",
    "product_ids",
    "products_section",
    "quote_limits",
    "spreads",
    "transition_product",
    "unheld_policy_documents",
]
