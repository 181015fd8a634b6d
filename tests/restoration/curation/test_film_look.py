"""restoration.curation.services.film_look: outliers and measured looks."""

from __future__ import annotations

import pytest

from restoration.curation.services.film_look import ClipLook, film_look, flag_outliers
from tests.media_factory import make_video
from tests.restoration.clip_helpers import ready_clip

pytestmark = pytest.mark.django_db


# --- film look ------------------------------------------------------------------------------------------------

def test_outliers_are_flagged_against_the_median_of_the_others():
    def look(luma, cast_r=0.0):
        return ClipLook(clip=None, preset="", source="", stats={
            "luma": luma, "contrast": 0.7, "saturation": 0.1, "cast_r": cast_r, "cast_b": 0.0})

    looks = flag_outliers([look(0.45), look(0.47), look(0.46), look(0.62, cast_r=0.2)])
    assert [bool(x.flags) for x in looks] == [False, False, False, True]
    assert set(looks[3].flags) == {"luma", "cast_r"} and looks[3].flags["luma"] == pytest.approx(0.16)


def test_film_look_measures_the_restored_clips(clip, variants, film_job, tmp_path):
    second = ready_clip(make_video(tmp_path / "b.mp4", frames=12, width=64, height=48), clip.film, "Reel 2")
    result = film_look(clip.film)
    assert result["job"] == film_job
    first_row, second_row = result["looks"]
    assert first_row.clip == clip and first_row.source == "film render"
    assert 0 < first_row.stats["luma"] < 1 and first_row.preset == str(film_job.preset_version)
    # this film render stops after the first clip: the second cannot be measured, and says so
    assert second_row.clip == second and second_row.error.startswith("could not measure")
    assert not second_row.stats and not second_row.flags
