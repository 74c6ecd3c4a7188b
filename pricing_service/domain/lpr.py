"""LPR fixings and the lookup of the fixing in force at an instant."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pricing_service.domain.errors import NoFixingInForceError
from pricing_service.domain.evidence import Tenor


@dataclass(frozen=True, slots=True)
class Fixing:
    """One LPR publication: both tenors, in bp, and when it was published."""

    published_at: datetime  # aware
    lpr_1y_bp: Decimal
    lpr_5y_bp: Decimal

    def rate_bp(self, tenor: Tenor) -> Decimal:
        """The fixing's rate for `tenor`, in bp."""
        return self.lpr_1y_bp if tenor is Tenor.ONE_YEAR else self.lpr_5y_bp


class FixingTable:
    """Fixings ordered by publication; a fixing holds until the next is published."""

    __slots__ = ("_fixings", "_instants")

    def __init__(self, fixings: Sequence[Fixing]) -> None:
        self._fixings = tuple(sorted(fixings, key=lambda f: f.published_at))
        # Kept in UTC: requests carry UTC instants, and aware datetimes sharing a
        # tzinfo compare without calling utcoffset() (some 30x faster).
        self._instants = [f.published_at.astimezone(UTC) for f in self._fixings]

    def __eq__(self, other: object) -> bool:
        # By value: a policy rebuilt from its canonical document equals the original.
        if not isinstance(other, FixingTable):
            return NotImplemented
        return self._fixings == other._fixings

    def __hash__(self) -> int:
        return hash(self._fixings)

    def __repr__(self) -> str:
        return f"FixingTable({list(self._fixings)!r})"

    @property
    def fixings(self) -> tuple[Fixing, ...]:
        """All fixings, oldest first."""
        return self._fixings

    def in_force(self, instant: datetime) -> Fixing:
        """The latest fixing published at or before `instant`.

        A fixing published at 09:00 on the 20th does not price a quote at 08:30
        that day: the previous fixing still holds.
        """
        return self._fixings[self.index_in_force(instant)]

    def index_in_force(self, instant: datetime) -> int:
        """The position in `fixings` of the fixing in force at `instant`."""
        i = bisect.bisect_right(self._instants, instant)
        if i == 0:
            raise NoFixingInForceError(instant.isoformat())
        return i - 1
