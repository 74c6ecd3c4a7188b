"""The `pricing` CLI: quotes against the live server, offline policy validate and show."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from live_support import LiveServer

from pricing_service.cli.main import main
from pricing_service.policy.store import default_policies, default_policy_bytes

LVTANRONG_FLAGS = [
    "--product",
    "lvtanrong",
    "--borrower",
    "XJ-CJ-ALU-0001",
    "--rating",
    "AA",
    "--principal",
    "1000000.00",
    "--term",
    "12",
    "--repayment",
    "equal-installment",
    "--pricing-time",
    "2026-11-20T10:00:00+08:00",
    "--carbon-grade",
    "1",
    "--assessed-on",
    "2026-09-30",
    "--platform",
    "changji-carbon-account",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def default_policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_bytes(default_policy_bytes())
    return path


# -- pricing quote ---------------------------------------------------------------------


def test_quote_flags_print_the_breakdown(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "quote", "--target", live_server.target, *LVTANRONG_FLAGS, "--request-id", "cli-1"
    )
    assert (code, err) == (0, "")
    for expected in [
        "annual rate 执行利率",
        "1.30 %",
        "3.30 %",
        "200 bp; first year 10,909.35 CNY",
        "1,000,000.00 CNY",
        "83,921.30 CNY",  # first 等额本息 payment
        "2026-11-20 10:00:00+08:00",
        "2026.1-default sha256:" + default_policies().versions[0].digest,
        "audit position",
    ]:
        assert expected in out, expected
    for code_name, reason_zh in [
        ("BASE_RATE", "1Y LPR，2025-05-20 09:00（北京时间）公布"),
        ("STANDARD_SPREAD", "信用评级 AA 的标准加点"),
        ("ORDINARY_RATE", "普通贷款利率"),
        ("CARBON_GRADE", "碳账户等级 1 级"),
        ("CARBON_ADJUSTMENT", "绿碳融"),
        ("ROUNDING", "银行家舍入"),
        ("CONCESSION", "较普通贷款利率的优惠"),
    ]:
        assert code_name in out
        assert reason_zh in out
    assert "standard spread for credit rating AA" in out


def test_quote_json_output_is_the_protobuf_json_response(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "quote", "--target", live_server.target, *LVTANRONG_FLAGS, "--json")
    assert code == 0
    quote = json.loads(out)["quote"]
    assert (quote["annualRate"], quote["ordinaryRate"], quote["concessionBp"]) == (
        "1.30",
        "3.30",
        "200",
    )
    assert quote["principalFen"] == "100000000"  # int64 as a string, exact
    assert quote["firstYearConcessionFen"] == "1090935"
    assert quote["carbon"] == {"grade": 1, "source": "given"}
    assert quote["repayment"]["method"] == "REPAYMENT_METHOD_EQUAL_INSTALLMENT"


def test_quote_request_file_with_flags_overriding_fields(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A mine-score request in the JSON mapping (proto field names are accepted too).
    request = {
        "productId": "mine_score",
        "borrower_id": "XJ-CJ-MINE-07",
        "creditRating": "BBB",
        "principalFen": "2000000000",
        "termMonths": 24,
        "repaymentMethod": "REPAYMENT_METHOD_EQUAL_PRINCIPAL",
        "pricingTime": "2026-11-20T02:00:00Z",
        "mineScore": {
            "score": "90.0",
            "constructionClass": 1,
            "mandatoryIndicatorsPassed": True,
            "acceptedOn": "2026-06-30",
        },
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    # --rating A overrides BBB: 3.00 + 60 + 10 (<= 36 m) = 3.70; anchor 90.0: -150 bp.
    code, out, err = run(
        capsys,
        "quote",
        "--target",
        live_server.target,
        "--request",
        str(path),
        "--rating",
        "A",
        "--request-id",
        "cli-file-1",
        "--json",
    )
    assert (code, err) == (0, "")
    quote = json.loads(out)["quote"]
    assert (quote["annualRate"], quote["ordinaryRate"], quote["concessionBp"]) == (
        "2.20",
        "3.70",
        "150",
    )
    assert quote["requestId"] == "cli-file-1"
    assert quote["borrowerId"] == "XJ-CJ-MINE-07"


def test_quote_mine_mandatory_failed_flag_is_refused(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "quote",
        "--target",
        live_server.target,
        "--product",
        "mine_score",
        "--borrower",
        "M-1",
        "--rating",
        "A",
        "--principal",
        "100",
        "--term",
        "12",
        "--repayment",
        "interest-only",
        "--pricing-time",
        "2026-11-20T10:00:00+08:00",
        "--mine-score",
        "95",
        "--mine-class",
        "2",
        "--mine-accepted-on",
        "2026-06-30",
        "--mine-mandatory-failed",
    )
    assert (code, out) == (1, "")
    assert err.splitlines()[0].startswith("FAILED_PRECONDITION: MANDATORY_INDICATOR_FAILED")
    assert "  reason MANDATORY_INDICATOR_FAILED (pricing.ecoloan.example)" in err
    assert "    score = 95" in err


def test_quote_invalid_argument_prints_every_field_violation(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "quote",
        "--target",
        live_server.target,
        "--product",
        "lvtanrong",
        "--rating",
        "AA",
        "--principal",
        "0",
        "--term",
        "0",
    )
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0].startswith("INVALID_ARGUMENT: ")
    assert lines[1:] == [
        "  field borrower_id: required",
        "  field principal_fen: must be > 0",
        "  field term_months: must be 1 to 360",
        "  field repayment_method: unknown or unspecified value 0",
        "  field carbon_grade: product lvtanrong needs carbon_grade or carbon_emissions",
    ]


def test_quote_unknown_product_prints_not_found(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = [f if f != "lvtanrong" else "green-bond" for f in LVTANRONG_FLAGS]
    code, _, err = run(capsys, "quote", "--target", live_server.target, *flags)
    assert code == 1
    assert "NOT_FOUND: product 'green-bond' is not offered by the policy in force" in err
    assert "  resource product 'green-bond'" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--principal", "1000000.001"], "--principal: at most 2 decimals (fen) allowed"),
        (["--fee", "abc"], "--fee: not a decimal number: 'abc'"),
        (["--pricing-time", "2026-11-20 10:00"], "--pricing-time: not an RFC 3339 timestamp"),
        (["--request", "/nonexistent/request.json"], "--request: cannot read"),
        (["--platform", "p"], "--platform needs carbon-grade or emissions evidence"),
    ],
)
def test_quote_usage_errors_exit_2_without_calling_the_server(
    capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    # Port 1 on loopback: nothing listens, so reaching the server would fail differently.
    code, out, err = run(capsys, "quote", "--target", "127.0.0.1:1", *flags)
    assert (code, out) == (2, "")
    assert err.startswith("pricing quote: error: ")
    assert message in err


def test_unknown_flag_and_missing_command_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "quote", "--no-such-flag")[0] == 2
    assert run(capsys)[0] == 2
    assert run(capsys, "--help")[0] == 0


def test_unreachable_server_is_unavailable_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "products", "--target", "127.0.0.1:1", "--timeout", "1", "--attempts", "1"
    )
    assert code == 1
    assert err.startswith("UNAVAILABLE: ")


def test_console_script_prints_json(live_server: LiveServer) -> None:
    exe = shutil.which("pricing", path=str(Path(sys.executable).parent))
    assert exe is not None
    done = subprocess.run(
        [exe, "quote", "--target", live_server.target, *LVTANRONG_FLAGS, "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["quote"]["annualRate"] == "1.30"


# -- products, policy describe ------------------------------------------------------------


def test_products_lists_each_product(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "products", "--target", live_server.target)
    assert code == 0
    for text in ["standard", "lvtanrong", "绿碳融", "mine_score", "transition", "2026.1-default"]:
        assert text in out
    code, out, _ = run(capsys, "products", "--target", live_server.target, "--json")
    assert [p["productId"] for p in json.loads(out)["products"]] == [
        "standard",
        "lvtanrong",
        "mine_score",
        "transition",
    ]


def test_policy_describe_as_of(live_server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "policy",
        "describe",
        "--target",
        live_server.target,
        "--as-of",
        "2024-07-22T09:00:00+08:00",
        "--json",
    )
    assert code == 0
    described = json.loads(out)
    assert [(f["tenor"], f["rate"]) for f in described["fixingsInForce"]] == [
        ("TENOR_1Y", "3.35"),
        ("TENOR_5Y_PLUS", "3.85"),
    ]
    # The canonical document as JSON, not base64.
    canonical = default_policies().canonical(described["policyDigest"])
    assert described["policyDocument"] == json.loads(canonical)
    code, out, _ = run(capsys, "policy", "describe", "--target", live_server.target)
    assert code == 0
    assert "LPR 1Y in force" in out
    assert "3.00 %" in out


def test_policy_describe_document_prints_the_canonical_bytes_a_draft_can_be_made_of(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "policy", "describe", "--target", live_server.target, "--document")
    assert code == 0
    policy = default_policies().versions[0]
    assert out.encode() == default_policies().canonical(policy.digest)
    assert hashlib.sha256(out.encode()).hexdigest() == policy.digest
    live = tmp_path / "live.json"
    live.write_bytes(out.encode())
    code, out, _ = run(capsys, "policy", "validate", str(live))
    assert (code, out.split()[-1]) == (0, f"sha256:{policy.digest}")


# -- offline: policy validate, policy show -------------------------------------------------


def test_policy_validate_the_shipped_default(
    capsys: pytest.CaptureFixture[str], default_policy_file: Path
) -> None:
    code, out, _ = run(capsys, "policy", "validate", str(default_policy_file))
    digest = default_policies().versions[0].digest
    assert code == 0
    assert out.split() == ["ok", "2026.1-default", "effective", "2019-08-20", f"sha256:{digest}"]


def test_policy_validate_lists_every_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = (
        default_policy_bytes()
        .decode()
        .replace('AA = "30"', 'AA = "thirty"')
        .replace('floor = "0.80"', 'floor = "9.00"')
        .replace('["80.0", "-80"]', '["80.0", "80"]')
    )
    path = tmp_path / "broken.toml"
    path.write_text(broken)
    missing = tmp_path / "missing.toml"
    code, out, _ = run(capsys, "policy", "validate", str(path), str(missing))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "4 problem(s):"
    problems = [line.removeprefix("  - ") for line in lines[1:]]
    assert len(problems) == 4
    assert problems[0].startswith(f"{path}: spreads.AA: ")
    assert "'thirty'" in problems[0]
    assert problems[1].startswith(f"{path}: bounds: ")
    assert "9.00" in problems[1]
    assert problems[2].startswith(f"{path}: products.mine_score.anchors: ")
    assert problems[3].startswith(f"{missing}: ")


def test_policy_show_summarises_the_document(
    capsys: pytest.CaptureFixture[str], default_policy_file: Path
) -> None:
    code, out, _ = run(capsys, "policy", "show", str(default_policy_file))
    assert code == 0
    for text in [
        "Policy 2026.1-default",
        "sha256:" + default_policies().versions[0].digest,
        "effective from          2019-08-20",
        "15 (first 2019-08-20, latest 2025-05-20 09:00:00+08:00: 1Y 3.00 %, 5Y+ 3.50 %)",
        "floor 0.80 %, cap 8.00 %",
        "1 bp half_even",
        "valid 72 h; term 1-360 months",
        "≤ 365 days",
        "grade 1: -200 bp",
        "grade 3: -200 bp",
        "other grades refused",
        "min score 60.0",
        "90.0→-150",
        "coal cut ≥ 10 %: -60 bp",
        "electrolytic_aluminium",
        "9.1132",
    ]:
        assert text in out, text
    spreads = {
        line.split()[0]: line.split()[1]
        for line in out.splitlines()
        if line.split()[:1] in (["AAA"], ["AA"], ["A"], ["BBB"], ["BB"], ["B"])
    }
    assert spreads == {"AAA": "0", "AA": "30", "A": "60", "BBB": "100", "BB": "160", "B": "250"}


def test_policy_show_and_validate_a_product_priced_off_the_lpr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = 'name_en = "Carbon-account loan (Lü Tan Rong)"'
    text = default_policy_bytes().decode()
    path = tmp_path / "lpr.toml"
    path.write_text(text.replace(name, f'{name}\nreference = "base"'), encoding="utf-8")
    code, out, _ = run(capsys, "policy", "show", str(path))
    assert code == 0
    assert "off the LPR (reference base)" in out
    assert "no rating or term spread" in out
    assert out.count("reference base") == 1  # the other products keep the ordinary rate
    path.write_text(text.replace(name, f'{name}\nreference = "LPR"'), encoding="utf-8")
    code, out, err = run(capsys, "policy", "validate", str(path))
    assert code == 1
    assert (
        "products.lvtanrong.reference: unknown reference 'LPR'; one of ordinary, base" in out + err
    )


def test_policy_show_of_an_invalid_file_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("schema = 1\n")
    code, out, err = run(capsys, "policy", "show", str(path))
    assert (code, out) == (1, "")
    assert "problem(s):" in err


# -- the process around the CLI -----------------------------------------------------------


def test_main_leaves_the_callers_sigpipe_alone(
    capsys: pytest.CaptureFixture[str], default_policy_file: Path
) -> None:
    # A CI run died of SIGPIPE: main() had set SIG_DFL in pytest's process, and a test
    # that kills a simulation worker then wrote to the worker's dead pipe.
    before = signal.getsignal(signal.SIGPIPE)
    assert run(capsys, "policy", "validate", str(default_policy_file))[0] == 0
    assert signal.getsignal(signal.SIGPIPE) == before == signal.SIG_IGN


def test_the_pricing_command_restores_sigpipes_default() -> None:
    # `pricing ... | head` ends quietly, as Unix tools do: entry() sets SIG_DFL first.
    probe = (
        "import signal\n"
        "from pricing_service.cli import main as cli\n"
        "cli.main = lambda: print(signal.getsignal(signal.SIGPIPE) is signal.SIG_DFL) or 0\n"
        "cli.entry()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "True\n", "")
