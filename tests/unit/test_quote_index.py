"""The writer's quote index: every seq of a quote id, across merges, in 16 bytes a quote."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pricing_service.audit import quote_index
from pricing_service.audit.quote_index import QuoteIndex


def qid(n: int, suffix: int = 0) -> str:
    return f"q_{n:016x}{suffix:016x}"


def test_candidates_survive_merges_and_keep_log_order() -> None:
    index = QuoteIndex()
    for seq in range(10_000):
        index.add(qid(seq * 7919 % 10_007), seq)
    index.add(qid(5), 10_000)  # the same quote id logged again
    assert len(index) == 10_001
    seq_of_5 = next(s for s in range(10_000) if s * 7919 % 10_007 == 5)
    assert index.candidates(qid(5)) == [seq_of_5, 10_000]
    assert index.candidates(qid(20_000)) == []
    assert index.candidates("q_unknown") == []


def test_ids_sharing_64_bits_are_both_candidates() -> None:
    index = QuoteIndex()
    index.add(qid(42, 1), 3)
    index.add(qid(42, 2), 9)
    assert index.candidates(qid(42, 1)) == [3, 9]  # the writer reads each back to tell


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=300), st.integers(1, 64))
def test_equals_a_dict_of_lists(ids: list[int], merge_every: int) -> None:
    quote_index.MERGE_EVERY = merge_every
    try:
        index = QuoteIndex()
        expected: dict[int, list[int]] = {}
        for seq, n in enumerate(ids):
            index.add(qid(n), seq)
            expected.setdefault(n, []).append(seq)
        assert {n: index.candidates(qid(n)) for n in range(51)} == {
            n: expected.get(n, []) for n in range(51)
        }
    finally:
        quote_index.MERGE_EVERY = 4096
