"""Scene cuts and notes as OpenTimelineIO and CMX 3600 EDL, read back."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gpu_worker.engine import interchange


def timeline():
    return interchange.scene_timeline(
        [10, 25], 40, Fraction(25), name="Reel 1", start_timecode="01:00:00:00",
        notes=[{"frame": 12, "text": "scratch\nstill visible", "author": "ana"},
               {"frame": 30, "text": "flicker", "colour": "green"}])


def shots(tl):
    return [(c.source_range.start_time.to_timecode(), int(c.source_range.duration.value))
            for c in tl.tracks[0]]


def test_scenes_become_clips_in_source_timecode():
    tl = timeline()
    assert shots(tl) == [("01:00:00:00", 10), ("01:00:00:10", 15), ("01:00:01:00", 15)]
    markers = [[m.name for m in c.markers] for c in tl.tracks[0]]
    assert markers == [[], ["scratch still visible"], ["flicker"]]


@pytest.mark.parametrize("suffix", [".edl", ".otio"])
def test_written_and_read_back(tmp_path, suffix):
    path = interchange.write_timeline(timeline(), tmp_path / f"cuts{suffix}")
    back = interchange.read_timeline(path, rate=25)
    assert shots(back) == shots(timeline())
    names = [m.name.lower() for c in back.tracks[0] for m in c.markers]
    assert names == ["scratch still visible", "flicker"]
    if suffix == ".edl":
        text = path.read_text()
        assert text.startswith("TITLE: Reel 1")
        assert "002  AX       V     C        01:00:00:10 01:00:01:00" in text
        assert "* LOC: 01:00:00:12 RED" in text


def test_drop_frame_timecode_at_2997():
    tl = interchange.scene_timeline([1800], 3600, Fraction(30000, 1001),
                                    start_timecode="00:00:59;00")
    starts = [c.source_range.start_time.to_timecode(30000 / 1001, True) for c in tl.tracks[0]]
    # 1800 frames later, past minute 1, where drop-frame skips the numbers ;00 and ;01.
    assert starts == ["00:00:59;00", "00:01:59;02"]


def test_errors_are_plain():
    with pytest.raises(interchange.InterchangeError, match="outside the clip"):
        interchange.scene_timeline([], 10, 24, notes=[{"frame": 10, "text": "x"}])
    with pytest.raises(interchange.InterchangeError, match="unsupported timeline file"):
        interchange.write_timeline(timeline(), "cuts.xml")
