"""Atomic writes: the target holds either the old or the complete new content, never a part."""

import pytest

from scr_localizer.io.atomic import atomic_temp_path, atomic_write


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_completed_write_replaces_the_file(tmp_path):
    target = tmp_path / "table.json"
    target.write_text("old")
    with atomic_write(target) as stream:
        stream.write("new")
        assert target.read_text() == "old"  # not visible until the block ends
    assert target.read_text() == "new"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("writer", ["stream", "path"])
def test_interrupted_write_keeps_the_old_file_and_no_temp(tmp_path, writer):
    target = tmp_path / "map.scrmap"
    target.write_bytes(b"complete old map")
    with pytest.raises(KeyboardInterrupt):
        if writer == "stream":
            with atomic_write(target, "wb") as stream:
                stream.write(b"half a ma")
                raise KeyboardInterrupt
        else:
            with atomic_temp_path(target) as temp:
                temp.write_bytes(b"half a ma")
                raise KeyboardInterrupt
    assert target.read_bytes() == b"complete old map"
    assert _leftovers(tmp_path) == []
