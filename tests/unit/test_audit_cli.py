"""``pricing audit ...``: exit codes and output of the auditor's commands."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest
from audit_support import ORIGIN, quote_id, write_log

from pricing_service.cli.audit import add_audit_commands, main


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    """A closed log of 30 records."""
    write_log(tmp_path / "log", 30).close()
    return tmp_path / "log"


def test_add_audit_commands_wires_func_defaults_into_a_parser() -> None:
    parser = argparse.ArgumentParser(prog="pricing")
    add_audit_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["audit", "verify", "/x", "--public-key", "k"])
    assert args.func.__name__ == "_verify"
    replay = parser.parse_args(["audit", "replay", "/x", "--product", "lvtanrong"])
    assert (replay.func.__name__, replay.product) == ("_replay", "lvtanrong")


def test_keygen_writes_a_private_signer_and_a_public_verifier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "keygen", "--name", ORIGIN, "--out", str(tmp_path / "k")]) == 0
    skey, vkey = tmp_path / "k" / "audit.skey", tmp_path / "k" / "audit.vkey"
    assert stat.S_IMODE(skey.stat().st_mode) == 0o600
    assert skey.read_text().startswith(f"PRIVATE+KEY+{ORIGIN}+")
    assert vkey.read_text().startswith(f"{ORIGIN}+")
    assert str(vkey) in capsys.readouterr().out
    assert main(["audit", "keygen", "--name", ORIGIN, "--out", str(tmp_path / "k")]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


def test_verify_whole_log_exits_0(logdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", "verify", str(logdir), "--public-key", str(logdir / "audit.vkey")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"OK: {ORIGIN}: 30 records in 1 segment, 30 signed checkpoints")
    assert out.splitlines()[1] == "records by kind: quote 30"


def test_verify_tampered_log_exits_1_naming_the_record(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segment = logdir / "segments" / f"{0:020d}.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b'"r17"', b'"r71"'))
    code = main(
        ["audit", "verify", str(logdir), "--public-key", str(logdir / "audit.vkey"), "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["ok"] is False
    bad = report["first_bad_record"]
    assert (bad["segment"], bad["line"], bad["seq"]) == (segment.name, 18, 17)


def test_verify_progress_goes_to_stderr_when_forced(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["audit", "verify", str(logdir), "--public-key", str(logdir / "audit.vkey")]
    assert main([*args, "--progress"]) == 0
    captured = capsys.readouterr()
    assert "verifying: 100.0%" in captured.err
    assert "verifying" not in captured.out


def test_prove_then_verify_proof_with_only_the_public_key(
    logdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proof = tmp_path / "proof.json"
    assert main(["audit", "prove", str(logdir), quote_id(12), "--out", str(proof)]) == 0
    assert "leaf index: 12" in capsys.readouterr().out
    vkey = str(logdir / "audit.vkey")
    assert main(["audit", "verify-proof", str(proof), "--public-key", vkey]) == 0
    assert capsys.readouterr().out == (
        f"OK: quote {quote_id(12)} is record 12 of {ORIGIN}, in its signed tree of 30 records\n"
    )
    doc = json.loads(proof.read_text())
    doc["record"] = doc["record"].replace('"3.45"', '"1.45"')
    proof.write_text(json.dumps(doc))
    assert main(["audit", "verify-proof", str(proof), "--public-key", vkey]) == 1
    assert capsys.readouterr().out.startswith("FAILED: ")


def test_prove_json_prints_the_proof_document(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "prove", str(logdir), "--seq", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["format"], doc["kind"], doc["leaf_index"], doc["tree_size"]) == (
        "ecoloan-audit-proof/v1",
        "inclusion",
        4,
        30,
    )
    assert main(["audit", "prove", str(logdir), "q_missing"]) == 1
    assert "no quote 'q_missing'" in capsys.readouterr().err


def test_consistency_between_two_checkpoints(
    logdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = logdir / "checkpoints" / f"{7:020d}.note"
    proof = tmp_path / "c.json"
    args = ["audit", "consistency", str(logdir), str(old), str(logdir / "checkpoint.latest")]
    assert main([*args, "--out", str(proof)]) == 0
    assert "old size:  7" in capsys.readouterr().out
    vkey = str(logdir / "audit.vkey")
    assert main(["audit", "verify-proof", str(proof), "--public-key", vkey, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "consistency"


def _verify_with(logdir: Path, *kept: Path) -> list[str]:
    args = ["audit", "verify", str(logdir), "--public-key", str(logdir / "audit.vkey"), "--json"]
    for path in kept:
        args += ["--checkpoint", str(path)]
    return [str(a) for a in args]


def test_verify_accepts_a_proof_file_and_a_jq_cut_checkpoint_as_kept_checkpoints(
    logdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # README "For auditors": `--checkpoint FILE`, e.g. from proofs — the proof file itself,
    # or `jq -r .checkpoint proof.json > kept.note` (which appends a newline).
    proof = tmp_path / "proof.json"
    assert main(["audit", "prove", str(logdir), "--seq", "3", "--out", str(proof)]) == 0
    cut = tmp_path / "kept.note"
    cut.write_text(json.loads(proof.read_text())["checkpoint"] + "\n")
    consistency = tmp_path / "c.json"
    old = logdir / "checkpoints" / f"{7:020d}.note"
    latest = logdir / "checkpoint.latest"
    args = ["audit", "consistency", str(logdir), str(old), str(latest), "--out", str(consistency)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(_verify_with(logdir, proof, cut, consistency)) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["checkpoint_problems"], report["checkpoints"]) == (True, [], 30)


def test_verify_names_a_kept_file_that_is_neither_note_nor_proof(
    logdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else"}')
    assert main(_verify_with(logdir, other)) == 1
    problems = json.loads(capsys.readouterr().out)["checkpoint_problems"]
    assert problems == [
        {
            "segment": None,
            "line": None,
            "seq": None,
            "checkpoint": str(other),
            "message": "is neither a signed checkpoint note nor a proof file: "
            f"{other} is not a ecoloan-audit-proof/v1 document",
        }
    ]


def test_a_kept_checkpoint_of_the_rolled_back_part_fails_verify_from_a_proof_file(
    logdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proof = tmp_path / "proof.json"
    assert main(["audit", "prove", str(logdir), "--seq", "29", "--out", str(proof)]) == 0
    # Roll back to 20 records, own checkpoints included: only the kept proof can tell.
    segment = logdir / "segments" / f"{0:020d}.jsonl"
    segment.write_bytes(b"".join(segment.read_bytes().splitlines(keepends=True)[:20]))
    for n in range(21, 31):
        (logdir / "checkpoints" / f"{n:020d}.note").unlink()
    (logdir / "checkpoint.latest").write_bytes(
        (logdir / "checkpoints" / f"{20:020d}.note").read_bytes()
    )
    (logdir / "checkpoint.slots").unlink()  # the attestation slots hold 29 and 30
    sidecar = logdir / "leafhashes.bin"
    sidecar.write_bytes(sidecar.read_bytes()[: 20 * 32])
    capsys.readouterr()
    assert main(_verify_with(logdir)) == 0
    capsys.readouterr()
    assert main(_verify_with(logdir, proof)) == 1
    bad = json.loads(capsys.readouterr().out)["first_bad_record"]
    assert bad["seq"] == 20
    assert "signed 30: records 20..29 are missing" in bad["message"]


def test_prove_against_the_checkpoint_inside_an_earlier_proof(
    logdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.json"
    assert main(["audit", "prove", str(logdir), "--seq", "2", "--out", str(first)]) == 0
    again = ["audit", "prove", str(logdir), "--seq", "5", "--checkpoint", str(first), "--json"]
    capsys.readouterr()
    assert main(again) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["leaf_index"], doc["tree_size"]) == (5, 30)
    assert doc["checkpoint"] == json.loads(first.read_text())["checkpoint"]
