"""Reading CSV: pyarrow's tokeniser when it reads the file as the csv module would, else that."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np

from pricing_service.simulate.portfolio_io import schema
from pricing_service.simulate.portfolio_io.arrow import _arrow_cells, _pyarrow
from pricing_service.simulate.portfolio_io.cells import _encode
from pricing_service.simulate.portfolio_io.rows import _Reader
from pricing_service.simulate.portfolio_io.schema import (
    HEADER_ROW,
    WHOLE_ROW,
    PortfolioError,
    PortfolioLoad,
    Progress,
    RowProblem,
    _check_header,
)

ARROW_BLOCK_BYTES = 1 << 22  # pyarrow CSV batches of about 40,000 rows
# Tokenise CSV with pyarrow when it is installed; tests switch it off to hold the
# csv-module path to the same results.
USE_ARROW_CSV = True


class _Fallback(Exception):  # noqa: N818 - internal signal
    """pyarrow's CSV reader declined the file: read it again with the csv module."""


def _read_csv(path: Path, strict: bool, progress: Progress | None) -> PortfolioLoad:
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs write, and only that.
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
        if header is None:
            raise PortfolioError(f"{path}: empty file, no header row")
        problems = _check_header(header, HEADER_ROW)
        if problems:
            raise PortfolioError(f"{path}: bad header", problems)
        if USE_ARROW_CSV:
            try:
                return _read_csv_arrow(path, header, strict, progress)
            except _Fallback:
                pass  # read again from the top; progress restarts from 0
        return _read_csv_module(path, header, strict, progress)
    except UnicodeDecodeError:
        raise PortfolioError(f"{path}: not UTF-8: {_utf8_error(path)}") from None
    except csv.Error as exc:
        raise PortfolioError(f"{path}: malformed CSV: {exc}") from None
    except OSError as exc:
        raise PortfolioError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _utf8_error(path: Path) -> str:
    """Where the first invalid UTF-8 is (a decode error's offset is relative to a buffer)."""
    offset = 0
    with path.open("rb") as f:
        # Line by line is exact: b"\n" never occurs inside a multi-byte UTF-8 sequence.
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte {offset + exc.start} ({exc.reason})"
            offset += len(line)
    return "the file changed while it was read"


def _read_csv_module(
    path: Path, header: list[str], strict: bool, progress: Progress | None
) -> PortfolioLoad:
    state = _Reader(strict, progress, None)
    width = len(header)
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        row = HEADER_ROW
        while records := list(itertools.islice(reader, schema.CHUNK_ROWS)):
            first = row + 1
            row += len(records)
            malformed: list[RowProblem] = []
            if all(len(r) == width for r in records):
                good = records
                numbers = np.arange(first, first + len(records), dtype=np.int64)
            else:
                good, kept = [], []
                for number, record in enumerate(records, start=first):
                    if len(record) == width:
                        good.append(record)
                        kept.append(number)
                    elif record:  # a blank line is no row of data
                        malformed.append(
                            RowProblem(
                                number, WHOLE_ROW, f"has {len(record)} cells, the header {width}"
                            )
                        )
                numbers = np.asarray(kept, dtype=np.int64)
            columns = zip(*good, strict=True) if good else [()] * width
            cells = {name: _encode(c) for name, c in zip(header, columns, strict=True)}
            state.chunk(cells, numbers, len(records), malformed)
    return state.result()


def _read_csv_arrow(
    path: Path, header: list[str], strict: bool, progress: Progress | None
) -> PortfolioLoad:
    """pyarrow's multi-threaded tokeniser, the same checks; _Fallback when it cannot agree.

    It reads RFC 4180 CSV as the csv module does; where they could differ (a
    record with the wrong number of cells, invalid UTF-8, a header it reads
    otherwise) it gives up and the csv module reads the file instead. A blank
    line is a row of empty cells here and no record there: both are skipped.
    """
    try:
        pa, pc, _, pacsv = _pyarrow()
    except PortfolioError:
        raise _Fallback from None
    strings = {name: pa.string() for name in header}
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=ARROW_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=strings, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except pa.ArrowException:
        raise _Fallback from None
    if list(reader.schema.names) != header:
        raise _Fallback
    state = _Reader(strict, progress, None)
    row = HEADER_ROW + 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowException:
            raise _Fallback from None
        n = batch.num_rows
        cells = {name: _arrow_cells(pa, pc, batch.column(i)) for i, name in enumerate(header)}
        state.chunk(cells, np.arange(row, row + n, dtype=np.int64), n)
        row += n
    return state.result()
