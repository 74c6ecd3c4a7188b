"""Portfolio files: CSV and Parquet in and out, every bad row named by row and field.

The file schema is the `Portfolio` schema: one column per Portfolio field, same
names, except that the mine score is the column ``mine_score``, a decimal such
as ``87.5`` (held as integer tenths in ``Portfolio.mine_score_tenths``).
Columns may come in any order; a missing required column, an unknown column
or a repeated column refuses the whole file before any row is read, because
a misspelt optional column would otherwise silently drop evidence.

Cells, as text (a CSV cell, or a Parquet value cast exactly to text):

- empty (or null in Parquet) is absent; ``upfront_fee_fen`` absent is 0;
- integers: ASCII digits with an optional leading ``-``, at most 18 digits;
- decimals: plain ASCII decimals like ``1234.5``: no sign, no exponent, no
  thousands separator, at most 6 decimals and 12 integer digits (the range of
  the int64 millionths that hold them); the gRPC layer's rule, narrowed to
  that range;
- the mine score: such a decimal from 0 to 100 with at most one decimal
  (``87.50`` is 87.5; ``87.55`` and ``100.5`` are refused);
- dates: exactly ``YYYY-MM-DD``, a real calendar date;
- booleans: ``true``/``false``, ``yes``/``no`` or ``1``/``0``, any letter case;
- enums: ``repayment`` one of equal_installment, equal_principal,
  interest_only_bullet; ``industry`` one of power, electrolytic_aluminium,
  chemicals, petrochemicals, coking, other;
- text: printable (no control, format or separator characters), loan_id at
  most 128 characters, borrower_id and product_id 64, credit_rating 16;
  loan_id unique in the file.

A file error and a pricing outcome are different things. This package refuses
what cannot be a well-formed request, the checks the gRPC layer makes before
the engine is called: syntax, the ranges that hold whatever the policy
(principal > 0, fee >= 0, grade 1-5, construction class 1-3, score 0-100,
activity and coal consumption before > 0), and evidence that is incomplete,
such as a mine score without its acceptance date or emissions without their
industry, which a request could not carry (and evidence without its key cell,
such as an acceptance date without a score, which would be dropped unseen). It
never applies a policy: an unknown rating or product, a term outside the
policy's range, stale evidence, an ineligible grade are what the engine
reports per loan, as that loan's status in the results; another policy
version could decide them otherwise.

Bad rows are reported (`RowProblem`: row, field, message; every bad field of a
row) and skipped; with ``strict=True`` the first bad row raises
`PortfolioError` instead. When a loan_id repeats, every row carrying it is
skipped: which of them is the intended loan is unknowable. A blank line or a
row of only empty cells holds no loan and is passed over without a problem.

Row numbers are as a person counts them: in a CSV the header is row 1 and the
first data row row 2, blank lines counted (as an editor or a spreadsheet
shows them; a line break inside a quoted cell does not start a row); in a
Parquet file row n is the n-th row, 1-based, and row 0 is the schema.

CSV is UTF-8, with or without a byte-order mark. When pyarrow is installed
its multi-threaded tokeniser reads the cells (about 5x faster on a large
book); otherwise, and for any file it would read differently from the csv
module (a row with the wrong number of cells, invalid UTF-8), the csv module
does. Parquet needs pyarrow (``pip install pyarrow``, or the ``parquet``
extra), imported only when used. Parquet columns may be strings or exact types
(integers, decimal128/256, date32/64, boolean), read through their exact text;
a float column is refused, since a binary float cannot hold a decimal exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

from pricing_service.simulate.portfolio_io.csv_reader import _read_csv
from pricing_service.simulate.portfolio_io.parquet_reader import _read_parquet
from pricing_service.simulate.portfolio_io.schema import (
    FILE_COLUMNS,
    REQUIRED_COLUMNS,
    PortfolioError,
    PortfolioLoad,
    Progress,
    RowProblem,
)
from pricing_service.simulate.portfolio_io.writers import (
    RESULT_COLUMNS,
    bp_text,
    percent_text,
    write_portfolio,
    write_results,
)


def read_portfolio(
    path: str | os.PathLike[str], *, strict: bool = False, progress: Progress | None = None
) -> PortfolioLoad:
    """Read a portfolio file (.csv or .parquet), reporting and skipping bad rows.

    `progress(rows_done, rows_total)` is called after each chunk of rows; the
    total is None for a CSV (counting it would read the file twice). With
    `strict`, the first bad row raises PortfolioError. A file that cannot be
    read as a whole (format, encoding, header) always raises PortfolioError.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return _read_csv(p, strict, progress)
    if suffix == ".parquet":
        return _read_parquet(p, strict, progress)
    raise PortfolioError(f"{p}: unknown portfolio format {suffix!r}; use .csv or .parquet")


__all__ = [
    "FILE_COLUMNS",
    "REQUIRED_COLUMNS",
    "RESULT_COLUMNS",
    "PortfolioError",
    "PortfolioLoad",
    "RowProblem",
    "bp_text",
    "percent_text",
    "read_portfolio",
    "write_portfolio",
    "write_results",
]
