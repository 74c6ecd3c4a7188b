"""The streaming reader replay builds on: records with their place, in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_support import quote_id, write_log

from pricing_service.audit.merkle import leaf_hash
from pricing_service.audit.reader import LogFormatError, iter_lines, iter_records, read_line_at


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    """A closed log of 12 records over several segments."""
    write_log(tmp_path, 12, segment_max_bytes=1500).close()
    return tmp_path


def test_iter_records_yields_every_record_with_segment_line_seq_and_data(logdir: Path) -> None:
    records = list(iter_records(logdir))
    assert [r.seq for r in records] == list(range(12))
    first_of_segment = [(r.segment, r.seq) for r in records if r.line == 1]
    assert first_of_segment == [(f"{seq:020d}.jsonl", seq) for _, seq in first_of_segment]
    assert len(first_of_segment) > 2
    for r in records:
        assert r.data["response"]["quote_id"] == quote_id(r.seq)
        assert r.leaf_hash() == leaf_hash(r.raw)
        assert r.raw + b"\n" in (logdir / "segments" / r.segment).read_bytes()


def test_iter_records_can_start_at_a_seq(logdir: Path) -> None:
    assert [r.seq for r in iter_records(logdir, start_seq=7)] == [7, 8, 9, 10, 11]


def test_iter_records_stops_at_a_torn_last_line(logdir: Path) -> None:
    last = sorted((logdir / "segments").iterdir())[-1]
    with last.open("ab") as f:
        f.write(b'{"caller":')
    assert [r.seq for r in iter_records(logdir)][-1] == 11


def test_iter_records_rejects_a_line_that_is_not_a_record(logdir: Path) -> None:
    first = sorted((logdir / "segments").iterdir())[0]
    lines = first.read_bytes().splitlines(keepends=True)
    first.write_bytes(lines[0] + b"not json\n" + b"".join(lines[1:]))
    with pytest.raises(LogFormatError, match=f"{first.name} line 2: not valid JSON"):
        list(iter_records(logdir))


def test_iter_records_rejects_a_seq_gap(logdir: Path) -> None:
    first = sorted((logdir / "segments").iterdir())[0]
    lines = first.read_bytes().splitlines(keepends=True)
    first.write_bytes(lines[0] + b"".join(lines[2:]))
    with pytest.raises(LogFormatError, match="line 2: expected seq 1, found 2"):
        list(iter_records(logdir))


def test_iter_lines_and_read_line_at_agree(logdir: Path) -> None:
    for line in iter_lines(logdir):
        assert line.complete
        assert read_line_at(logdir / "segments" / line.segment, line.offset) == line.raw
