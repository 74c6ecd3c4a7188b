"""A portfolio of hypothetical or booked loans, held column by column.

Columns are numpy arrays of one length, so a whole book prices at once. No
binary float holds an amount or a decimal: money is integer fen, decimals of
the evidence are integer millionths (`MICRO`), scores integer tenths, dates
numpy days. An absent value is `ABSENT` (-1) in an integer column, NaT in a
date column, "" in a text column.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

ABSENT = -1
MICRO = 1_000_000  # decimal columns hold value x 10^6 as int64
MAX_MICRO = 10**18  # at most 12 integer digits and 6 decimals
NAT = np.datetime64("NaT", "D")

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Days = npt.NDArray[np.datetime64]
Texts = npt.NDArray[np.object_]


def micro_to_decimal(value: int) -> Decimal:
    """An int64 micro value back to the exact Decimal it encodes."""
    return Decimal(int(value)).scaleb(-6)


@dataclass(frozen=True, slots=True)
class Portfolio:
    """Loans as columns; the documented file schema maps one-to-one onto them."""

    loan_id: Texts
    borrower_id: Texts
    product_id: Texts
    credit_rating: Texts
    industry: Texts  # Industry value, or "" (a reporting dimension and the emissions benchmark)
    principal_fen: Ints
    term_months: Ints
    repayment: Texts  # RepaymentMethod value
    upfront_fee_fen: Ints
    # carbon account: a given grade ...
    carbon_grade: Ints  # 1-5 or ABSENT
    carbon_assessed_on: Days
    # ... or emissions to compute it from (micro units)
    emissions_tco2: Ints
    output_quantity: Ints
    value_added_10k_cny: Ints
    emissions_period_end: Days
    # mine intelligentization acceptance
    mine_score_tenths: Ints  # 0-1000 or ABSENT
    construction_class: Ints  # 1-3 or ABSENT
    mandatory_passed: Bools
    mine_accepted_on: Days
    # transition KPIs (micro units)
    annual_tco2_reduced: Ints
    coal_g_per_kwh_before: Ints
    coal_g_per_kwh_after: Ints
    kpis_verified_on: Days

    def __post_init__(self) -> None:
        n = len(self.loan_id)
        for f in fields(self):
            column = getattr(self, f.name)
            if len(column) != n:
                raise ValueError(f"column {f.name} has {len(column)} rows, loan_id has {n}")

    def __len__(self) -> int:
        return len(self.loan_id)

    def take(self, index: npt.NDArray[np.intp] | slice) -> Portfolio:
        """The loans at `index` (an index array, boolean mask or slice), as a new portfolio."""
        return Portfolio(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def column_names() -> tuple[str, ...]:
        """The column names, in schema order."""
        return tuple(f.name for f in fields(Portfolio))

    @classmethod
    def empty(cls, n: int) -> Portfolio:
        """n loans with every optional column absent (a starting point for builders)."""
        columns: dict[str, Any] = {}
        for f in fields(cls):
            kind = COLUMN_KINDS[f.name]
            if kind == "text":
                columns[f.name] = np.full(n, "", dtype=object)
            elif kind == "date":
                columns[f.name] = np.full(n, NAT, dtype="datetime64[D]")
            elif kind == "bool":
                columns[f.name] = np.zeros(n, dtype=np.bool_)
            else:
                columns[f.name] = np.full(n, ABSENT, dtype=np.int64)
        return cls(**columns)


# "text", "int" (int64, ABSENT allowed where optional), "micro" (int64 x 10^6),
# "tenths" (int64 x 10), "date" (datetime64[D]), "bool".
COLUMN_KINDS: dict[str, str] = {
    "loan_id": "text",
    "borrower_id": "text",
    "product_id": "text",
    "credit_rating": "text",
    "industry": "text",
    "principal_fen": "int",
    "term_months": "int",
    "repayment": "text",
    "upfront_fee_fen": "int",
    "carbon_grade": "int",
    "carbon_assessed_on": "date",
    "emissions_tco2": "micro",
    "output_quantity": "micro",
    "value_added_10k_cny": "micro",
    "emissions_period_end": "date",
    "mine_score_tenths": "tenths",
    "construction_class": "int",
    "mandatory_passed": "bool",
    "mine_accepted_on": "date",
    "annual_tco2_reduced": "micro",
    "coal_g_per_kwh_before": "micro",
    "coal_g_per_kwh_after": "micro",
    "kpis_verified_on": "date",
}
