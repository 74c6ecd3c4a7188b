"""What every `pricing simulate` command shares: flags read, policy loaded, the portfolio
read with progress, the output directory and the files and lines every command writes."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from pricing_service.domain.engine import BEIJING, beijing_date
from pricing_service.domain.errors import PolicyError, PricingError
from pricing_service.domain.policy import Policy
from pricing_service.policy.store import default_policy_bytes, load_paths, load_policy_bytes
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.portfolio_io import PortfolioError, PortfolioLoad, read_portfolio
from pricing_service.simulate.report import Report, RunFacts, write_charts
from pricing_service.simulate.results import LoanResults
from pricing_service.simulate.vector import price_portfolio

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Pricing in chunks bounds memory and lets a long run show progress.
CHUNK = 200_000
# A calendar date given as --as-of is priced at noon Beijing time: after that day's
# LPR fixing (published 09:00 or 09:30), so "the rate on that day" means what it says.
NOON = time(12, 0)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Bad-row problems listed on stderr (the report lists 100, bad_rows.csv all of them).
SHOWN_PROBLEMS = 20
BAD_ROW_HEADERS = ("row", "field", "problem")

ClientFactory = Callable[[argparse.Namespace], Any]
Tick = Callable[[int, int | None], None]


class SimulateUsageError(Exception):
    """A bad flag value or unreadable input: exit code 2."""


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A policy to simulate under, with where it came from and its document bytes."""

    policy: Policy
    raw: bytes  # the document as read (TOML) or fetched (canonical JSON)
    source: str  # "default", "live HOST:PORT" or a path


# -- inputs ------------------------------------------------------------------------------


def parse_as_of(text: str | None) -> datetime:
    """--as-of: an RFC 3339 instant, a date (noon Beijing time), or now."""
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        if _DATE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), NOON, BEIJING).astimezone(UTC)
        # YYYY-MM-DD, then T (RFC 3339 also allows t and a space), a time and an offset;
        # not the other ISO 8601 forms fromisoformat takes (week dates, 20261120).
        if not (_DATE.match(text) and text[10:11] in ("T", "t", " ")):
            raise ValueError(text)
        instant = datetime.fromisoformat(f"{text[:10]}T{text[11:].upper()}".replace("Z", "+00:00"))
    except ValueError:
        raise SimulateUsageError(
            f"--as-of {text!r}: give YYYY-MM-DD or an RFC 3339 instant"
        ) from None
    if instant.tzinfo is None:
        raise SimulateUsageError(f"--as-of {text!r}: give the offset (e.g. +08:00 or Z)")
    try:
        beijing_date(instant)  # the pricing date: in year 10000 for 9999-12-31T23:59Z
        return instant.astimezone(UTC)
    except OverflowError:
        raise SimulateUsageError(f"--as-of {text!r}: out of range") from None


def load_policy(
    spec: str, as_of: datetime, args: argparse.Namespace, client_factory: ClientFactory
) -> LoadedPolicy:
    """--policy default | live | FILE-or-DIRECTORY: the version in force at `as_of`.

    A draft file is used whatever its effective date: simulating a draft before it is
    in force is the point. A directory of versions gives the one in force at `as_of`.
    """
    try:
        if spec == "default":
            raw = default_policy_bytes()
            return LoadedPolicy(load_policy_bytes(raw)[0], raw, "default")
        if spec == "live":
            with client_factory(args) as client:
                raw, _digest = client.live_policy_document()
            return LoadedPolicy(load_policy_bytes(raw)[0], raw, f"live {args.target}")
        path = Path(spec)
        if path.is_dir():
            if not any(path.glob("*.toml")):
                raise SimulateUsageError(f"policy {spec}: no *.toml policy file in the directory")
            chosen = load_paths([path]).in_force(beijing_date(as_of))
            for file in sorted(path.glob("*.toml")):
                raw = file.read_bytes()
                if load_policy_bytes(raw)[0].digest == chosen.digest:
                    return LoadedPolicy(chosen, raw, str(file))
        raw = path.read_bytes()
        return LoadedPolicy(load_policy_bytes(raw)[0], raw, str(path))
    except OSError as exc:
        raise SimulateUsageError(f"policy {spec}: {exc.strerror or exc}") from None
    except PolicyError as exc:
        problems = "\n  ".join(exc.problems)
        raise SimulateUsageError(f"policy {spec} is not valid:\n  {problems}") from None
    except PricingError as exc:  # no version in force at as_of
        raise SimulateUsageError(f"policy {spec}: {exc}") from None


# -- progress ----------------------------------------------------------------------------


@contextmanager
def progress_bar(enabled: bool, what: str) -> Iterator[Tick]:
    """A progress callback `(done, total or None)` on stderr; silent when not enabled."""
    if not enabled:
        yield lambda _done, _total: None
        return
    if sys.stderr.isatty():
        with _rich_bar(what) as tick:
            yield tick
        return
    yield _line_progress(what)


@contextmanager
def _rich_bar(what: str) -> Iterator[Tick]:
    from rich.console import Console  # noqa: PLC0415 - only when a bar is shown
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _line_progress(what: str) -> Tick:
    """A line at each tenth of a known total, else every 100,000: for logs, not terminals."""
    last = [-1]

    def report(done: int, total: int | None, out: TextIO = sys.stderr) -> None:
        if total:
            tenth = 10 * done // total
            if tenth != last[0]:
                last[0] = tenth
                print(f"{what}: {done:,} of {total:,}", file=out, flush=True)
        elif done - last[0] >= 100_000 or last[0] < 0:
            last[0] = done
            print(f"{what}: {done:,}", file=out, flush=True)

    return report


def show_progress(args: argparse.Namespace) -> bool:
    """--progress, or stderr is a terminal."""
    return bool(args.progress) or sys.stderr.isatty()


def price_in_chunks(
    portfolio: Portfolio,
    policy: Policy,
    as_of: datetime,
    tick: Tick,
) -> LoanResults:
    """price_portfolio over CHUNK-sized slices, reporting progress, joined in order."""
    n = len(portfolio)
    if n <= CHUNK:
        results = price_portfolio(portfolio, policy, as_of)
        tick(n, n)
        return results
    parts: list[LoanResults] = []
    for start in range(0, n, CHUNK):
        parts.append(price_portfolio(portfolio.take(slice(start, start + CHUNK)), policy, as_of))
        tick(min(start + CHUNK, n), n)
    return LoanResults(
        **{
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in LoanResults.column_names()
        }
    )


# -- the portfolio -----------------------------------------------------------------------


def read_book(args: argparse.Namespace) -> PortfolioLoad:
    """The PORTFOLIO argument read (with --strict and progress); bad rows listed on stderr."""
    with progress_bar(show_progress(args), "reading") as tick:
        try:
            load = read_portfolio(args.portfolio, strict=args.strict, progress=tick)
        except PortfolioError as exc:
            raise SimulateUsageError(str(exc)) from None
        except OSError as exc:
            raise SimulateUsageError(f"{args.portfolio}: {exc.strerror or exc}") from None
    _check_loaded(args, load)
    return load


def _check_loaded(args: argparse.Namespace, load: PortfolioLoad) -> None:
    """List the bad rows on stderr, whatever the output mode; no loan at all is an error.

    A book of no loans would print an all-zero summary and exit 0: a product manager
    reading only the figures could take it for a result.
    """
    listing = [str(p) for p in load.problems[:SHOWN_PROBLEMS]]
    if len(load.problems) > SHOWN_PROBLEMS:
        listing.append(f"... {len(load.problems) - SHOWN_PROBLEMS:,} more problems")
    if not len(load.portfolio):
        why = (
            f"every row is bad ({load.skipped:,} skipped)"
            if load.skipped
            else "no loans in the file"
        )
        raise SimulateUsageError(
            "\n  ".join([f"{args.portfolio}: no loan to price: {why}", *listing])
        )
    for line in listing:
        print(line, file=sys.stderr)
    if load.problems and args.json:  # otherwise the note ends the text on stdout
        print(skipped_note(load), file=sys.stderr)


def bad_rows(load: PortfolioLoad) -> list[tuple[object, ...]]:
    """The load's problems as BAD_ROW_HEADERS rows."""
    return [(p.row, p.field, p.message) for p in load.problems]


def skipped(load: PortfolioLoad) -> int:
    """Input rows skipped (a row can have several problems)."""
    return len({p.row for p in load.problems})


def skipped_note(load: PortfolioLoad) -> str:
    """ "N bad rows skipped (...)", or "" when none was."""
    if not load.problems:
        return ""
    rows = skipped(load)
    noun = "row" if rows == 1 else "rows"
    return f"{rows:,} bad {noun} skipped (listed in the report and in bad_rows.csv)"


def run_facts(
    args: argparse.Namespace,
    policy: Policy,
    load: PortfolioLoad,
    as_of: datetime,
    extra: tuple[tuple[str, str], ...] = (),
) -> RunFacts:
    """What produced a portfolio report: the command, the policy, the instant, the input."""
    return RunFacts(
        command=command_line(),
        policy_version=policy.version,
        policy_digest=policy.digest,
        as_of=as_of,
        portfolio_name=Path(args.portfolio).name,
        rows=len(load.portfolio),
        skipped_rows=skipped(load),
        extra=extra,
    )


def command_line(argv0: str = "pricing") -> str:
    """The command as typed, for the report's facts."""
    return " ".join([argv0, *sys.argv[1:]]) if sys.argv[1:] else argv0


# -- outputs -----------------------------------------------------------------------------


def out_dir(args: argparse.Namespace) -> Path:
    """--out, created if need be."""
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimulateUsageError(f"--out {out}: {exc.strerror or exc}") from None
    return out


def write_report(report: Report, out: Path) -> None:
    """report.html, and its charts as PNG files under charts/ for slides and documents."""
    report.write(out / "report.html")
    write_charts(report, out / "charts")


def write_json(path: Path, data: Any) -> None:
    """Indented UTF-8 JSON, Chinese text as is."""
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def print_json(data: Any) -> None:
    """--json: the command's summary on stdout."""
    print(json.dumps(data, ensure_ascii=False, indent=2))


def write_csv(path: Path, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A CSV file of a header line and `rows`."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(headers)
        w.writerows(rows)


def remove_stale(out: Path, *names: str) -> None:
    """Files of an earlier run in a reused --out that this run does not write."""
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()


def other_format(fmt: str) -> str:
    """The per-loan format not chosen, whose stale files go."""
    return "parquet" if fmt == "csv" else "csv"


def write_bad_rows(out: Path, load: PortfolioLoad) -> None:
    """bad_rows.csv, or none (an earlier run's removed) when every row was read."""
    if not load.problems:
        remove_stale(out, "bad_rows.csv")
        return
    write_csv(out / "bad_rows.csv", BAD_ROW_HEADERS, bad_rows(load))


def width() -> int:
    """Columns for the printed tables."""
    # Wide enough that no figure is cut: rich shortens cells rather than wrapping a table.
    return max(shutil.get_terminal_size((200, 24)).columns, 180)


def print_written(out: Path, names: Sequence[str], load: PortfolioLoad | None = None) -> None:
    """The closing lines: rows skipped, the files written, the indicative notice."""
    if load is not None and load.problems:
        print(skipped_note(load))
    print(f"written to {out}/: " + ", ".join(names))
    print("indicative, not binding / 仅供参考，非约束性报价")
