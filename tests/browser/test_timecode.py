"""curation/static/curation/timecode.js: the review player's SMPTE timecode, computed in
chromium, agrees with OpenTimelineIO's (the reference the server uses for notes, EDL and
OTIO exports) at film, PAL, NTSC drop-frame and 59.94 drop-frame rates."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).resolve().parents[2] / "restoration/curation/static/curation/timecode.js"
# Frames around the places counting goes wrong: minute and ten-minute boundaries (where
# drop-frame skips and does not skip numbers), an hour, and past a day's wrap.
FRAMES = [0, 1, 23, 24, 29, 30, 1439, 1440, 1798, 1799, 1800, 1801, 3596, 3597, 3598, 17981,
          17982, 17983, 35964, 35965, 107891, 107892, 2589407, 2589408, 5178815]


@pytest.mark.parametrize("rate, nominal, drop", [
    (Fraction(24), 24, False), (Fraction(25), 25, False), (Fraction(30000, 1001), 30, True),
    (Fraction(60000, 1001), 60, True), (Fraction(24000, 1001), 24, False),
])
def test_the_players_timecode_matches_opentimelineio(browser, rate, nominal, drop):
    import opentimelineio as otio

    page = browser.new_page()
    page.set_content("<!doctype html><title>timecode</title>")
    page.add_script_tag(path=str(SCRIPT))
    ours = page.evaluate("([frames, fps, drop]) => frames.map(f => window.ReelTimecode(f, fps, drop))",
                         [FRAMES, nominal, drop])
    page.close()
    rate_f = float(rate)
    expected = [otio.opentime.to_timecode(otio.opentime.RationalTime(f, rate_f), rate_f, drop)
                for f in FRAMES]
    assert ours == expected
