"""`pricing simulate` from the command line: files written, exact figures, bad rows, diff,
the live policy fetched from a real server."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from live_support import LiveServer

from pricing_service.cli.main import main
from pricing_service.policy.store import default_policies, default_policy_bytes, load_policy_bytes

BOOK = """\
loan_id,borrower_id,product_id,credit_rating,industry,principal_fen,term_months,repayment,carbon_grade,carbon_assessed_on
L1,B1,standard,AA,power,100000000,12,interest_only_bullet,,
L2,B2,lvtanrong,AA,chemicals,100000000,12,interest_only_bullet,2,2026-06-01
L3,B3,lvtanrong,BBB,coking,200000000,24,interest_only_bullet,3,2026-06-01
L4,B4,lvtanrong,AA,other,100000000,12,interest_only_bullet,5,2026-06-01
L5,B5,standard,AA,power,abc,12,interest_only_bullet,,
"""
AS_OF = "2026-11-20"


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "book.csv"
    path.write_text(BOOK, encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _draft(tmp_path: Path, grade_three_bp: str) -> Path:
    text = default_policy_bytes().decode()
    text = text.replace('version = "2026.1-default"', 'version = "2026.2-draft"')
    text = text.replace('3 = "-200"', f'3 = "{grade_three_bp}"')
    path = tmp_path / "draft.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_simulate_writes_loans_summary_and_report(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["simulate", str(book), "--as-of", AS_OF, "--out", str(out)]) == 0
    loans = _rows(out / "loans.csv")
    assert [(r["loan_id"], r["status"], r["rate"], r["concession_bp"]) for r in loans] == [
        ("L1", "PRICED", "3.30", "0"),
        ("L2", "PRICED", "1.30", "200"),
        ("L3", "PRICED", "2.10", "200"),
        ("L4", "CARBON_GRADE_INELIGIBLE", "", ""),
    ]
    assert [r["first_year_concession_fen"] for r in loans[:3]] == ["0", "2000000", "4000000"]
    overall = json.loads((out / "summary.json").read_text())["overall"]
    assert overall["loans"] == 4
    assert overall["priced"] == 3
    assert overall["first_year_concession_fen"] == 6_000_000
    assert overall["weighted_avg_rate_percent"] == "2.2000"  # (3.30 + 1.30 + 2 x 2.10) / 4
    assert _rows(out / "bad_rows.csv") == [
        {
            "row": "6",
            "field": "principal_fen",
            "problem": "must be an integer like 120 (ASCII digits, no separators), got 'abc'",
        }
    ]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "仅供参考，非约束性报价" in html
    charts = sorted(p.name for p in (out / "charts").iterdir())
    assert charts == [
        "01-quoted-rates.png",
        "02-concession-by-carbon-grade.png",
        "03-concession-by-mine-score-band.png",
        "04-score-curve-of-mine-score.png",
    ]
    assert (out / "charts" / charts[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in html
    printed = capsys.readouterr().out
    assert "1 bad row skipped" in printed
    assert "60,000.00" in printed  # the first-year concession in CNY


def test_run_is_the_default_action(book: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["simulate", str(book), "--as-of", AS_OF, "--out", str(a)]) == 0
    assert main(["simulate", "run", str(book), "--as-of", AS_OF, "--out", str(b)]) == 0
    assert (a / "loans.csv").read_bytes() == (b / "loans.csv").read_bytes()
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()


def test_strict_stops_at_the_first_bad_row(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulate", str(book), "--strict", "--as-of", AS_OF, "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "row 6" in err
    assert "principal_fen" in err
    assert not (tmp_path / "loans.csv").exists()


def test_diff_of_a_policy_against_itself_is_empty(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["simulate", "diff", str(book), "--base", "default", "--draft", "default"]
    assert main([*argv, "--as-of", AS_OF, "--out", str(out)]) == 0
    assert _rows(out / "changes.csv") == []
    overall = json.loads((out / "diff.json").read_text())["overall"]
    assert overall["changed"] == 0
    assert overall["first_year_delta_fen"] == 0


def test_diff_shows_exactly_the_loans_a_draft_moves(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    draft = _draft(tmp_path, "-150")
    argv = ["simulate", "diff", str(book), "--draft", str(draft), "--as-of", AS_OF]
    assert main([*argv, "--out", str(out)]) == 0
    (change,) = _rows(out / "changes.csv")
    assert change == {
        "loan_id": "L3",
        "product_id": "lvtanrong",
        "base_status": "PRICED",
        "draft_status": "PRICED",
        "base_rate_percent": "2.10",
        "draft_rate_percent": "2.60",
        "rate_delta_bp": "50",
        "concession_delta_bp": "-50",
        "first_year_delta_fen": "-1000000",  # 2,000,000 CNY x 0.50%
    }


def test_policy_live_prices_under_the_server_policy(
    book: Path, tmp_path: Path, live_server: LiveServer
) -> None:
    live, default = tmp_path / "live", tmp_path / "default"
    argv = ["simulate", str(book), "--as-of", AS_OF]
    live_argv = [*argv, "--policy", "live", "--target", live_server.target]
    assert main([*live_argv, "--out", str(live)]) == 0
    assert main([*argv, "--out", str(default)]) == 0
    assert (live / "loans.csv").read_bytes() == (default / "loans.csv").read_bytes()


def test_a_broken_draft_is_a_usage_error_listing_problems(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "draft.toml"
    draft.write_text(default_policy_bytes().decode().replace('AA = "30"', 'AA = "x"'))
    argv = ["simulate", "diff", str(book), "--draft", str(draft), "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "spreads.AA" in capsys.readouterr().err


IDENTITY = """\
[grade_transition]
matrix = [
  ["1", "0", "0", "0", "0"],
  ["0", "1", "0", "0", "0"],
  ["0", "0", "1", "0", "0"],
  ["0", "0", "0", "1", "0"],
  ["0", "0", "0", "0", "1"],
]

[score_drift]
distribution = "norm"
loc = "0"
scale = "0"
"""


def test_montecarlo_identity_migration_is_the_baseline(book: Path, tmp_path: Path) -> None:
    transitions = tmp_path / "identity.toml"
    transitions.write_text(IDENTITY, encoding="utf-8")
    out = tmp_path / "out"
    argv = ["simulate", "montecarlo", str(book), "--as-of", AS_OF, "--years", "3"]
    argv += ["--paths", "20", "--seed", "5", "--transitions", str(transitions)]
    assert main([*argv, "--out", str(out)]) == 0
    life = json.loads((out / "montecarlo.json").read_text())["lifetime_concession"]
    # L2 (12 months, 2% on 1,000,000 CNY) then L3 (24 months, 2% on 2,000,000 CNY) twice.
    assert life["expected_cny"] == "100000.00"
    assert life["baseline_cny"] == "100000.00"
    paths = _rows(out / "paths.csv")
    assert len(paths) == 60
    assert {(r["year"], r["concession_fen"]) for r in paths} == {
        ("1", "6000000"),
        ("2", "4000000"),
        ("3", "0"),
    }


def test_montecarlo_is_reproducible_by_seed(book: Path, tmp_path: Path) -> None:
    argv = ["simulate", "montecarlo", str(book), "--as-of", AS_OF, "--paths", "30"]
    assert main([*argv, "--seed", "9", "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--seed", "9", "--out", str(tmp_path / "b")]) == 0
    a = (tmp_path / "a" / "montecarlo.json").read_bytes()
    assert a == (tmp_path / "b" / "montecarlo.json").read_bytes()
    assert (tmp_path / "a" / "paths.csv").read_bytes() == (
        tmp_path / "b" / "paths.csv"
    ).read_bytes()


def test_calibrate_meets_the_budget_within_one_step(book: Path, tmp_path: Path) -> None:
    # Cost = 3,000,000 CNY of 12-month interest x the concession: 167 bp costs 50,100 CNY,
    # over a 50,000 budget; an adjustment of -166.50 bp rounds both rates (163.50 -> 164,
    # 243.50 -> 244, half-even) to a 166 bp concession: 49,800 CNY. -166.51 rounds to 167.
    out = tmp_path / "out"
    argv = ["simulate", "calibrate", str(book), "--as-of", AS_OF, "--target-cost", "50000"]
    argv += ["--param", "products.lvtanrong.grade_adjust_bp", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "calibration.json").read_text())
    assert result["value"] == "-166.50"
    assert result["cost_fen"] == 4_980_000
    assert result["next_value"] == "-166.51"
    assert result["next_cost_fen"] == 5_010_000
    evaluated = dict(result["evaluated"])
    assert (evaluated["-166.50"], evaluated["-166.51"]) == (4_980_000, 5_010_000)
    # README: calibrate writes charts/ like every other command, here the solver's search.
    charts = sorted(p.name for p in (out / "charts").iterdir())
    assert charts == ["01-first-year-cost-against-the-parameter.png"]
    assert (out / "charts" / charts[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "First-year cost against the parameter" in (out / "report.html").read_text()
    draft = tmp_path / "draft-out"
    argv = ["simulate", str(book), "--policy", str(out / "calibrated-policy.toml")]
    assert main([*argv, "--as-of", AS_OF, "--out", str(draft)]) == 0
    overall = json.loads((draft / "summary.json").read_text())["overall"]
    assert overall["first_year_concession_fen"] == 4_980_000


# --- review fixes: what a product manager sees -------------------------------------------


def test_bad_rows_are_listed_on_stderr_even_with_json(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", str(book), "--as-of", AS_OF, "--json", "--out", str(tmp_path / "o")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["overall"]["loans"] == 4  # stdout stays pure JSON
    assert "row 6, principal_fen: must be an integer" in captured.err
    assert "1 bad row skipped" in captured.err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "no loans in the file"),
        ("L5,B5,standard,AA,power,abc,12,interest_only_bullet,,\n", "row 2, principal_fen"),
    ],
    ids=["header-only", "only-bad-rows"],
)
def test_a_portfolio_without_a_loan_to_price_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, expected: str
) -> None:
    path = tmp_path / "book.csv"
    path.write_text(BOOK.splitlines(keepends=True)[0] + body, encoding="utf-8")
    for command in (["simulate"], ["simulate", "montecarlo", "--paths", "2"]):
        argv = [*command, str(path), "--as-of", AS_OF, "--out", str(tmp_path / "o")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "no loan to price" in err
        assert expected in err
    assert not (tmp_path / "o" / "summary.json").exists()


def test_reusing_an_output_directory_leaves_no_stale_files(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    draft = _draft(tmp_path, "-150")
    assert main(["simulate", str(book), "--as-of", AS_OF, "--out", str(out)]) == 0
    assert (out / "bad_rows.csv").exists()
    argv = ["simulate", "diff", str(book), "--draft", str(draft), "--as-of", AS_OF]
    assert main([*argv, "--out", str(out)]) == 0
    clean = tmp_path / "clean.csv"
    clean.write_text("".join(BOOK.splitlines(keepends=True)[:5]), encoding="utf-8")
    argv = ["simulate", str(clean), "--as-of", AS_OF, "--out", str(out)]
    assert main([*argv, "--format", "parquet"]) == 0
    assert main(argv) == 0
    capsys.readouterr()
    # No bad_rows.csv from the first file, no diff chart, no loans.parquet of the run before.
    assert not (out / "bad_rows.csv").exists()
    assert not (out / "loans.parquet").exists()
    assert sorted(p.name for p in (out / "charts").iterdir()) == [
        "01-quoted-rates.png",
        "02-concession-by-carbon-grade.png",
        "03-concession-by-mine-score-band.png",
        "04-score-curve-of-mine-score.png",
    ]


def test_diff_shows_no_rate_change_for_an_eligibility_flip(book: Path, tmp_path: Path) -> None:
    text = default_policy_bytes().decode().replace('3 = "-200"', '3 = "-200"\n5 = "-50"')
    draft = tmp_path / "draft.toml"
    draft.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    argv = ["simulate", "diff", str(book), "--draft", str(draft), "--as-of", AS_OF]
    assert main([*argv, "--out", str(out)]) == 0
    (change,) = _rows(out / "changes.csv")
    assert (change["loan_id"], change["base_status"], change["draft_rate_percent"]) == (
        "L4",
        "CARBON_GRADE_INELIGIBLE",
        "2.80",
    )
    # A flip has no rate change: empty cells, never a made-up 0.
    assert (change["rate_delta_bp"], change["concession_delta_bp"]) == ("", "")
    assert change["first_year_delta_fen"] == "500000"  # 1,000,000 CNY x 0.50%


def test_a_policy_directory_without_policy_files_says_so(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "policies"
    empty.mkdir()
    argv = ["simulate", str(book), "--policy", str(empty), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert f"policy {empty}: no *.toml policy file in the directory" in capsys.readouterr().err


def test_whatif_from_after_to_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "log" / "segments").mkdir(parents=True)
    argv = ["simulate", "whatif", str(tmp_path / "log"), "--draft", "default"]
    argv += ["--from", "2026-10-01", "--to", "2026-08-01", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "--from 2026-10-01 is after --to 2026-08-01" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-20", "2026-11-20T04:00:00+00:00"),
        ("2026-11-20t10:00:00z", "2026-11-20T10:00:00+00:00"),  # RFC 3339 allows t and z
        ("2026-11-20T10:00:00+08:00", "2026-11-20T02:00:00+00:00"),
    ],
)
def test_as_of_forms(text: str, instant: str) -> None:
    from pricing_service.cli.simulate import parse_as_of  # noqa: PLC0415

    assert parse_as_of(text).isoformat() == instant


@pytest.mark.parametrize("text", ["2026-W47-5", "2026-324", "20261120"])
def test_as_of_other_iso_forms_are_refused(text: str) -> None:
    from pricing_service.cli.simulate import SimulateUsageError, parse_as_of  # noqa: PLC0415

    with pytest.raises(SimulateUsageError, match="give YYYY-MM-DD or an RFC 3339 instant"):
        parse_as_of(text)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+08:00"])
def test_as_of_beyond_the_calendar_is_a_usage_error(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    # Beijing time of the first is in year 10000, UTC of the second in year 0: no traceback.
    assert main(["simulate", str(book), "--as-of", text, "--out", str(tmp_path / "o")]) == 2
    assert f"--as-of {text!r}: out of range" in capsys.readouterr().err


def test_run_is_the_default_action_with_options_first(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["simulate", "--as-of", AS_OF, str(book), "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["overall"]["loans"] == 4
    capsys.readouterr()
    assert main(["simulate", "--help"]) == 0  # still the help of `simulate` itself
    assert "ACTION" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["1e9", "-5", "12.345", "abc"])
def test_calibrate_refuses_a_target_that_is_not_a_plain_cny_amount(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    argv = ["simulate", "calibrate", str(book), "--target-cost", target]
    argv += ["--param", "products.lvtanrong.grade_adjust_bp", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert f"--target-cost {target!r}: a plain CNY amount" in capsys.readouterr().err


def test_calibrating_one_grade_past_its_neighbour_warns(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # L3 (grade 3) keeps its 40,000 CNY; L2 (grade 2, 1,000,000 CNY, 12 months interest-only)
    # gets the other 5,000 CNY: 50 bp. -50.50 bp rounds 279.50 to 280 (half-even): 1.30 -> 2.80,
    # a 50 bp concession; -50.51 would round to 279. Grade 2 then gets less than grade 3.
    out = tmp_path / "out"
    argv = ["simulate", "calibrate", str(book), "--as-of", AS_OF, "--target-cost", "45000"]
    argv += ["--param", "products.lvtanrong.grade_adjust_bp.2", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "calibration.json").read_text())
    assert (result["value"], result["cost_fen"]) == ("-50.50", 4_500_000)
    warning = (
        "lvtanrong: grade 2 gets -50.50 bp, less than grade 3's -200 bp: "
        "a better grade would be discounted less"
    )
    assert result["warnings"] == [warning]
    assert f"warning: {warning}" in capsys.readouterr().err
    assert "Warnings" in (out / "report.html").read_text(encoding="utf-8")


def _policy_with_simulation(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "policy-with-migration.toml"
    path.write_text(default_policy_bytes().decode() + "\n" + section, encoding="utf-8")
    return path


def test_montecarlo_takes_the_migration_model_from_the_policy(book: Path, tmp_path: Path) -> None:
    section = IDENTITY.replace("[grade_transition]", "[simulation.grade_transition]").replace(
        "[score_drift]", "[simulation.score_drift]"
    )
    policy = _policy_with_simulation(tmp_path, section)
    out = tmp_path / "out"
    argv = ["simulate", "montecarlo", str(book), "--policy", str(policy), "--as-of", AS_OF]
    assert main([*argv, "--years", "3", "--paths", "10", "--out", str(out)]) == 0
    life = json.loads((out / "montecarlo.json").read_text())["lifetime_concession"]
    assert life["expected_cny"] == life["baseline_cny"] == "100000.00"  # identity: no migration
    assert "[simulation] section" in (out / "report.html").read_text(encoding="utf-8")


def test_a_bad_migration_model_in_the_policy_is_a_usage_error(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    section = IDENTITY.replace("[grade_transition]", "[simulation.grade_transition]").replace(
        "[score_drift]", "[simulation.score_drift]"
    )
    section = section.replace('["1", "0", "0", "0", "0"]', '["0.9", "0", "0", "0", "0"]')
    policy = _policy_with_simulation(tmp_path, section)
    argv = ["simulate", "montecarlo", str(book), "--policy", str(policy), "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "simulation.grade_transition.matrix[0] (from grade 1): sums to 0.9" in err


def test_a_policy_with_a_simulation_section_prices_like_one_without(tmp_path: Path) -> None:
    section = IDENTITY.replace("[grade_transition]", "[simulation.grade_transition]").replace(
        "[score_drift]", "[simulation.score_drift]"
    )
    policy = _policy_with_simulation(tmp_path, section)
    loaded, _ = load_policy_bytes(policy.read_bytes())
    (default,) = default_policies().versions
    assert loaded.digest != default.digest  # content-addressed: the section is part of it
    assert loaded.spreads_bp == default.spreads_bp
    assert loaded.products == default.products


def _base_draft(tmp_path: Path) -> Path:
    """The default policy with 绿碳融 priced off the LPR ("LPR - 200 bp", no spreads)."""
    name = 'name_en = "Carbon-account loan (Lü Tan Rong)"'
    text = default_policy_bytes().decode()
    text = text.replace('version = "2026.1-default"', 'version = "2026.2-lpr"')
    text = text.replace(name, f'{name}\nreference = "base"')
    path = tmp_path / "lpr.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_run_diff_and_montecarlo_under_a_policy_priced_off_the_lpr(
    book: Path, tmp_path: Path
) -> None:
    # 1Y LPR 3.00 %: every eligible 绿碳融 loan is quoted 1.00 %. L2 (AA, 12 months) was
    # 1.30 % (ordinary 3.30 %), L3 (BBB, 24 months) 2.10 % (ordinary 4.10 %).
    draft = _base_draft(tmp_path)
    run = tmp_path / "run"
    argv = ["simulate", "run", str(book), "--policy", str(draft), "--as-of", AS_OF]
    assert main([*argv, "--out", str(run)]) == 0
    loans = _rows(run / "loans.csv")
    assert [(r["loan_id"], r["rate"], r["concession_bp"]) for r in loans[:3]] == [
        ("L1", "3.30", "0"),
        ("L2", "1.00", "230"),
        ("L3", "1.00", "310"),
    ]
    diff = tmp_path / "diff"
    argv = ["simulate", "diff", str(book), "--draft", str(draft), "--as-of", AS_OF]
    assert main([*argv, "--out", str(diff)]) == 0
    changes = _rows(diff / "changes.csv")
    assert [
        (c["loan_id"], c["rate_delta_bp"], c["concession_delta_bp"], c["first_year_delta_fen"])
        for c in changes
    ] == [("L2", "-30", "30", "300000"), ("L3", "-110", "110", "2200000")]
    transitions = tmp_path / "identity.toml"
    transitions.write_text(IDENTITY, encoding="utf-8")
    mc = tmp_path / "mc"
    argv = ["simulate", "montecarlo", str(book), "--policy", str(draft), "--as-of", AS_OF]
    argv += ["--years", "3", "--paths", "5", "--seed", "5", "--transitions", str(transitions)]
    assert main([*argv, "--out", str(mc)]) == 0
    life = json.loads((mc / "montecarlo.json").read_text())["lifetime_concession"]
    # L2: 230 bp on 1,000,000 CNY for a year; L3: 310 bp on 2,000,000 CNY for two.
    assert life["expected_cny"] == life["baseline_cny"] == "147000.00"
