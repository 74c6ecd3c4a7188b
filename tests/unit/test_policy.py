"""Policy documents: strict validation (all problems at once), canonical digest,
TOML/JSON round trip, effective dating."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pricing_builders import (
    default_text,
    edited,
    given_grade,
    make_request,
    policy_from_text,
    variant,
)

from pricing_service.domain.curve import ScoreCurve
from pricing_service.domain.engine import price
from pricing_service.domain.errors import NoPolicyInForceError, PolicyError
from pricing_service.domain.lpr import FixingTable
from pricing_service.domain.policy import Policy
from pricing_service.policy.document import canonical_bytes, digest_of, parse_document
from pricing_service.policy.store import (
    PolicySet,
    default_policies,
    default_policy_bytes,
    load_paths,
    load_policy_bytes,
)


def problems_of(text: str) -> tuple[str, ...]:
    with pytest.raises(PolicyError) as info:
        policy_from_text(text)
    return info.value.problems


def apply(*edits: tuple[str, str]) -> str:
    text = default_text()
    for old, new in edits:
        text = edited(text, old, new)
    return text


# --- the shipped default ---------------------------------------------------------------------


def test_default_policy_loads_with_its_seed_products(policy: Policy) -> None:
    assert policy.version == "2026.1-default"
    assert policy.effective_from == date(2019, 8, 20)
    assert sorted(policy.products) == ["lvtanrong", "mine_score", "standard", "transition"]
    assert policy.products["lvtanrong"].grade_adjust_bp == {
        1: Decimal(-200),
        2: Decimal(-200),
        3: Decimal(-200),
    }
    assert (policy.floor_bp, policy.cap_bp) == (Decimal(80), Decimal(800))
    assert policy.grade_k_upper == tuple(Decimal(k) for k in ("0.6", "0.8", "1.2", "2.0"))


def test_default_policy_digest_is_sha256_of_its_canonical_json(policy: Policy) -> None:
    canonical = default_policies().canonical(policy.digest)
    assert digest_of(canonical) == policy.digest
    assert len(policy.digest) == 64
    doc = json.loads(canonical)
    assert doc["base_rate"]["fixings"][0] == {
        "published_at": "2019-08-20T09:30:00+08:00",
        "lpr_1y": "4.25",
        "lpr_5y": "4.85",
    }


def test_default_policy_digest_is_unchanged(policy: Policy) -> None:
    # Stricter validation must not move the canonical form or digest of a valid policy.
    assert policy.digest == "bd4d27e1ca10fb56b025dffcea01ceed697cdfb622b9f05f68b7c3c4b3f03371"
    assert digest_of(canonical_bytes(parse_document(default_policy_bytes()))) == policy.digest


def test_a_policy_rebuilt_from_its_canonical_document_equals_the_original() -> None:
    original, canonical = load_policy_bytes(default_policy_bytes())
    rebuilt, canonical_again = load_policy_bytes(canonical)
    assert canonical_again == canonical
    assert rebuilt == original
    assert rebuilt.fixings == original.fixings
    assert hash(rebuilt.fixings) == hash(original.fixings)
    curve, curve_again = (p.products["mine_score"].curve for p in (original, rebuilt))
    assert curve is not None
    assert curve == curve_again
    assert hash(curve) == hash(curve_again)
    assert rebuilt != variant(('AA = "30"', 'AA = "31"'))


def test_fixing_tables_and_curves_compare_by_value() -> None:
    one = policy_from_text(default_text())
    other = variant(('lpr_1y = "3.00"', 'lpr_1y = "3.01"'), ('["80.0", "-80"]', '["80.0", "-81"]'))
    assert one.fixings != other.fixings
    assert one.products["mine_score"].curve != other.products["mine_score"].curve
    assert one.fixings != one.fixings.fixings  # not equal to a plain tuple of the same fixings
    # Fixings given in another order are the same table (it sorts them).
    assert FixingTable(list(reversed(one.fixings.fixings))) == one.fixings
    curve = one.products["mine_score"].curve
    assert curve is not None
    assert ScoreCurve(curve.anchors) == curve
    assert len({curve, ScoreCurve(curve.anchors)}) == 1


# --- validation ------------------------------------------------------------------------------


def test_validation_lists_every_problem_at_once() -> None:
    text = apply(
        ('version = "2026.1-default"\n', ""),
        ('lpr_1y = "4.25"', "lpr_1y = 4.25"),
        ('mode = "half_even"', 'mode = "bankers"'),
        ('cap = "8.00"', 'cap = "0.50"'),
        ('["70.0", "-30"]', '["70.0", "30"]'),
        ("[carbon.industries.coking]", "[carbon.industries.cokes]"),
        ('grade_k_upper = ["0.6", "0.8"', 'grade_k_upper = ["0.8", "0.6"'),
        ("validity_hours = 72", "validity_hours = 0"),
    )
    problems = problems_of(text)
    expected = [
        "version: missing",
        'base_rate.fixings[0].lpr_1y: must be a decimal string like "4.25", not a float',
        "rounding.mode: must be one of half_even, half_up, got 'bankers'",
        "bounds: need 0 <= floor < cap, got floor 0.80 and cap 0.50",
        "products.mine_score.anchors: a higher score must never price higher (bp non-increasing)",
        "carbon.industries.cokes: unknown industry; one of power, electrolytic_aluminium, "
        "chemicals, petrochemicals, coking, other",
        "carbon.industries.coking: missing benchmark",
        "carbon.grade_k_upper: needs four increasing positive K bounds (grades 1-4)",
        "quote.validity_hours: must be > 0",
    ]
    for p in expected:
        assert p in problems
    assert len(problems) == len(expected)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('floor = "0.80"', "floor = 0.80", 'bounds.floor: must be a decimal string like "0.8"'),
        ('AA = "30"', "AA = 30.0", 'spreads.AA: must be a decimal string like "30.0"'),
        (
            'benchmark = "0.877"',
            "benchmark = 0.877",
            'carbon.industries.power.benchmark: must be a decimal string like "0.877"',
        ),
        (
            '["80.0", "-80"]',
            '[80.0, "-80"]',
            'products.mine_score.anchors[2][0]: must be a decimal string like "80.0"',
        ),
        ('step_bp = "1"', "step_bp = 1.0", 'rounding.step_bp: must be a decimal string like "1.0"'),
    ],
)
def test_binary_floats_are_refused_wherever_a_decimal_is_expected(
    old: str, new: str, problem: str
) -> None:
    assert problems_of(apply((old, new))) == (f"{problem}, not a float",)


def test_floats_are_refused_in_the_canonical_json_form_too(policy: Policy) -> None:
    doc = json.loads(default_policies().canonical(policy.digest))
    doc["bounds"]["cap"] = 8.0
    with pytest.raises(PolicyError) as info:
        load_policy_bytes(json.dumps(doc).encode())
    assert info.value.problems == ('bounds.cap: must be a decimal string like "8.0", not a float',)


def test_fixing_without_a_utc_offset_is_refused() -> None:
    problems = problems_of(apply(("2019-08-20T09:30:00+08:00", "2019-08-20T09:30:00")))
    assert problems == (
        "base_rate.fixings[0].published_at: must be an instant with a UTC offset, "
        "e.g. 2024-07-22T09:00:00+08:00",
    )


def test_two_fixings_at_the_same_instant_are_refused() -> None:
    problems = problems_of(apply(("2019-09-20T09:30:00+08:00", "2019-08-20T09:30:00+08:00")))
    assert problems == ("base_rate.fixings: two fixings published at 2019-08-20T09:30:00+08:00",)


def test_invalid_toml_is_one_problem() -> None:
    problems = problems_of("schema = \nversion")
    assert len(problems) == 1
    assert problems[0].startswith("not valid TOML:")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # Rounding after the floor binds would fall below it: 102 bp -> 100 bp.
        ('floor = "0.80"', 'floor = "1.02"'),
        ('cap = "8.00"', 'cap = "7.99"'),
    ],
)
def test_bounds_that_are_not_multiples_of_the_rounding_step_are_refused(old: str, new: str) -> None:
    problems = problems_of(apply((old, new), ('step_bp = "1"', 'step_bp = "5"')))
    assert len(problems) == 1
    assert "multiple of rounding.step_bp" in problems[0]


def test_rounded_rate_never_crosses_a_bound_on_the_rounding_grid() -> None:
    p = variant(('floor = "0.80"', 'floor = "1.05"'), ('step_bp = "1"', 'step_bp = "5"'))
    req = make_request(product_id="lvtanrong", carbon_grade=given_grade(1), credit_rating="AAA")
    quote = price(req, p)  # raw 100 bp: the floor binds
    assert quote.rate_bp == Decimal(105)
    assert quote.floor_binding


def test_negative_evidence_age_limit_is_refused() -> None:
    problems = problems_of(apply(("max_age_days = 365", "max_age_days = -1")))
    assert problems == ("evidence.max_age_days: must be >= 0",)


def test_a_toml_local_time_in_an_extra_key_is_reported_not_a_crash() -> None:
    # A key the engine does not read is a problem; a TOML local time in it must
    # still canonicalise (the digest is computed for every document shown).
    text = apply(('description = "Seed', 'cutoff = 09:30:00\ndescription = "Seed'))
    with pytest.raises(PolicyError) as info:
        load_policy_bytes(text.encode())
    assert [p.split(":")[0] for p in info.value.problems] == ["cutoff"]
    assert json.loads(canonical_bytes(parse_document(text.encode())))["cutoff"] == "09:30:00"


# --- canonical form and digest ---------------------------------------------------------------


def test_comments_whitespace_and_key_order_do_not_change_the_digest(policy: Policy) -> None:
    text = apply(
        ("schema = 1\n", "# leading comment\nschema   =   1    # trailing comment\n\n\n"),
        ('lpr_1y = "4.25"\nlpr_5y = "4.85"', 'lpr_5y = "4.85"\n    lpr_1y="4.25"'),
        ("[bounds]\n", "[bounds]   # reordered below\n\n"),
    )
    assert policy_from_text(text).digest == policy.digest


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('lpr_1y = "4.25"', 'lpr_1y = "4.26"'),
        ('AA = "30"', 'AA = "30.0"'),  # the same value written differently is a new document
        ("max_age_days = 365", "max_age_days = 366"),
        ("2019-08-20T09:30:00+08:00", "2019-08-20T09:31:00+08:00"),
        ("effective_from = 2019-08-20", "effective_from = 2019-08-21"),
        ('["90.0", "-150"]', '["90.0", "-151"]'),
        ('benchmark = "4.20"', 'benchmark = "4.21"'),
    ],
)
def test_any_number_changes_the_digest(policy: Policy, old: str, new: str) -> None:
    assert policy_from_text(apply((old, new))).digest != policy.digest


def test_toml_and_its_canonical_json_give_the_same_digest_and_quotes(policy: Policy) -> None:
    toml_policy, canonical = load_policy_bytes(default_text().encode())
    json_policy, canonical_again = load_policy_bytes(canonical)
    assert canonical_again == canonical
    assert json_policy.digest == toml_policy.digest == policy.digest
    req = make_request(product_id="lvtanrong", carbon_grade=given_grade(2), upfront_fee_fen=999)
    assert price(req, json_policy) == price(req, toml_policy)


def test_reindented_canonical_json_keeps_the_digest(policy: Policy) -> None:
    canonical = default_policies().canonical(policy.digest)
    pretty = json.dumps(json.loads(canonical), indent=4, ensure_ascii=True).encode()
    assert load_policy_bytes(pretty)[0].digest == policy.digest
    assert canonical_bytes(parse_document(pretty)) == canonical


# --- effective dating ------------------------------------------------------------------------


def second_version(effective: str = "2025-01-01") -> str:
    return apply(
        ('version = "2026.1-default"', 'version = "2026.2-test"'),
        ("effective_from = 2019-08-20", f"effective_from = {effective}"),
        ('AA = "30"', 'AA = "40"'),
    )


def test_each_version_is_in_force_from_its_date_until_the_next() -> None:
    v1 = load_policy_bytes(default_text().encode())
    v2 = load_policy_bytes(second_version().encode())
    policies = PolicySet([v2, v1])  # given out of order
    assert [p.version for p in policies.versions] == ["2026.1-default", "2026.2-test"]
    assert policies.in_force(date(2019, 8, 20)).version == "2026.1-default"
    assert policies.in_force(date(2024, 12, 31)).version == "2026.1-default"
    assert policies.in_force(date(2025, 1, 1)).version == "2026.2-test"
    assert policies.in_force(date(2030, 1, 1)).version == "2026.2-test"
    with pytest.raises(NoPolicyInForceError):
        policies.in_force(date(2019, 8, 19))
    assert policies.by_digest(v1[0].digest) is policies.versions[0]
    assert policies.canonical(v2[0].digest) == v2[1]
    assert policies.by_digest("0" * 64) is None


def test_new_version_prices_with_its_own_numbers() -> None:
    v2 = policy_from_text(second_version())
    assert price(make_request(), v2).rate_bp == Decimal(340)


def test_two_versions_with_the_same_effective_date_are_refused() -> None:
    v1 = load_policy_bytes(default_text().encode())
    clash = load_policy_bytes(second_version("2019-08-20").encode())
    with pytest.raises(PolicyError) as info:
        PolicySet([v1, clash])
    assert info.value.problems == (
        "versions '2026.1-default' and '2026.2-test' are both effective from 2019-08-20",
    )


def test_empty_policy_set_is_refused() -> None:
    with pytest.raises(PolicyError):
        PolicySet([])


def test_loading_a_directory_lists_problems_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(apply(('cap = "8.00"', "cap = 8.0")), encoding="utf-8")
    (tmp_path / "b.toml").write_text(apply(('version = "2026.1-default"\n', "")), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_paths([tmp_path])
    assert info.value.problems == (
        f'{tmp_path / "a.toml"}: bounds.cap: must be a decimal string like "8.0", not a float',
        f"{tmp_path / 'b.toml'}: version: missing",
    )


def test_loading_a_directory_of_valid_versions(tmp_path: Path) -> None:
    (tmp_path / "v1.toml").write_text(default_text(), encoding="utf-8")
    (tmp_path / "v2.toml").write_text(second_version(), encoding="utf-8")
    policies = load_paths([tmp_path])
    assert policies.in_force(date(2025, 1, 1) + timedelta(days=1)).version == "2026.2-test"


def test_unknown_keys_are_problems_not_silently_ignored() -> None:
    text = default_policy_bytes().decode()
    text = text.replace('kind = "standard"', 'kind = "standard"\ndiscount_bp = "-50"')
    text = text.replace("[bounds]\n", '[bounds]\nfloar = "1.00"\n')
    with pytest.raises(PolicyError) as info:
        load_policy_bytes(text.encode())
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == ["bounds.floar", "products.standard.discount_bp"]
    assert all("unknown key" in p for p in problems)
