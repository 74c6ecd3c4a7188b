"""Each log line is one write(): processes sharing stderr (`serve --workers N`) never run
two lines into one. Found by the workers e2e test; print() wrote a line and its newline
apart (stderr writes through), and 2,044 of 10,000 lines of two processes came out broken."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import os, structlog
from pricing_service.logging import configure_logging
configure_logging("json", "info")
log = structlog.get_logger("t")
pids = []
for w in range(2):
    pid = os.fork()
    if pid == 0:
        for i in range(2000):
            log.info("line", worker=w, i=i, pad="x" * 200)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
"""


def test_two_processes_sharing_stderr_write_whole_lines(tmp_path: Path) -> None:
    out = tmp_path / "stderr.log"
    with out.open("wb") as err:
        subprocess.run([sys.executable, "-c", CHILD], stderr=err, check=True, timeout=120)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((x["worker"], x["i"]) for x in lines) == [
        (w, i) for w in range(2) for i in range(2000)
    ]
