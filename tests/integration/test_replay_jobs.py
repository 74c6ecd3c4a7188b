"""`replay --jobs N` gives the report of one process: counts, differences in log order,
and the first damaged line, whatever the number of processes and the chunking."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pricing_service.api.incoming import decode_document
from pricing_service.audit.reader import LogFormatError
from pricing_service.quoting.replay import ReplayFilter
from pricing_service.quoting.replay_jobs import replay_log

BIN = Path(sys.executable).parent
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "audit_log_2026_12"
SEGMENT = "segments/00000000000000000000.jsonl"


@pytest.fixture
def altered(tmp_path: Path) -> Path:
    """The fixture log with the annual rate of three quotes changed (no re-signing needed:
    replay judges the content; verify is what catches an unsigned change)."""
    copy = tmp_path / "log"
    shutil.copytree(FIXTURE, copy)
    path = copy / SEGMENT
    lines = path.read_bytes().splitlines(keepends=True)
    for i in (3, 17, 40):
        data = json.loads(lines[i])
        data["response"]["annual_rate"] = "0.01"
        lines[i] = (
            json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
            + b"\n"
        )
    path.write_bytes(b"".join(lines))
    return copy


def _report(logdir: Path, jobs: int, chunk: int) -> dict[str, object]:
    return replay_log(logdir, decode=decode_document, jobs=jobs, chunk=chunk).to_json()


def test_jobs_and_chunks_give_the_one_process_report(altered: Path) -> None:
    one = _report(altered, 1, 4096)
    assert [(d["seq"], d["field"], d["recorded"]) for d in one["differences"]] == [  # type: ignore[attr-defined]
        (3, "response.annual_rate", "0.01"),
        (17, "response.annual_rate", "0.01"),
        (40, "response.annual_rate", "0.01"),
    ]
    assert (one["records"], one["matched"], one["mismatched_records"]) == (60, 57, 3)
    for jobs, chunk in ((2, 1), (2, 7), (3, 5), (4, 64)):
        assert _report(altered, jobs, chunk) == one


def test_jobs_keep_the_selection(altered: Path) -> None:
    selection = ReplayFilter(product="mine_score")
    one = replay_log(altered, selection, decode=decode_document).to_json()
    three = replay_log(altered, selection, decode=decode_document, jobs=3, chunk=2).to_json()
    assert one == three
    assert one["selected"] == 10


def test_the_first_damaged_line_is_raised_whichever_process_met_it(altered: Path) -> None:
    path = altered / SEGMENT
    lines = path.read_bytes().splitlines(keepends=True)
    lines[21] = b"not json\n"
    lines[50] = b'{"v":7}\n'
    path.write_bytes(b"".join(lines))
    for jobs, chunk in ((1, 4096), (2, 3), (3, 10)):
        with pytest.raises(
            LogFormatError, match=r"^00000000000000000000\.jsonl line 22: not valid"
        ):
            replay_log(altered, decode=decode_document, jobs=jobs, chunk=chunk)


def test_cli_jobs_output_is_identical(altered: Path) -> None:
    outs = [
        subprocess.run(
            [str(BIN / "pricing"), "audit", "replay", str(altered), "--jobs", jobs],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        for jobs in ("1", "2")
    ]
    assert [o.returncode for o in outs] == [1, 1]
    assert outs[0].stdout == outs[1].stdout
    assert "seq 17" in outs[0].stdout
