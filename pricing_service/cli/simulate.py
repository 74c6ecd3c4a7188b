"""`pricing simulate ...`: indicative pricing over portfolios, policy diffs, what-if, Monte Carlo,
calibration. Every run writes its files and a self-contained HTML report to --out; nothing
here writes to an audit log or asks a server for a binding quote.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from pricing_service.audit.reader import LogFormatError, iter_records, log_bytes
from pricing_service.audit.replay import ReplayFilter
from pricing_service.domain.engine import BEIJING, beijing_date
from pricing_service.domain.errors import PolicyError, PricingError
from pricing_service.domain.policy import Policy
from pricing_service.domain.rates import fmt_percent
from pricing_service.policy.document import parse_document
from pricing_service.policy.store import default_policy_bytes, load_paths, load_policy_bytes
from pricing_service.simulate import charts
from pricing_service.simulate.calibrate import CalibrationError, calibrate
from pricing_service.simulate.montecarlo import (
    GradeTransitions,
    MigrationModelError,
    ScoreDrift,
    default_migration,
    load_migration,
    migration_from_document,
    run_montecarlo,
)
from pricing_service.simulate.portfolio import Portfolio
from pricing_service.simulate.portfolio_io import (
    PortfolioError,
    PortfolioLoad,
    read_portfolio,
    write_results,
)
from pricing_service.simulate.report import (
    Report,
    RunFacts,
    diff_report,
    montecarlo_report,
    simulation_report,
    write_charts,
)
from pricing_service.simulate.results import LoanResults, units_to_bp
from pricing_service.simulate.summary import (
    diff_summary,
    plain_table,
    summarise,
    tables_text,
)
from pricing_service.simulate.vector import price_portfolio
from pricing_service.simulate.whatif import WhatIf, WhatIfRow, whatif

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Pricing in chunks bounds memory and lets a long run show progress.
CHUNK = 200_000
# A calendar date given as --as-of is priced at noon Beijing time: after that day's
# LPR fixing (published 09:00 or 09:30), so "the rate on that day" means what it says.
NOON = time(12, 0)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Bad-row problems listed on stderr (the report lists 100, bad_rows.csv all of them).
SHOWN_PROBLEMS = 20

ClientFactory = Callable[[argparse.Namespace], Any]


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
def progress_bar(enabled: bool, what: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress callback `(done, total or None)` on stderr; silent when not enabled."""
    if not enabled:
        yield lambda _done, _total: None
        return
    if sys.stderr.isatty():
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
        return
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

    yield report


def _show_progress(args: argparse.Namespace) -> bool:
    return bool(args.progress) or sys.stderr.isatty()


def price_in_chunks(
    portfolio: Portfolio,
    policy: Policy,
    as_of: datetime,
    tick: Callable[[int, int | None], None],
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


def _read(args: argparse.Namespace) -> PortfolioLoad:
    with progress_bar(_show_progress(args), "reading") as tick:
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
        print(_skipped_note(load), file=sys.stderr)


def _bad_rows(load: PortfolioLoad) -> list[tuple[object, ...]]:
    return [(p.row, p.field, p.message) for p in load.problems]


BAD_ROW_HEADERS = ("row", "field", "problem")


def _out_dir(args: argparse.Namespace) -> Path:
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimulateUsageError(f"--out {out}: {exc.strerror or exc}") from None
    return out


def _write_report(report: Report, out: Path) -> None:
    """report.html, and its charts as PNG files under charts/ for slides and documents."""
    report.write(out / "report.html")
    write_charts(report, out / "charts")


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _command_line(argv0: str = "pricing") -> str:
    return " ".join([argv0, *sys.argv[1:]]) if sys.argv[1:] else argv0


def _skipped_note(load: PortfolioLoad) -> str:
    if not load.problems:
        return ""
    rows = len({p.row for p in load.problems})
    noun = "row" if rows == 1 else "rows"
    return f"{rows:,} bad {noun} skipped (listed in the report and in bad_rows.csv)"


def _remove_stale(out: Path, *names: str) -> None:
    """Files of an earlier run in a reused --out that this run does not write."""
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()


def _other_format(fmt: str) -> str:
    return "parquet" if fmt == "csv" else "csv"


def _write_bad_rows(out: Path, load: PortfolioLoad) -> None:
    if not load.problems:
        _remove_stale(out, "bad_rows.csv")
        return
    with (out / "bad_rows.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(BAD_ROW_HEADERS)
        w.writerows(_bad_rows(load))


def _run_facts(
    args: argparse.Namespace,
    policy: Policy,
    load: PortfolioLoad,
    as_of: datetime,
    extra: tuple[tuple[str, str], ...] = (),
) -> RunFacts:
    """What produced a portfolio report: the command, the policy, the instant, the input."""
    return RunFacts(
        command=_command_line(),
        policy_version=policy.version,
        policy_digest=policy.digest,
        as_of=as_of,
        portfolio_name=Path(args.portfolio).name,
        rows=len(load.portfolio),
        skipped_rows=_skipped(load),
        extra=extra,
    )


def _skipped(load: PortfolioLoad) -> int:
    return len({p.row for p in load.problems})


# -- pricing simulate run ----------------------------------------------------------------


def cmd_run(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Price a portfolio under one policy; write loans, summary, charts and the report."""
    as_of = parse_as_of(args.as_of)
    loaded = load_policy(args.policy, as_of, args, client_factory)
    load = _read(args)
    out = _out_dir(args)
    with progress_bar(_show_progress(args), "pricing") as tick:
        results = price_in_chunks(load.portfolio, loaded.policy, as_of, tick)
    policy = loaded.policy
    summary = summarise(
        load.portfolio,
        results,
        policy_version=policy.version,
        policy_digest=policy.digest,
        as_of=as_of,
    )
    loans_path = out / f"loans.{args.format}"
    write_results(load.portfolio, results, loans_path)
    _remove_stale(out, f"loans.{_other_format(args.format)}")
    _write_json(out / "summary.json", summary.to_json())
    _write_bad_rows(out, load)
    run = _run_facts(args, policy, load, as_of, extra=(("Policy source", loaded.source),))
    report = simulation_report(
        summary,
        load.portfolio,
        results,
        run,
        policy=policy,
        bad_rows=_bad_rows(load),
        bad_row_headers=BAD_ROW_HEADERS,
    )
    _write_report(report, out)
    if args.json:
        print(json.dumps(summary.to_json(), ensure_ascii=False, indent=2))
    else:
        print(summary.to_text(width=_width()))
        _print_written(out, [loans_path.name, "summary.json", "report.html", "charts/"], load)
    return EXIT_OK


def _width() -> int:
    # Wide enough that no figure is cut: rich shortens cells rather than wrapping a table.
    return max(shutil.get_terminal_size((200, 24)).columns, 180)


def _print_written(out: Path, names: Sequence[str], load: PortfolioLoad | None = None) -> None:
    if load is not None and load.problems:
        print(_skipped_note(load))
    print(f"written to {out}/: " + ", ".join(names))
    print("indicative, not binding / 仅供参考，非约束性报价")


# -- pricing simulate diff ---------------------------------------------------------------


def cmd_diff(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Price a portfolio under a base and a draft policy; write what changes."""
    as_of = parse_as_of(args.as_of)
    base = load_policy(args.base, as_of, args, client_factory)
    draft = load_policy(args.draft, as_of, args, client_factory)
    load = _read(args)
    out = _out_dir(args)
    with progress_bar(_show_progress(args), "pricing base") as tick:
        base_results = price_in_chunks(load.portfolio, base.policy, as_of, tick)
    with progress_bar(_show_progress(args), "pricing draft") as tick:
        draft_results = price_in_chunks(load.portfolio, draft.policy, as_of, tick)
    diff = diff_summary(
        load.portfolio,
        base_results,
        draft_results,
        base_version=base.policy.version,
        base_digest=base.policy.digest,
        draft_version=draft.policy.version,
        draft_digest=draft.policy.digest,
        as_of=as_of,
    )
    with (out / "changes.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        # Machine-readable like loans.csv: exact percent and bp text, whole fen.
        w.writerow(CHANGE_FIELDS)
        for c in diff.changes():
            data = c.to_json()
            w.writerow(["" if data[k] is None else data[k] for k in CHANGE_FIELDS])
    write_results(load.portfolio, base_results, out / f"base_loans.{args.format}")
    write_results(load.portfolio, draft_results, out / f"draft_loans.{args.format}")
    other = _other_format(args.format)
    _remove_stale(out, f"base_loans.{other}", f"draft_loans.{other}")
    _write_json(out / "diff.json", diff.to_json(loan_limit=0))
    _write_bad_rows(out, load)
    run = _run_facts(
        args,
        base.policy,
        load,
        as_of,
        extra=(("Base policy source", base.source), ("Draft policy source", draft.source)),
    )
    _write_report(
        diff_report(diff, run, bad_rows=_bad_rows(load), bad_row_headers=BAD_ROW_HEADERS), out
    )
    if args.json:
        print(json.dumps(diff.to_json(loan_limit=0), ensure_ascii=False, indent=2))
    else:
        print(diff.to_text(width=_width()))
        names = ["changes.csv", f"base_loans.{args.format}", f"draft_loans.{args.format}"]
        _print_written(out, [*names, "diff.json", "report.html", "charts/"], load)
    return EXIT_OK


CHANGE_FIELDS = (
    "loan_id",
    "product_id",
    "base_status",
    "draft_status",
    "base_rate_percent",
    "draft_rate_percent",
    "rate_delta_bp",
    "concession_delta_bp",
    "first_year_delta_fen",
)


# -- pricing simulate whatif -------------------------------------------------------------

WHATIF_HEADERS = (
    "seq",
    "quote_id",
    "borrower_id",
    "product_id",
    "pricing_time",
    "principal_fen",
    "actual_status",
    "actual_rate",
    "actual_first_year_concession_fen",
    "draft_status",
    "draft_rate",
    "draft_first_year_concession_fen",
    "rate_change_bp",
    "changed",
)


def _pct_text(units: int) -> str:
    return fmt_percent(units_to_bp(units))  # "1.30", as quotes and loans.csv show rates


def whatif_row(r: WhatIfRow) -> list[object]:
    """One CSV row in WHATIF_HEADERS order; rates as exact percent text, empty when refused."""
    both = r.actual.priced and r.draft.priced
    return [
        r.seq,
        r.quote_id,
        r.borrower_id,
        r.product_id,
        r.pricing_time,
        r.principal_fen,
        r.actual.status,
        _pct_text(r.actual.rate_units) if r.actual.priced else "",
        r.actual.first_year_concession_fen,
        r.draft.status,
        _pct_text(r.draft.rate_units) if r.draft.priced else "",
        r.draft.first_year_concession_fen,
        format(units_to_bp(r.draft.rate_units - r.actual.rate_units), "f") if both else "",
        "yes" if r.changed else "no",
    ]


def _whatif_results(rows: Sequence[WhatIfRow], side: str) -> LoanResults:
    """The rows' outcomes on one side as LoanResults, for the distribution chart."""
    out = LoanResults.empty(len(rows))
    for i, r in enumerate(rows):
        outcome = r.actual if side == "actual" else r.draft
        out.status[i] = outcome.status
        out.rate_units[i] = outcome.rate_units
    return out


def _whatif_report(result: WhatIf, run_facts: list[tuple[str, str]]) -> Report:
    summary = result.to_json()
    cost = summary["first_year_concession_fen"]
    report = Report("What-if: logged binding requests under a draft policy").facts(run_facts)
    counts = [
        [key.replace("_", " "), str(summary[key])]
        for key in (
            "records_read",
            "requests_selected",
            "unchanged",
            "changed",
            "rate_up",
            "rate_down",
            "now_refused",
            "now_priced",
        )
    ]
    report.table("Requests", ("what", "count"), counts)
    report.table(
        "First-year concession",
        ("actual CNY", "draft CNY", "change CNY"),
        [[_cny(cost["actual"]), _cny(cost["draft"]), _cny(cost["change"])]],
        caption="Sum over the selected requests of the first-year concession against the "
        "ordinary-loan rate; a refused request costs nothing.",
    )
    report.chart(
        "Quoted rates, actual and under the draft",
        charts.rate_shift_chart(
            _whatif_results(result.rows, "actual"),
            _whatif_results(result.rows, "draft"),
            base_label="actually quoted",
            draft_label=result.draft_version,
        ),
        "Rates of the requests priced on each side (filled: as quoted; outline: the draft).",
    )
    changed = result.changed
    rows = [[str(x) for x in whatif_row(r)[:13]] for r in changed[:100]]
    caption = f"The first 100 of {len(changed)}." if len(changed) > 100 else None
    report.table(f"Changed requests ({len(changed)})", WHATIF_HEADERS[:13], rows, caption=caption)
    return report


def _cny(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def cmd_whatif(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Re-price the logged binding requests under a draft; compare with what they got."""
    logdir: Path = args.logdir
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise SimulateUsageError(f"--from {args.date_from} is after --to {args.date_to}")
    if not (logdir / "segments").is_dir():
        raise SimulateUsageError(f"{logdir} is not an audit log directory (no segments/)")
    draft = load_policy(args.draft, datetime.now(UTC), args, client_factory)
    selection = ReplayFilter(args.date_from, args.date_to, args.product, args.borrower)
    out = _out_dir(args)
    total = log_bytes(logdir)
    done = [0]
    try:
        with progress_bar(_show_progress(args), "re-pricing the log (bytes)") as tick:

            def on_record(rec: Any) -> None:
                done[0] += len(rec.raw) + 1
                if rec.seq % 1000 == 0:
                    tick(done[0], total)

            result = whatif(iter_records(logdir), draft.policy, selection, on_record)
            tick(total, total)
    except LogFormatError as exc:
        print(f"error: {exc} (run `pricing audit verify` to locate damage)", file=sys.stderr)
        return EXIT_FAILED
    with (out / "whatif.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(WHATIF_HEADERS)
        w.writerows(whatif_row(r) for r in result.rows)
    _write_json(out / "whatif.json", result.to_json())
    _remove_stale(out, "bad_rows.csv")  # a what-if reads no portfolio
    facts = [
        ("Command", _command_line()),
        ("Audit log", str(logdir)),
        ("Draft policy version", draft.policy.version),
        ("Draft policy digest", draft.policy.digest),
        ("Draft policy source", draft.source),
    ]
    _write_report(_whatif_report(result, facts), out)
    summary = result.to_json()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        cost = summary["first_year_concession_fen"]
        rows = [[k.replace("_", " "), f"{v:,}"] for k, v in summary.items() if isinstance(v, int)]
        rows.append(["first-year concession, actual CNY", _cny(cost["actual"])])
        rows.append(["first-year concession, draft CNY", _cny(cost["draft"])])
        rows.append(["first-year concession, change CNY", _cny(cost["change"])])
        title = f"What-if under {draft.policy.version}"
        print(tables_text([plain_table(title, ("what", "value"), rows)], 100))
        _print_written(out, ["whatif.csv", "whatif.json", "report.html", "charts/"])
    return EXIT_OK


# -- pricing simulate montecarlo ---------------------------------------------------------


def _cny_text(value: str) -> str:
    """An exact CNY decimal string, grouped: "4901924980.10" -> "4,901,924,980.10"."""
    whole, _, cents = value.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{cents or '00'}"


def _pct4(percent: str) -> str:
    # Display like the summaries: 0.0001 percentage points, half-even (montecarlo.json is exact).
    return format(Decimal(percent).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN), "f")


def _load_migration(
    args: argparse.Namespace, loaded: LoadedPolicy
) -> tuple[GradeTransitions, ScoreDrift, str]:
    """--transitions FILE, else the policy's [simulation] section, else the shipped default."""
    if args.transitions:
        source = str(args.transitions)
        try:
            return (*load_migration(args.transitions), source)
        except MigrationModelError as exc:
            problems = "\n  ".join(exc.problems)
            raise SimulateUsageError(f"--transitions {source}:\n  {problems}") from None
    section = parse_document(loaded.raw).get("simulation")
    if section is not None:
        try:
            model = migration_from_document(section, "simulation.")
        except MigrationModelError as exc:
            problems = "\n  ".join(exc.problems)
            raise SimulateUsageError(
                f"policy {loaded.source}, [simulation]:\n  {problems}"
            ) from None
        return (*model, f"the policy's [simulation] section ({loaded.source})")
    return (*default_migration(), "default (synthetic, unconfirmed)")


def cmd_montecarlo(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Grades migrate and scores drift each year; loans re-price at each annual reset."""
    if args.years < 1 or args.paths < 1 or args.seed < 0:
        raise SimulateUsageError("--years and --paths must be at least 1, --seed at least 0")
    as_of = parse_as_of(args.as_of)
    loaded = load_policy(args.policy, as_of, args, client_factory)
    transitions, drift, migration_source = _load_migration(args, loaded)
    load = _read(args)
    out = _out_dir(args)
    with progress_bar(_show_progress(args), "paths") as tick:
        result = run_montecarlo(
            load.portfolio,
            loaded.policy,
            as_of,
            years=args.years,
            paths=args.paths,
            seed=args.seed,
            transitions=transitions,
            score_drift=drift,
            progress=tick,
        )
    summary = result.summary()
    _write_json(out / "montecarlo.json", summary)
    with (out / "paths.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("path", "year", "average_rate", "concession_fen"))
        for path in range(result.paths):
            for year in range(result.years):
                w.writerow(
                    (
                        path + 1,
                        year + 1,
                        _pct_text(int(result.path_rate_units[path, year])),
                        int(result.path_concession_fen[path, year]),
                    )
                )
    _write_bad_rows(out, load)
    _write_report(_montecarlo_report(summary, args, loaded, load, as_of, migration_source), out)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return EXIT_OK
    life = summary["lifetime_concession"]
    ci = life["ci_cny_estimate"]
    rows = [
        ["expected lifetime concession CNY", _cny_text(life["expected_cny"])],
        [
            f"{life['confidence_level']} interval of the expectation (estimate)",
            " .. ".join(_cny_text(v) for v in ci) if ci else "-",
        ],
        [
            "2.5% .. 97.5% of the path totals",
            " .. ".join(_cny_text(v) for v in life["empirical_cny"]),
        ],
        ["no-migration baseline CNY", _cny_text(life["baseline_cny"])],
    ]
    per_year = [
        [
            str(y["year"]),
            str(y["loans_outstanding"]),
            _cny_text(y["expected_concession_cny"]),
            _cny_text(y["baseline_concession_cny"]),
            _pct4(y["rate_percent"]["p5"]),
            _pct4(y["rate_percent"]["p50"]),
            _pct4(y["rate_percent"]["p95"]),
        ]
        for y in summary["per_year"]
    ]
    headers = (
        "year",
        "loans",
        "expected concession CNY",
        "baseline CNY",
        "avg rate p5 %",
        "p50 %",
        "p95 %",
    )
    title = f"Monte Carlo: {result.paths:,} paths x {result.years} years, seed {result.seed}"
    tables = [
        plain_table(title, ("figure", "value"), rows),
        plain_table("By year", headers, per_year),
    ]
    print(tables_text(tables, _width()))
    _print_written(out, ["montecarlo.json", "paths.csv", "report.html", "charts/"], load)
    return EXIT_OK


def _montecarlo_report(
    summary: dict[str, Any],
    args: argparse.Namespace,
    loaded: LoadedPolicy,
    load: PortfolioLoad,
    as_of: datetime,
    migration_source: str,
) -> Report:
    years = [y["year"] for y in summary["per_year"]]
    keys = ("p5", "p25", "p50", "p75", "p95")

    def band(field: str, scale: Callable[[Any], Decimal]) -> list[list[Decimal]]:
        return [[scale(y[field][k]) for y in summary["per_year"]] for k in keys]

    def pct(value: Any) -> Decimal:
        return Decimal(value)

    def cny(value: Any) -> Decimal:
        return Decimal(int(value)) / 100

    run = _run_facts(
        args,
        loaded.policy,
        load,
        as_of,
        extra=(
            ("Paths x years", f"{summary['paths']:,} x {summary['years']}"),
            ("Seed", str(summary["seed"])),
            ("Migration model", migration_source),
        ),
    )
    life = summary["lifetime_concession"]
    notes = [
        f"Expected lifetime concession {_cny_text(life['expected_cny'])} CNY; "
        f"{life['confidence_level']} interval (estimate) "
        + (
            " .. ".join(_cny_text(v) for v in life["ci_cny_estimate"])
            if life["ci_cny_estimate"]
            else "-"
        )
        + f"; no-migration baseline {_cny_text(life['baseline_cny'])} CNY.",
        "Grades migrate by the transition matrix and mine scores drift each year; each loan "
        "re-prices at its anniversary with the LPR held at the as-of fixing.",
    ]
    report = montecarlo_report(
        run,
        years=years,
        percentiles=[5, 25, 50, 75, 95],
        bands=band("rate_percent", pct),
        baseline=[Decimal(y["baseline_rate_percent"]) for y in summary["per_year"]],
        quantity="Volume-weighted average quoted rate (%)",
        notes=notes,
    )
    report.chart(
        "Concession by year",
        charts.fan_chart(
            years,
            [5, 25, 50, 75, 95],
            band("concession_fen", cny),
            baseline=[Decimal(y["baseline_concession_cny"]) for y in summary["per_year"]],
            baseline_label="no migration",
            title="Concession cost by year (CNY)",
            ylabel="CNY",
        ),
        "Percentile bands over the paths of the year's concession cost; the line without "
        "migration for comparison.",
    )
    return report


# -- pricing simulate calibrate ----------------------------------------------------------


_PLAIN_CNY = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")


def _target_fen(text: str) -> int:
    """--target-cost: a plain CNY amount (at most 2 decimals, separators allowed) -> fen."""
    plain = text.replace(",", "")
    if not _PLAIN_CNY.fullmatch(plain):
        raise SimulateUsageError(
            f"--target-cost {text!r}: a plain CNY amount like 120000000.00 (no exponent)"
        )
    whole, _, cents = plain.partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0"))


def cmd_calibrate(args: argparse.Namespace, client_factory: ClientFactory) -> int:
    """Solve a policy parameter for a first-year concession budget; write the draft."""
    as_of = parse_as_of(args.as_of)
    target = _target_fen(args.target_cost)
    loaded = load_policy(args.policy, as_of, args, client_factory)
    load = _read(args)
    out = _out_dir(args)
    try:
        result = calibrate(
            load.portfolio,
            parse_document(loaded.raw),
            args.param,
            target,
            as_of,
            lo=args.lo,
            hi=args.hi,
        )
    except CalibrationError as exc:
        raise SimulateUsageError(str(exc)) from None
    draft_path = out / "calibrated-policy.toml"
    result.write_draft(draft_path)
    data = result.to_json()
    _write_json(out / "calibration.json", data)
    _write_bad_rows(out, load)
    rows = [
        ["parameter", result.param],
        ["solved value", data["value"]],
        ["first-year cost CNY", _cny(result.cost_fen)],
        ["budget CNY", _cny(result.target_fen)],
        ["unspent CNY", _cny(result.gap_fen)],
        ["next step", data["next_value"]],
        ["cost at the next step CNY", _cny(result.next_cost_fen)],
        ["current value", data["original_value"] or "-"],
        ["cost at the current value CNY", _cny(result.original_cost_fen)],
        ["draft policy", f"{result.version} ({data['draft_digest'][:16]}...)"],
    ]
    run_facts = [
        ("Command", _command_line()),
        ("Policy version", loaded.policy.version),
        ("Policy digest", loaded.policy.digest),
        ("Priced as of", as_of.isoformat()),
        ("Portfolio file", Path(args.portfolio).name),
        ("Loans read", str(len(load.portfolio))),
        ("Rows skipped", str(_skipped(load))),
    ]
    report = Report("Calibration of a policy parameter to a concession budget").facts(run_facts)
    report.table(
        "Result",
        ("what", "value"),
        rows,
        caption=f"Rule: {data['rule']}. Costs are first-year concessions against the "
        "ordinary-loan rate, exact sums of whole fen.",
    )
    if result.warnings:
        report.table(
            "Warnings",
            ("the calibrated draft",),
            [[w] for w in result.warnings],
            caption="The draft is a valid policy: these orderings are legal, probably unintended.",
        )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    draft_policy = load_policy_bytes(result.draft_toml())[0]
    for product in draft_policy.products.values():
        if product.curve is not None and args.param.startswith(f"products.{product.product_id}."):
            report.chart(
                f"Calibrated score curve of {product.product_id}",
                charts.score_curve_chart(
                    product.curve, product_id=product.product_id, min_score=product.min_score
                ),
                "The draft's score curve: anchors as calibrated, the table re-interpolated.",
            )
    report.bad_rows(_bad_rows(load), headers=BAD_ROW_HEADERS, total=_skipped(load))
    _write_report(report, out)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(tables_text([plain_table("Calibration", ("what", "value"), rows)], 120))
        _print_written(
            out, ["calibrated-policy.toml", "calibration.json", "report.html", "charts/"], load
        )
    return EXIT_OK


# -- dispatch ----------------------------------------------------------------------------

HANDLERS: dict[str, Callable[[argparse.Namespace, ClientFactory], int]] = {
    "run": cmd_run,
    "diff": cmd_diff,
    "whatif": cmd_whatif,
    "montecarlo": cmd_montecarlo,
    "calibrate": cmd_calibrate,
}


def run_command(
    name: str,
    args: argparse.Namespace,
    client_factory: ClientFactory,
    usage_error: type[Exception],
) -> int:
    """Run `pricing simulate NAME`; a SimulateUsageError becomes the CLI's `usage_error`."""
    try:
        return HANDLERS[name](args, client_factory)
    except SimulateUsageError as exc:
        raise usage_error(str(exc)) from None


__all__ = ["HANDLERS", "parse_as_of", "run_command"]
