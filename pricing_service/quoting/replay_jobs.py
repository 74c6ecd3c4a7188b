"""Replay over several processes, with exactly the report of one.

The log is cut into chunks of `CHUNK` consecutive records; process k of N parses and
re-prices chunks k, k+N, k+2N, ... and only counts the lines of the others, so each
record is read and judged by exactly one process, under the same checks as
`iter_records` (a JSON record of a known version, seq equal to its position). The
reports are merged: counts add up, differences are put back in log order, and if any
process met a line that is not a record, the one nearest the start is raised, as one
process reading the log in order would have. Within a share each line goes to the fast
path first (replay_fast: an identical quote judged without parsing its response), and
every line it does not vouch for is parsed and judged by `replay_record`, as always.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from pricing_service.audit.reader import (
    LogFormatError,
    LogRecord,
    RawLine,
    iter_lines,
    parse_record,
)
from pricing_service.audit.segments import list_segments
from pricing_service.quoting.replay import (
    ArchivedPolicies,
    Decode,
    ReplayFilter,
    ReplayReport,
    replay_record,
)
from pricing_service.quoting.replay_fast import FastQuotes

__all__ = ["CHUNK", "default_jobs", "replay_log"]

CHUNK = 4096
"""Records per chunk: large enough that skipping costs nothing, small enough to balance."""

_FormatFault = tuple[int, str, int, str]  # position, segment, line, detail


def default_jobs() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def share_lines(
    logdir: Path, job: int, jobs: int, chunk: int = CHUNK
) -> Iterator[tuple[int, int, RawLine]]:
    """(position in the log, the seq it must carry, line) of each line of chunks job,
    job+jobs, ... of the log, unparsed; the other lines are only counted.

    Raises LogFormatError, as `iter_records` does, for a torn line before the last one;
    `_parsed` raises for a line that is not a record or whose seq is not its position.
    """
    segments, _ = list_segments(Path(logdir))
    last_segment = segments[-1].name if segments else ""
    first_seq = segments[0].first_seq if segments else 0
    for position, line in enumerate(iter_lines(logdir, segments)):
        if not line.complete:
            if line.segment == last_segment:
                return
            raise _PositionedError(
                position, LogFormatError(line.segment, line.line, "incomplete record (no newline)")
            )
        if (position // chunk) % jobs == job:
            yield position, first_seq + position, line


def _parsed(position: int, expected: int, line: RawLine) -> LogRecord:
    """The record of a line that must carry seq `expected`, as `iter_records` checks it."""
    try:
        record = parse_record(line.raw, line.segment, line.line)
    except LogFormatError as exc:
        raise _PositionedError(position, exc) from exc
    if record.seq != expected:
        raise _PositionedError(
            position,
            LogFormatError(
                line.segment, line.line, f"expected seq {expected}, found {record.seq!r}"
            ),
        )
    return LogRecord(line.segment, line.line, record.seq, line.raw, record)


class _PositionedError(Exception):
    """A LogFormatError with the position of its line in the log (across processes)."""

    def __init__(self, position: int, error: LogFormatError) -> None:
        super().__init__(position, error.segment, error.line, error.detail)
        self.fault: _FormatFault = (position, error.segment, error.line, error.detail)


def _replay_share(
    logdir: Path,
    job: int,
    jobs: int,
    chunk: int,
    selection: ReplayFilter,
    decode: Decode,
    on_bytes: Callable[[int], None] | None = None,
) -> ReplayReport | _FormatFault:
    archive = ArchivedPolicies(logdir)
    report = ReplayReport()
    fast = FastQuotes(archive, selection)
    try:
        for position, seq, line in share_lines(logdir, job, jobs, chunk):
            if on_bytes is not None:
                on_bytes(len(line.raw) + 1)
            # An identical quote is judged without parsing its response; every other
            # line is judged as it always was (see replay_fast).
            if not fast.replay(line.raw, seq, report):
                replay_record(
                    _parsed(position, seq, line), archive, selection, report, decode=decode
                )
    except _PositionedError as exc:
        return exc.fault
    return report


def merge(reports: list[ReplayReport]) -> ReplayReport:
    """One report of several shares: counts summed, differences in log order."""
    out = ReplayReport()
    for r in reports:
        out.records += r.records
        out.selected += r.selected
        out.quotes += r.quotes
        out.refusals += r.refusals
        out.denials += r.denials
        out.policy_switches += r.policy_switches
        out.matched += r.matched
        out.differences.extend(r.differences)
        out.policies |= r.policies
    # Stable: one record's differences keep their order (they come from one share).
    out.differences.sort(key=lambda d: d.seq)
    return out


def replay_log(
    logdir: Path,
    selection: ReplayFilter | None = None,
    *,
    decode: Decode,
    jobs: int = 1,
    on_share_done: Callable[[ReplayReport], None] | None = None,
    chunk: int = CHUNK,
    on_bytes: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay the whole log in `jobs` processes; the report is that of one process.

    Raises LogFormatError for the first line (in log order) that is not a record.
    `decode` must be picklable (a module-level function) when jobs > 1. `on_bytes` is
    told the size of each line read (with its newline) when jobs is 1 (progress).
    """
    selection = selection or ReplayFilter()
    if jobs <= 1:
        results = [_replay_share(logdir, 0, 1, chunk, selection, decode, on_bytes)]
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            futures = [
                pool.submit(_replay_share, logdir, job, jobs, chunk, selection, decode)
                for job in range(jobs)
            ]
            results = []
            for f in futures:
                results.append(f.result())
    faults = [r for r in results if isinstance(r, tuple)]
    if faults:
        _, segment, line, detail = min(faults)
        raise LogFormatError(segment, line, detail)
    reports = [r for r in results if isinstance(r, ReplayReport)]
    if on_share_done is not None:
        for r in reports:
            on_share_done(r)
    return merge(reports)
