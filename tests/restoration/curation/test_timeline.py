"""restoration.curation.services.timeline: SMPTE timecode of review frames, and the
review's notes with the clip's scene cuts as EDL / OTIO files (and their page links)."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio
import pytest

from restoration.curation.services import review as rv
from restoration.curation.services import timeline
from tests.factories import ClipFactory, curator, technician

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("fps_fraction", "start", "frame", "expected", "drop"),
    [
        ("24/1", "01:00:00:00", 0, "01:00:00:00", False),
        ("24/1", "01:00:00:00", 24 * 61 + 5, "01:01:01:05", False),
        ("25/1", "", 25 * 3600, "01:00:00:00", False),
        # 29.97 drop-frame: the minute after 00:00:59;29 starts at ;02.
        ("30000/1001", "00:00:59;29", 1, "00:01:00;02", True),
        ("30000/1001", "", 1800, "00:01:00;02", True),
        ("30000/1001", "00:00:59;29", 17982 + 1, "00:11:00;02", True),
        # A non-drop source at 29.97 stays non-drop.
        ("30000/1001", "00:00:59:29", 1, "00:01:00:00", False),
        ("24000/1001", "10:00:00:00", 48, "10:00:02:00", False),
    ],
)
def test_timecode_counts_from_the_source_start(fps_fraction, start, frame, expected, drop):
    clip = ClipFactory.build(fps_fraction=fps_fraction, timecode=start)
    tc = timeline.clip_timecode(clip)
    assert tc.rate == Fraction(fps_fraction) and tc.drop_frame is drop
    assert tc.of(frame) == expected


def _reviewed(variants, *, timecode: str, cuts: list[int]):
    clip = variants[0].clip
    clip.timecode = timecode
    clip.analysis = {"scenes": {"cuts": cuts, "count": len(cuts) + 1}}
    clip.save()
    cur = curator()
    review = rv.prepare_excerpts(rv.open_review(variants[0], cur))
    rv.add_note(review, cur, frame=3, x=0.5, y=0.5, text="dust, left edge")
    rv.add_note(review, cur, frame=15, x=0.2, y=0.8, text="flicker")
    return review


def test_edl_has_one_event_per_scene_in_source_timecode_and_notes_as_markers(variants):
    review = _reviewed(variants, timecode="01:00:00:00", cuts=[10])
    data, name = timeline.review_timeline_file(review, "edl")
    text = data.decode()
    assert name == f"review-{review.pk}.edl"
    events = [line for line in text.splitlines() if line[:3].isdigit()]
    assert len(events) == 2, text
    # clip at 24 fps: shot 1 is source 01:00:00:00-01:00:00:10, shot 2 from :10 to 1 s.
    assert "01:00:00:00 01:00:00:10" in events[0] and "01:00:00:10 01:00:01:00" in events[1]
    assert "DUST, LEFT EDGE" in text and "FLICKER" in text  # CMX 3600 is upper case
    assert text.count("LOC:") == 2
    assert "01:00:00:03" in text and "01:00:00:15" in text  # the notes' source frames


def test_otio_round_trips_scenes_and_markers(variants, tmp_path):
    review = _reviewed(variants, timecode="", cuts=[8, 16])
    data, name = timeline.review_timeline_file(review, "otio")
    loaded = otio.adapters.read_from_string(data.decode(), adapter_name="otio_json")
    clips = list(loaded.find_clips())
    assert [c.source_range.duration.to_frames() for c in clips] == [8, 8, 8]
    markers = [(m.name, m.marked_range.start_time.to_frames()) for c in clips for m in c.markers]
    assert markers == [("dust, left edge", 3), ("flicker", 15)]
    with pytest.raises(timeline.InterchangeError, match="unknown timeline format"):
        timeline.review_timeline_file(review, "aaf")


def test_review_page_shows_timecode_and_offers_the_downloads(variants, client):
    review = _reviewed(variants, timecode="00:59:59:20", cuts=[])
    client.force_login(technician())
    page = client.get(f"/review/{review.pk}/").content.decode()
    assert 'id="review-timecode"' in page and 'data-base="86396"' in page
    assert '<span class="timecode note-timecode">00:59:59:23</span>' in page  # frame 3
    assert '<span class="timecode note-timecode">01:00:00:11</span>' in page  # frame 15
    for fmt in ("edl", "otio"):
        assert f"/review/{review.pk}/timeline.{fmt}" in page
        response = client.get(f"/review/{review.pk}/timeline.{fmt}")
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="review-{review.pk}.{fmt}"'
    assert client.get(f"/review/{review.pk}/timeline.aaf").status_code == 404
    client.logout()
    assert client.get(f"/review/{review.pk}/timeline.edl").status_code in (302, 403)


def test_a_clip_at_a_rate_timecode_cannot_count_gets_a_page_without_timecode(variants, client):
    # A hand-cranked film transferred at 28.47 fps (Muybridge's buffalo): SMPTE timecode
    # has no count at that rate, so the page shows none and the EDL says why.
    clip = variants[0].clip
    clip.fps_fraction = "2847/100"
    clip.save()
    review = _reviewed(variants, timecode="", cuts=[])
    assert timeline.clip_timecode(review.excerpt_clip or clip) is None
    client.force_login(technician())
    response = client.get(f"/review/{review.pk}/")
    assert response.status_code == 200
    assert 'id="review-timecode"' not in response.content.decode()
    with pytest.raises(timeline.InterchangeError, match="28.470 fps"):
        timeline.review_timeline_file(review, "edl")
