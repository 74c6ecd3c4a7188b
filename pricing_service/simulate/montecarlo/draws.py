"""The randomness of a path: its own generator, its draws in their documented order, and the
grade each draw moves a loan to."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pricing_service.simulate.montecarlo.migration import DRAW_SPAN, GRADES, ScoreDrift

Ints = npt.NDArray[np.int64]
Int16s = npt.NDArray[np.int16]
Int8s = npt.NDArray[np.int8]
Draws = npt.NDArray[np.uint32]

_TABLE_BITS = 16  # the fast transition table reads the top 16 bits of a draw


def stream(seed: int, path: int) -> np.random.Generator:
    """Path `path`'s own generator: a path never depends on the number of paths or chunks."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(path,))))


def year_draws(
    streams: Sequence[np.random.Generator], grades: int, scores: int, drift: ScoreDrift
) -> tuple[Draws, Int16s]:
    """One year's draws of each path (rows): `grades` grade draws, then `scores` score changes."""
    draws = np.empty((len(streams), grades), dtype=np.uint32)
    changes = np.empty((len(streams), scores), dtype=np.int16)
    for j, rng in enumerate(streams):  # each path's draws in its documented order
        draws[j] = rng.integers(0, DRAW_SPAN, size=grades, dtype=np.uint32)
        changes[j] = drift.draw_tenths(rng, scores)
    return draws, changes


def transition_table(cuts: tuple[tuple[int, ...], ...]) -> Int8s:
    """Next grade index (0-4) by (top 16 bits of the draw) x 5 + current index; -1: look closer.

    A bin of 2^16 draws that a threshold cuts is marked -1 and resolved against
    the thresholds themselves: the table is a shortcut, the thresholds the rule.
    """
    bins = 1 << _TABLE_BITS
    width = DRAW_SPAN // bins
    low = np.arange(bins, dtype=np.int64) * width
    high = low + width - 1
    table = np.empty((bins, len(GRADES)), dtype=np.int8)
    for g, row in enumerate(cuts):
        c = np.array(row, dtype=np.int64)
        at_low = (low[:, None] >= c[None, :]).sum(axis=1)
        at_high = (high[:, None] >= c[None, :]).sum(axis=1)
        table[:, g] = np.where(at_low == at_high, at_low, -1)
    return table.reshape(-1)


def migrate_grades(grades: Int8s, draws: Draws, table: Int8s, cuts: Ints) -> Int8s:
    """Next grade index of each loan from its draw (arrays of one shape)."""
    index = (draws >> _TABLE_BITS).astype(np.int64)
    index *= len(GRADES)
    index += grades
    out = table[index]
    unsure = np.flatnonzero(out < 0)
    if unsure.size:
        flat = out.reshape(-1)
        u = draws.reshape(-1)[unsure].astype(np.int64)
        g = grades.reshape(-1)[unsure].astype(np.int64)
        flat[unsure] = (u[:, None] >= cuts[g]).sum(axis=1)
    return out
