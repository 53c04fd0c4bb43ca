"""Nearest-stamp search on sorted integer or float stamps: one implementation for pairing
colour with depth, images with ground truth and fixes with frames."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def nearest_stamp_index(sorted_stamps: Sequence, stamp, tolerance=None) -> int | None:
    """Index of the stamp closest to `stamp` (the earlier one on a tie), None when there is none
    or the closest is farther than `tolerance` (None: any distance)."""
    if not sorted_stamps:
        return None
    index = bisect.bisect_left(sorted_stamps, stamp)
    candidates = [c for c in (index - 1, index) if 0 <= c < len(sorted_stamps)]
    best = min(candidates, key=lambda c: abs(sorted_stamps[c] - stamp))
    if tolerance is not None and abs(sorted_stamps[best] - stamp) > tolerance:
        return None
    return best
