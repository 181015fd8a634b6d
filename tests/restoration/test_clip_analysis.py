"""Analysis after upload: report and plot stored on the clip, status pushed live, and
the excerpt it suggests for variant renders."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from frontend.live import outbox
from restoration.models import Clip
from restoration.services import clip_analysis
from restoration.tasks import probe_clip
from tests.media_factory import make_video
from tests.restoration.clip_helpers import probing_clip, ready_clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    events = []
    monkeypatch.setattr(outbox, "publish", lambda topic, payload: events.append((topic, payload)))
    return events


def test_probe_task_queues_the_analysis_which_stores_report_and_plot(tmp_path, eager_celery, published):
    clip = probing_clip(make_video(tmp_path / "a.mp4", frames=20, width=64, height=48))
    probe_clip.delay(clip.pk)  # eager: probe, then the analysis task
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.analysis_status == "done"
    assert clip.analysis["summary"]["frames"] == 20 and "findings" in clip.analysis
    assert clip.analysis_plot.name.endswith("analysis.png") and default_storage.exists(clip.analysis_plot.name)
    statuses = [p["analysis_status"] for topic, p in published if topic == f"clip-{clip.pk}"]
    assert "running" in statuses and statuses[-1] == "done"


def test_failed_analysis_is_recorded_not_raised(tmp_path, monkeypatch, published):
    clip = ready_clip(make_video(tmp_path / "a.mp4", frames=10, width=64, height=48))
    import gpu_worker.engine.analysis as analysis

    monkeypatch.setattr(analysis, "analyze", lambda path, **kw: (_ for _ in ()).throw(ValueError("no frames")))
    clip_analysis.analyze_clip(clip)
    clip.refresh_from_db()
    assert clip.analysis_status == "failed" and "no frames" in clip.analysis["error"]


def test_long_clips_are_sampled():
    assert clip_analysis.sample_every(50) == 1 and clip_analysis.sample_every(330) == 4
    assert clip_analysis.sample_every(200_000) == 8


def test_analysis_after_probe_can_be_switched_off(tmp_path, eager_celery, settings, published):
    settings.ANALYZE_AFTER_PROBE = False
    clip = probing_clip(make_video(tmp_path / "a.mp4", frames=10, width=64, height=48))
    probe_clip.delay(clip.pk)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY and clip.analysis_status == "" and clip.analysis is None


def test_thin_report_keeps_long_series_bounded():
    report = {"summary": {}, "frames": [{"frame": i} for i in range(10_000)]}
    thinned = clip_analysis.thin_report(report, limit=100)
    assert len(thinned["frames"]) == 100 and thinned["frames_thinned_from"] == 10_000


def test_suggested_excerpt_picks_the_most_damaged_stretch_inside_one_shot(tmp_path):
    clip = ready_clip(make_video(tmp_path / "a.mp4", frames=40, width=64, height=48))
    frames = [{"frame": i, "dust": 0} for i in range(40)]
    for i in range(22, 28):
        frames[i]["dust"] = 50  # a dusty stretch…
    frames[19]["dust"] = 500  # …and one very dusty frame just before a cut at 20
    clip.analysis = {"summary": {"scenes": {"cuts": [20]}}, "frames": frames}
    # [10, 20) holds the dustiest frame and ends at the cut; [15, 25) would hold more
    # damage but crosses the cut, so it is never chosen.
    assert clip_analysis.suggest_excerpt(clip, length=10) == (10, 20)
    frames[19]["dust"] = 0
    assert clip_analysis.suggest_excerpt(clip, length=10)[0] in range(18, 23)  # the dusty stretch
    clip.analysis = None
    assert clip_analysis.suggest_excerpt(clip, length=10) == (15, 25)  # the middle, without analysis
