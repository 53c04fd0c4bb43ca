"""Choosing the colour, depth and CameraInfo topics of a bag when the user did not name them
(RealSense names first, then what the names say), with errors that list the candidates."""

from __future__ import annotations

from pathlib import Path

from scr_localizer import defaults
from scr_localizer.errors import ScrLocalizerError
from scr_localizer.io.bag_files import COMPRESSED, IMAGE


def sibling_info_topic(image_topic: str) -> str:
    base = image_topic
    for suffix in ("/compressedDepth", "/compressed"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base.rsplit("/", 1)[0] + "/camera_info"


def is_rectified(topic: str, setting: bool | None) -> bool:
    if setting is not None:
        return setting
    for suffix in ("/compressedDepth", "/compressed"):
        if topic.endswith(suffix):
            topic = topic[: -len(suffix)]
    return "rect" in topic.rsplit("/", 1)[-1]


def topic_listing(topics: dict[str, str], types=None) -> str:
    names = [f"{t} ({m})" for t, m in sorted(topics.items()) if types is None or m in types]
    return ", ".join(names) if names else "none"


def score_color(topic: str, msgtype: str) -> int | None:
    name = topic.lower()
    if msgtype not in (IMAGE, COMPRESSED) or any(
        w in name for w in ("depth", "infra", "/ir/", "confidence", "disparity", "mask")
    ):
        return None
    score = 100 if topic == defaults.COLOR_TOPIC else 0
    score += 10 if ("color" in name or "rgb" in name) else 0
    score += 3 if name.endswith("image_rect_color") else 0
    score += 2 if "image_raw" in name else 0
    score += 1 if msgtype == IMAGE else 0
    return score


def score_depth(topic: str, msgtype: str) -> int | None:
    name = topic.lower()
    if msgtype not in (IMAGE, COMPRESSED) or "depth" not in name or "colorized" in name:
        return None
    if msgtype == COMPRESSED and not name.endswith("compresseddepth"):
        return None
    score = 100 if topic == defaults.DEPTH_TOPIC else 0
    # aligned/registered into colour: RealSense, OpenNI, Azure Kinect (depth_to_rgb) names
    score += 10 if any(w in name for w in ("aligned", "registered", "to_rgb", "to_color")) else 0
    score += 1 if msgtype == IMAGE else 0
    return score


def choose_topic(topics: dict[str, str], scorer, what: str, option: str, bag: Path) -> str:
    scored = [(s, t) for t, m in topics.items() if (s := scorer(t, m)) is not None]
    if not scored:
        raise ScrLocalizerError(
            f"bag '{bag}' has no {what} topic; image topics there: "
            f"{topic_listing(topics, (IMAGE, COMPRESSED))} (choose one with {option})"
        )
    best = max(s for s, _ in scored)
    top = sorted(t for s, t in scored if s == best)
    if len(top) > 1:
        raise ScrLocalizerError(
            f"bag '{bag}' has several possible {what} topics ({', '.join(top)}); choose one "
            f"with {option}"
        )
    return top[0]
