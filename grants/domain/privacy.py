"""Privacy rules for what managers may see (DESIGN.md section 4)."""

from __future__ import annotations

SMALL_CELL_THRESHOLD = 5
"""Aggregates shown to managers that count fewer people than this are suppressed."""

SUPPRESSED = "<5"


def suppress_small_count(people: int) -> int | str:
    """``people`` as shown to a manager: the number itself, or ``"<5"`` when it is below 5."""
    return people if people >= SMALL_CELL_THRESHOLD else SUPPRESSED
