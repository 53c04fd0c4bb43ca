"""Colour/depth pairing as a pure function of stamps (the rule every bag read follows)."""

from scr_localizer.io.pairing import PairingDrops, pair_color_with_depth

MS = 1_000_000


def test_each_colour_takes_the_nearest_depth_within_tolerance():
    color = [100 * MS, 0, 200 * MS]  # unsorted on purpose: indices refer to this list
    depth = [5 * MS, 103 * MS, 290 * MS]
    pairs, drops = pair_color_with_depth(color, depth, 20 * MS)
    assert pairs == [(1, 0), (0, 1)]  # stamp order; 200 ms has no depth within 20 ms
    assert drops == PairingDrops(no_depth=1)


def test_a_depth_image_goes_to_the_closest_colour_image_only():
    pairs, drops = pair_color_with_depth([0, 10 * MS], [8 * MS], 20 * MS)
    assert pairs == [(1, 0)] and drops.depth_taken == 1


def test_duplicate_colour_stamps_and_colour_only_reading():
    pairs, drops = pair_color_with_depth([5, 5, 9], None, 0)
    assert pairs == [(0, None), (2, None)] and drops == PairingDrops(duplicate_color=1)
