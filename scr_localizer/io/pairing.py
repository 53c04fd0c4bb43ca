"""Colour/depth pairing on stamps alone (pure: no bag, no messages), so the rule can be tested
and reused: each colour image takes the depth image nearest in time within a tolerance, and a
depth image is used at most once, by the colour image closest to it."""

from __future__ import annotations

from dataclasses import dataclass

from scr_localizer.geometry.stamps import nearest_stamp_index


@dataclass(frozen=True)
class PairingDrops:
    """Why colour images got no pair."""

    duplicate_color: int = 0  # a second image with a stamp already seen
    no_depth: int = 0  # no depth image within the tolerance
    depth_taken: int = 0  # the nearest depth image went to a colour image closer to it


def pair_color_with_depth(color_stamps: list[int], depth_stamps: list[int] | None,
                          tolerance_ns: int) -> tuple[list[tuple[int, int | None]], PairingDrops]:
    """[(colour index, depth index or None)] in colour stamp order, and the drop counts.

    `depth_stamps` None pairs every (distinct) colour image with no depth. Indices refer to the
    given lists, which need not be sorted.
    """
    order = sorted(range(len(color_stamps)), key=lambda i: color_stamps[i])
    seen: set[int] = set()
    distinct = []
    for i in order:
        if color_stamps[i] not in seen:
            seen.add(color_stamps[i])
            distinct.append(i)
    duplicates = len(order) - len(distinct)
    if depth_stamps is None:
        return [(i, None) for i in distinct], PairingDrops(duplicate_color=duplicates)
    depth_order = sorted(range(len(depth_stamps)), key=lambda j: depth_stamps[j])
    sorted_depth = [depth_stamps[j] for j in depth_order]
    best: dict[int, tuple[int, int]] = {}  # depth index -> (|dt|, colour index)
    nearest: dict[int, int] = {}
    no_depth = taken = 0
    for i in distinct:
        stamp = color_stamps[i]
        c = nearest_stamp_index(sorted_depth, stamp, tolerance_ns)
        if c is None:
            no_depth += 1
            continue
        j, dt = depth_order[c], abs(sorted_depth[c] - stamp)
        nearest[i] = j
        if j not in best or dt < best[j][0]:
            if j in best:
                taken += 1
            best[j] = (dt, i)
        else:
            taken += 1
    paired = {i for _, i in best.values()}
    pairs = [(i, nearest[i]) for i in distinct if i in paired]
    return pairs, PairingDrops(duplicates, no_depth, taken)
