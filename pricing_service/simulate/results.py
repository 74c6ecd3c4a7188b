"""Per-loan results of a simulation, column by column, in exact integer units.

Rates are int64 in `RATE_UNIT` (ten-thousandths of a basis point), so a rate
of 3.30% is 3_300_000; money is integer fen. A loan that was not priced has a
`status` other than PRICED and zeros in its rate columns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from pricing_service.domain.rates import CTX

PRICED = "PRICED"
INVALID = "INVALID_ARGUMENT"
PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
RATE_UNIT = Decimal("0.0001")  # bp
UNITS_PER_BP = 10_000

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Texts = npt.NDArray[np.object_]


def bp_to_units(bp: Decimal) -> int:
    """An exact bp Decimal as an integer count of RATE_UNIT; finer values are refused."""
    units = CTX.multiply(bp, UNITS_PER_BP)
    if units != units.to_integral_value(context=CTX):
        raise ValueError(f"{bp} bp is finer than {RATE_UNIT} bp, the simulation's rate unit")
    return int(units)


def units_to_bp(units: int) -> Decimal:
    """RATE_UNIT count back to bp (exact)."""
    return CTX.divide(Decimal(int(units)), UNITS_PER_BP)


def units_to_percent(units: int) -> Decimal:
    """RATE_UNIT count to percent (exact): 3_300_000 -> 3.3."""
    return CTX.divide(Decimal(int(units)), UNITS_PER_BP * 100)


@dataclass(frozen=True, slots=True)
class LoanResults:
    """What pricing gave each loan of a portfolio, in the portfolio's order."""

    status: Texts  # PRICED, an ineligibility reason, INVALID_ARGUMENT or PRODUCT_NOT_FOUND
    invalid_fields: Texts  # for INVALID_ARGUMENT: the violated fields, comma-joined; else ""
    tenor: Texts  # "1Y" / "5Y+" when priced, else ""
    base_units: Ints
    ordinary_units: Ints  # ordinary-loan rate after rounding
    adjustment_units: Ints  # the product's adjustment (carbon, mine curve + class, transition band)
    rate_units: Ints  # the quoted rate: floor/cap applied, rounded once
    concession_units: Ints  # ordinary - quoted
    floor_binding: Bools
    cap_binding: Bools
    carbon_grade: Ints  # the grade that priced a carbon-account loan (given or computed), or -1
    grade_computed: Bools
    first_year_concession_fen: Ints

    def __len__(self) -> int:
        return len(self.status)

    @staticmethod
    def column_names() -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(f.name for f in fields(LoanResults))

    def take(self, index: npt.NDArray[np.intp] | slice) -> LoanResults:
        """The results at `index`, as a new LoanResults."""
        return LoanResults(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def priced(self) -> Bools:
        """Mask of the loans that were priced."""
        return np.asarray(self.status == PRICED, dtype=np.bool_)

    @classmethod
    def empty(cls, n: int) -> LoanResults:
        """n unpriced rows, to be filled in."""
        z = np.zeros(n, dtype=np.int64)
        return cls(
            status=np.full(n, "", dtype=object),
            invalid_fields=np.full(n, "", dtype=object),
            tenor=np.full(n, "", dtype=object),
            base_units=z.copy(),
            ordinary_units=z.copy(),
            adjustment_units=z.copy(),
            rate_units=z.copy(),
            concession_units=z.copy(),
            floor_binding=np.zeros(n, dtype=np.bool_),
            cap_binding=np.zeros(n, dtype=np.bool_),
            carbon_grade=np.full(n, -1, dtype=np.int64),
            grade_computed=np.zeros(n, dtype=np.bool_),
            first_year_concession_fen=z.copy(),
        )
