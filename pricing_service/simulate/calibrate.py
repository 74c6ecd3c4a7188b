"""Calibrate one policy parameter so that a portfolio's first-year concession meets a budget.

The cost of a policy over a portfolio is the sum of the first-year concession
(fen) of every loan it prices, as `price_portfolio` gives it. Rates round to
the policy's step, so the cost is a step function of the parameter, monotone
in it. The answer is defined on the parameter's grid (0.01 bp for an
adjustment, 0.0001 for a curve scale) as

    the most generous value whose first-year cost is at most the budget,

so that cost(value) <= budget < cost(next), `next` being one grid step more
generous. scipy's brentq finds the step of the cost that crosses the budget;
an integer bisection on the grid then makes the answer exact. The parameters
(the `--param PATH` syntax):

    products.<id>.grade_adjust_bp           one adjustment for every grade the
                                            carbon-account product lists (bp)
    products.<id>.grade_adjust_bp.<grade>   the adjustment of one listed grade (bp)
    products.<id>.curve_scale               a factor on the mine-score curve's anchor
                                            values (bp); scores and shape stay, each
                                            scaled anchor is rounded half-even to 0.01 bp
    products.<id>.bands.<i>.adjust_bp       the adjustment of transition band i
                                            (0 = the first band listed) (bp)

More generous means lower for an adjustment and higher for a scale (the curve
must be one of discounts: every anchor <= 0).

An adjustment moves every affected loan's raw rate by the same amount, so the
cost is exactly monotone in it and the answer is the most generous value, and
`same_cost_from` the least generous one of the same cost. A scale is monotone
only up to rounding: the scaled anchors are rounded to 0.01 bp and the curve
between them is a PCHIP of the rounded anchors, so a value a few steps more
generous can cost a few hundred fen less. The answer then still satisfies
cost(value) <= budget < cost(next) exactly, at the crossing the search found,
and no `same_cost_from` is given.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from scipy.optimize import brentq

from pricing_service.domain.errors import PolicyError
from pricing_service.domain.evidence import ProductKind
from pricing_service.domain.policy import Policy
from pricing_service.domain.rates import CTX
from pricing_service.policy.document import build_policy, canonical_bytes, digest_of
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.vector import price_portfolio

BP_GRID = Decimal("0.01")
SCALE_GRID = Decimal("0.0001")
ANCHOR_STEP = Decimal("0.01")
VERSION_SUFFIX = "-calibrated"
SYNTAX = (
    "products.<id>.grade_adjust_bp, products.<id>.grade_adjust_bp.<grade>, "
    "products.<id>.curve_scale or products.<id>.bands.<i>.adjust_bp"
)


class CalibrationError(ValueError):
    """A calibration that cannot be done: a bad parameter path or an unreachable budget."""


def _fmt(value: Decimal) -> str:
    return format(value, "f")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One calibratable number of a policy document, parsed from its --param path."""

    path: str
    product_id: str
    kind: str  # "grades", "grade", "curve_scale" or "band"
    index: int = -1  # the grade (kind "grade") or the band (kind "band")

    @property
    def grid(self) -> Decimal:
        """The step of the values tried: 0.01 bp, or 0.0001 for a scale."""
        return SCALE_GRID if self.kind == "curve_scale" else BP_GRID

    @property
    def generous(self) -> int:
        """+1 if a larger value concedes more (a scale), -1 if a smaller one does (bp)."""
        return 1 if self.kind == "curve_scale" else -1

    @classmethod
    def parse(cls, path: str, document: Mapping[str, Any]) -> Parameter:
        """Parse and check `path` against the document's products."""
        parts = path.split(".")
        if len(parts) < 3 or parts[0] != "products":
            raise CalibrationError(f"unknown parameter {path!r}; expected one of {SYNTAX}")
        pid, rest = parts[1], parts[2:]
        products = document.get("products")
        product = products.get(pid) if isinstance(products, dict) else None
        if not isinstance(product, dict):
            known = ", ".join(sorted(products)) if isinstance(products, dict) else "none"
            raise CalibrationError(f"{path}: no product {pid!r} in the policy (products: {known})")
        kind = product.get("kind")
        if rest[0] == "grade_adjust_bp" and len(rest) <= 2:
            cls._expect(path, kind, ProductKind.CARBON_ACCOUNT)
            table = product.get("grade_adjust_bp")
            listed = sorted(table) if isinstance(table, dict) else []
            if len(rest) == 1:
                return cls(path, pid, "grades")
            if rest[1] not in listed:
                raise CalibrationError(
                    f"{path}: grade {rest[1]!r} is not listed by {pid} "
                    f"(listed: {', '.join(listed)}); calibration changes a discount, "
                    "not which grades are eligible"
                )
            return cls(path, pid, "grade", int(rest[1]))
        if rest == ["curve_scale"]:
            cls._expect(path, kind, ProductKind.MINE_SCORE)
            return cls(path, pid, "curve_scale")
        if len(rest) == 3 and rest[0] == "bands" and rest[2] == "adjust_bp":
            cls._expect(path, kind, ProductKind.TRANSITION)
            bands = product.get("bands")
            count = len(bands) if isinstance(bands, list) else 0
            if not rest[1].isdigit() or int(rest[1]) >= count:
                raise CalibrationError(
                    f"{path}: band {rest[1]!r} does not exist; {pid} has bands 0 to {count - 1}"
                )
            return cls(path, pid, "band", int(rest[1]))
        raise CalibrationError(f"unknown parameter {path!r}; expected one of {SYNTAX}")

    @staticmethod
    def _expect(path: str, kind: Any, want: ProductKind) -> None:
        if kind != want.value:
            raise CalibrationError(f"{path}: the product is {kind!r}, not {want.value}")

    def _product(self, document: Mapping[str, Any]) -> dict[str, Any]:
        product: dict[str, Any] = document["products"][self.product_id]
        return product

    def current(self, document: Mapping[str, Any]) -> Decimal | None:
        """The parameter's value in `document` (None: grades that differ)."""
        product = self._product(document)
        if self.kind == "curve_scale":
            return Decimal(1)
        if self.kind == "band":
            return Decimal(product["bands"][self.index]["adjust_bp"])
        table = product["grade_adjust_bp"]
        if self.kind == "grade":
            return Decimal(table[str(self.index)])
        values = {Decimal(v) for v in table.values()}
        return values.pop() if len(values) == 1 else None

    def apply(self, document: Mapping[str, Any], value: Decimal) -> dict[str, Any]:
        """A deep copy of `document` with the parameter set to `value`.

        A number that does not change keeps its text, so that setting the
        current value gives back the same canonical bytes.
        """
        doc = copy.deepcopy(dict(document))
        product = self._product(doc)
        if self.kind == "curve_scale":
            product["anchors"] = [
                [score, _keep_or(bp, _scaled(bp, value))] for score, bp in product["anchors"]
            ]
        elif self.kind == "band":
            band = product["bands"][self.index]
            band["adjust_bp"] = _keep_or(band["adjust_bp"], value)
        else:
            table = product["grade_adjust_bp"]
            for key in table if self.kind == "grades" else [str(self.index)]:
                table[key] = _keep_or(table[key], value)
        return doc

    def default_bracket(
        self, document: Mapping[str, Any], policy: Policy
    ) -> tuple[Decimal, Decimal]:
        """[-cap, 0] bp for an adjustment; [0, the scale taking the curve's end to -cap]."""
        cap = policy.cap_bp
        if self.kind != "curve_scale":
            return -cap, Decimal(0)
        deepest = max((-Decimal(bp) for _, bp in self._product(document)["anchors"]), default=0)
        if deepest <= 0:
            raise CalibrationError(
                f"{self.path}: the curve is 0 everywhere; scaling changes nothing"
            )
        return Decimal(0), CTX.divide(cap, deepest).quantize(SCALE_GRID, rounding=ROUND_CEILING)

    def check(self, document: Mapping[str, Any]) -> None:
        """A scale needs a curve of discounts (scaling a mixed one is not monotone in cost)."""
        if self.kind == "curve_scale":
            positive = [bp for _, bp in self._product(document)["anchors"] if Decimal(bp) > 0]
            if positive:
                raise CalibrationError(
                    f"{self.path}: anchors above 0 bp ({', '.join(positive)}): scaling a curve "
                    "of both surcharges and discounts does not move the cost one way"
                )


def _scaled(bp: str, scale: Decimal) -> Decimal:
    return CTX.multiply(Decimal(bp), scale).quantize(ANCHOR_STEP, rounding=ROUND_HALF_EVEN)


def _keep_or(text: Any, value: Decimal) -> Any:
    try:
        if Decimal(text) == value:
            return text
    except (InvalidOperation, TypeError):
        pass
    return _fmt(value)


def first_year_cost(portfolio: Portfolio, policy: Policy, as_of: datetime) -> int:
    """Sum of the first-year concession (fen) of every loan the policy prices."""
    results = price_portfolio(portfolio, policy, as_of)
    return sum(int(v) for v in results.first_year_concession_fen.tolist())


@dataclass(frozen=True, slots=True)
class Calibration:
    """The solved parameter, its cost against the budget, the next step, and the draft."""

    param: str
    target_fen: int
    value: Decimal
    cost_fen: int
    next_value: Decimal
    next_cost_fen: int
    same_cost_from: Decimal | None  # least generous value of the same cost (not for a scale)
    original_value: Decimal | None
    original_cost_fen: int
    bracket: tuple[Decimal, Decimal]
    bracket_cost_fen: tuple[int, int]
    evaluations: int
    document: dict[str, Any] = field(repr=False)  # the draft policy document
    # Every (value, first-year cost in fen) the solver priced, by value: the search is
    # part of the answer (the chart and calibration.json show it), not a hidden detail.
    evaluated: tuple[tuple[Decimal, int], ...] = field(default=(), repr=False)
    # Orderings the draft breaks that validation does not enforce (a better grade or a
    # deeper cut discounted less): legal, but a PM should see them before proposing it.
    warnings: tuple[str, ...] = ()

    @property
    def gap_fen(self) -> int:
        """Budget left unspent (>= 0)."""
        return self.target_fen - self.cost_fen

    @property
    def version(self) -> str:
        """The draft's version."""
        return str(self.document["version"])

    def draft_toml(self) -> bytes:
        """The draft policy as TOML (tomli_w): the input document with one parameter changed."""
        return tomli_w.dumps(self.document).encode("utf-8")

    def write_draft(self, path: Path) -> None:
        """Write the draft policy TOML to `path`."""
        path.write_bytes(self.draft_toml())

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready exact integers and decimal strings."""
        return {
            "param": self.param,
            "rule": "the most generous grid value whose first-year cost is at most the budget",
            "value": _fmt(self.value),
            "same_cost_from": None if self.same_cost_from is None else _fmt(self.same_cost_from),
            "target_fen": self.target_fen,
            "cost_fen": self.cost_fen,
            "gap_fen": self.gap_fen,
            "next_value": _fmt(self.next_value),
            "next_cost_fen": self.next_cost_fen,
            "original_value": None if self.original_value is None else _fmt(self.original_value),
            "original_cost_fen": self.original_cost_fen,
            "bracket": [_fmt(self.bracket[0]), _fmt(self.bracket[1])],
            "bracket_cost_fen": list(self.bracket_cost_fen),
            "evaluations": self.evaluations,
            "evaluated": [[_fmt(v), c] for v, c in self.evaluated],
            "draft_version": self.version,
            "draft_digest": digest_of(canonical_bytes(self.document)),
            "warnings": list(self.warnings),
        }


def _decimal(value: Decimal | int | str, what: str) -> Decimal:
    try:
        d = Decimal(value)
    except InvalidOperation as exc:
        raise CalibrationError(f"{what}: not a decimal: {value!r}") from exc
    if not d.is_finite():
        raise CalibrationError(f"{what}: not a finite decimal: {value!r}")
    return d


def calibrate(
    portfolio: Portfolio,
    policy_document: Mapping[str, Any],
    param: str,
    target_cost_fen: int,
    as_of: datetime,
    *,
    lo: Decimal | int | str | None = None,
    hi: Decimal | int | str | None = None,
) -> Calibration:
    """Solve `param` so that the first-year cost is the largest one within `target_cost_fen`.

    `policy_document` is a parsed policy (policy.document.parse_document); `lo`
    and `hi` bound the values tried (default: see Parameter.default_bracket).
    Raises CalibrationError for a bad path, a budget the bracket cannot meet
    (the message gives the achievable range) or a value that makes the policy
    invalid; PolicyError if `policy_document` itself is invalid.
    """
    parameter = Parameter.parse(param, policy_document)
    parameter.check(policy_document)
    policy = build_policy(policy_document)
    default_lo, default_hi = parameter.default_bracket(policy_document, policy)
    low = _decimal(lo, "lo") if lo is not None else default_lo
    high = _decimal(hi, "hi") if hi is not None else default_hi
    grid = parameter.grid
    k_low = int(CTX.divide(low, grid).to_integral_value(rounding=ROUND_CEILING))
    k_high = int(CTX.divide(high, grid).to_integral_value(rounding=ROUND_FLOOR))
    if k_low >= k_high:
        raise CalibrationError(f"empty bracket [{low}, {high}] on the grid of {grid}")

    # Loans of other products cost the same under every value tried.
    members = portfolio.product_id == parameter.product_id
    fixed = first_year_cost(portfolio.take(np.flatnonzero(~members)), policy, as_of)
    subset = portfolio.take(np.flatnonzero(members))
    costs: dict[int, int] = {}

    def value_of(k: int) -> Decimal:
        return CTX.multiply(Decimal(k), grid)

    def cost(k: int) -> int:
        if k not in costs:
            doc = parameter.apply(policy_document, value_of(k))
            try:
                draft = build_policy(doc)
            except PolicyError as exc:
                raise CalibrationError(
                    f"{param} = {value_of(k)} makes the policy invalid: {exc}"
                ) from exc
            costs[k] = fixed + first_year_cost(subset, draft, as_of)
        return costs[k]

    generous_k, stingy_k = (k_high, k_low) if parameter.generous > 0 else (k_low, k_high)
    cost_stingy, cost_generous = cost(stingy_k), cost(generous_k)
    bracket = (value_of(k_low), value_of(k_high))
    if cost_generous < cost_stingy:
        raise CalibrationError(f"{param}: the cost does not grow with the concession")
    if not cost_stingy <= target_cost_fen < cost_generous:
        raise CalibrationError(
            f"budget {target_cost_fen} fen is outside the achievable range: over {param} in "
            f"[{_fmt(bracket[0])}, {_fmt(bracket[1])}] the first-year cost runs from "
            f"{cost_stingy} fen ({param} = {_fmt(value_of(stingy_k))}) to {cost_generous} fen "
            f"({param} = {_fmt(value_of(generous_k))}); the budget must be at least the first "
            "and below the second (widen the bracket with lo/hi to reach further)"
        )
    ok, bad = _solve(cost, target_cost_fen, stingy_k, generous_k)
    achieved = cost(ok)
    flat: Decimal | None = None
    if parameter.kind != "curve_scale":
        # The least generous value with the same cost, the plateau's other end: often
        # a rounder number to write into a policy. Bisection: the cost is monotone.
        below, same = stingy_k, ok
        if cost(stingy_k) == achieved:
            same = stingy_k
        while abs(same - below) > 1:
            mid = (below + same) // 2
            if cost(mid) == achieved:
                same = mid
            else:
                below = mid
        flat = value_of(same)
    original = parameter.current(policy_document)
    draft = parameter.apply(policy_document, value_of(ok))
    draft["version"] = f"{policy_document.get('version', '')}{VERSION_SUFFIX}"
    draft_policy = build_policy(draft)  # the draft must be a valid policy
    return Calibration(
        param=param,
        target_fen=target_cost_fen,
        value=value_of(ok),
        cost_fen=achieved,
        next_value=value_of(bad),
        next_cost_fen=cost(bad),
        same_cost_from=flat,
        original_value=original,
        original_cost_fen=fixed + first_year_cost(subset, policy, as_of),
        bracket=bracket,
        bracket_cost_fen=(cost(k_low), cost(k_high)),
        evaluations=len(costs),
        document=draft,
        evaluated=tuple(sorted((value_of(k), c) for k, c in costs.items())),
        warnings=ordering_warnings(draft_policy, parameter.product_id),
    )


def ordering_warnings(policy: Policy, product_id: str) -> tuple[str, ...]:
    """Where a product rewards better evidence less: a better carbon grade (a lower number)
    or a deeper coal-consumption cut (an earlier band) with a less generous adjustment."""
    product = policy.products.get(product_id)
    if product is None:
        return ()
    out: list[str] = []
    grades = sorted(product.grade_adjust_bp.items())
    for (better, a), (worse, b) in itertools.pairwise(grades):
        if a > b:
            out.append(
                f"{product_id}: grade {better} gets {_fmt(a)} bp, less than grade {worse}'s "
                f"{_fmt(b)} bp: a better grade would be discounted less"
            )
    bands = product.bands  # validated: min_reduction_pct strictly decreasing
    for deeper, shallower in itertools.pairwise(bands):
        if deeper.adjust_bp > shallower.adjust_bp:
            out.append(
                f"{product_id}: the >={_fmt(deeper.min_reduction_pct)}% band gets "
                f"{_fmt(deeper.adjust_bp)} bp, less than the "
                f">={_fmt(shallower.min_reduction_pct)}% band's {_fmt(shallower.adjust_bp)} bp: "
                "a deeper cut would be discounted less"
            )
    return tuple(out)


def _solve(cost: Callable[[int], int], target: int, ok: int, bad: int) -> tuple[int, int]:
    """Adjacent grid points with cost(ok) <= target < cost(bad), from such a pair.

    brentq on cost - target - 1/2 (never 0: costs are whole fen) finds where the
    step function crosses the budget; the bisection that follows only keeps the
    invariant, so the answer is exact whatever the float search did.
    """
    a, b = sorted((ok, bad))

    def f(x: float) -> float:
        return cost(round(x)) - target - 0.5

    if b - a > 1:
        x = brentq(f, a, b, xtol=0.5, maxiter=200)
        for k in (math.floor(x), math.ceil(x)):
            if min(ok, bad) < k < max(ok, bad):
                if cost(k) <= target:
                    ok = k
                else:
                    bad = k
    while abs(bad - ok) > 1:
        mid = (ok + bad) // 2
        if cost(mid) <= target:
            ok = mid
        else:
            bad = mid
    return ok, bad
