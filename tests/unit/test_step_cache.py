"""The breakdown-step renderings: one per distinct step, found by identity for the
engine's memoized steps and by value for a step made afresh, in bounded tables."""

from __future__ import annotations

from pricing_service.domain.quote import Step
from pricing_service.quoting.documents import StepCache


def _step(n: int) -> Step:
    return Step("CODE", str(n), "bp", f"理由 {n}", f"reason {n}")


def test_the_same_step_and_an_equal_one_share_one_rendering() -> None:
    made: list[Step] = []

    def render(s: Step) -> dict[str, str]:
        made.append(s)
        return {"value": s.value}

    cache = StepCache(render)
    step = _step(1)
    first = cache(step)
    assert cache(step) is first  # by identity
    assert cache(_step(1)) is first  # a step made afresh, equal: by value
    assert made == [step]
    assert cache(_step(2)) == {"value": "2"}
    assert len(made) == 2


def test_the_tables_stay_bounded() -> None:
    cache = StepCache(lambda s: s.value, limit=16)
    kept = [_step(n) for n in range(1000)]
    assert [cache(s) for s in kept] == [str(n) for n in range(1000)]
    assert len(cache._by_id) <= 16
    assert len(cache._by_value) <= 16
