"""GPU task: a contract job in, a contract result out; idempotent, counted, cancellable, retried."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from gpu_worker.jobs import JobProgress, JobRequest, JobResult
from gpu_worker.worker import storage, tasks
from tests.media_factory import make_video

SPEC = {"ops": [{"op": "colour_scheme", "params": {"look": "sepia"}}], "seed": 3,
        "encode": {"codec": "h264", "crf": 23, "preset": "ultrafast"}}


class Recorder:
    """Stands in for the site's bookkeeping tasks."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict]] = []

    def __call__(self, name: str, payload: dict) -> None:
        json.dumps(payload, allow_nan=False)  # everything sent must be JSON
        message = {tasks.RESULT_TASK: JobResult, tasks.PROGRESS_TASK: JobProgress}[name]
        assert message.from_dict(payload).to_dict() == payload  # … and follow the contract
        self.messages.append((name, payload))

    def results(self) -> list[dict]:
        return [p for n, p in self.messages if n == tasks.RESULT_TASK]

    def progress(self) -> list[dict]:
        return [p for n, p in self.messages if n == tasks.PROGRESS_TASK]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("src") / "in.mp4", frames=30, width=64, height=48,
                      audio=True)


def make_job(source: Path, tmp_path: Path, **extra) -> dict:
    job = {"version": 1, "job_id": 7, "kind": "variant", "segment": None,
           "input_uri": storage.file_uri(source), "output_uri": storage.file_uri(tmp_path / "out" / "v.mp4"),
           "control_uri": storage.file_uri(tmp_path / "control") + "/", "spec": SPEC, "seed": 3,
           "start": 5, "end": 17, "audio": True, "scene_cuts": None, "max_attempts": 3}
    job.update(extra)
    return job


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_renders_the_range_and_reports_json(source, tmp_path):
    notify = Recorder()
    result = tasks.run_job(make_job(source, tmp_path), notify)
    out = tmp_path / "out" / "v.mp4"
    assert result["status"] == "done" and result["frames"] == 12 == frame_count(out)
    assert result["attempt"] == 1 and not result["reused"] and result["width"] == 64
    assert result["metrics"]["render_fps"] > 0 and "noise_sigma_after" in result["metrics"]
    assert notify.results() == [result]
    first = notify.progress()[0]
    assert first["status"] == "running" and first["frames_total"] == 12
    assert notify.progress()[-1]["frames_done"] == 12
    # No temporary file is left beside the output.
    assert sorted(p.name for p in out.parent.iterdir()) == ["v.mp4"]


def test_progress_is_throttled(source, tmp_path, monkeypatch):
    import gpu_worker.engine.pipeline as pipeline

    monkeypatch.setattr(pipeline, "PROGRESS_INTERVAL", 0.0)  # the engine reports every frame
    notify = Recorder()
    tasks.run_job(make_job(source, tmp_path, start=0, end=30), notify)
    sent = notify.progress()
    # 30 frames in well under the throttle interval each: not one message per frame.
    assert 2 <= len(sent) < 30
    assert sent[-1]["frames_done"] == 30


def test_redelivered_job_with_published_output_is_not_rendered_again(source, tmp_path, monkeypatch):
    job = make_job(source, tmp_path)
    first = tasks.run_job(job, Recorder())
    out = tmp_path / "out" / "v.mp4"
    stamp = out.stat().st_mtime_ns

    import gpu_worker.engine.pipeline as pipeline

    def must_not_render(*args, **kwargs):
        raise AssertionError("rendered twice")

    monkeypatch.setattr(pipeline, "render", must_not_render)
    notify = Recorder()
    again = tasks.run_job(job, notify)
    assert again["reused"] is True and again["frames"] == first["frames"]
    assert out.stat().st_mtime_ns == stamp
    assert notify.results()[0]["status"] == "done"


def test_output_without_result_file_is_probed(source, tmp_path):
    job = make_job(source, tmp_path)
    tasks.run_job(job, Recorder())
    (tmp_path / "control" / "result.json").unlink()  # died between publish and record
    result = tasks.run_job(job, Recorder())
    assert result["reused"] and result["frames"] == 12


def test_result_file_of_another_contract_is_probed_again(source, tmp_path):
    job = make_job(source, tmp_path)
    tasks.run_job(job, Recorder())
    (tmp_path / "control" / "result.json").write_text('{"version": 99, "job_id": 7}')
    result = tasks.run_job(job, Recorder())
    assert result["reused"] and result["status"] == "done" and result["frames"] == 12


def test_attempt_counter_stops_a_job_that_keeps_crashing(source, tmp_path, monkeypatch):
    job = make_job(source, tmp_path, max_attempts=2)
    storage.write_bytes(storage.join(job["control_uri"], "attempts"), b"2")  # two crashed starts
    import gpu_worker.engine.pipeline as pipeline

    monkeypatch.setattr(pipeline, "render", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    notify = Recorder()
    result = tasks.run_job(job, notify)
    assert result["status"] == "failed" and "gave up after 2 attempts" in result["error"]
    assert not (tmp_path / "out" / "v.mp4").exists()
    assert notify.results() == [result]


def test_each_start_is_counted(source, tmp_path):
    job = make_job(source, tmp_path)
    storage.write_bytes(storage.join(job["control_uri"], "attempts"), b"1")
    result = tasks.run_job(job, Recorder())
    assert result["attempt"] == 2 and tasks.read_attempts(JobRequest.from_dict(job)) == 2


def test_cancel_marker_stops_the_render_without_leaving_a_file(source, tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "CANCEL_POLL_FILE", 0.0)
    job = make_job(source, tmp_path, start=0, end=30)
    marker = storage.join(job["control_uri"], "cancel")
    notify = Recorder()

    def cancel_after_first_progress(name, payload):
        notify(name, payload)
        if name == tasks.PROGRESS_TASK:
            storage.write_bytes(marker, b"1")

    import gpu_worker.engine.pipeline as pipeline

    monkeypatch.setattr(pipeline, "CANCEL_INTERVAL", 0.0)
    result = tasks.run_job(job, cancel_after_first_progress)
    assert result["status"] == "cancelled"
    assert list((tmp_path / "out").iterdir()) == []  # no partial file


def test_cancelled_before_start_does_not_render(source, tmp_path):
    job = make_job(source, tmp_path)
    storage.write_bytes(storage.join(job["control_uri"], "cancel"), b"1")
    result = tasks.run_job(job, Recorder())
    assert result["status"] == "cancelled" and not (tmp_path / "out" / "v.mp4").exists()


def test_bad_spec_fails_at_once_without_retry(source, tmp_path):
    job = make_job(source, tmp_path, spec={"ops": [{"op": "grain", "params": {"strength": -1}}]})
    result = tasks.run_job(job, Recorder())
    assert result["status"] == "failed" and "grain.strength" in result["error"]


def test_transient_error_is_retried_then_given_up(source, tmp_path, monkeypatch):
    import gpu_worker.engine.pipeline as pipeline

    def flaky(*args, **kwargs):
        raise ConnectionError("storage went away")

    monkeypatch.setattr(pipeline, "render", flaky)
    job = make_job(source, tmp_path, max_attempts=2)
    with pytest.raises(tasks.TransientError) as info:
        tasks.run_job(job, Recorder())
    assert info.value.attempt == 1
    notify = Recorder()
    result = tasks.run_job(job, notify)  # the retry, and the last allowed attempt
    assert result["status"] == "failed" and "storage went away" in result["error"]
    assert tasks.backoff_seconds(1) == 5 and tasks.backoff_seconds(3) == 20
    assert tasks.backoff_seconds(30) == tasks.RETRY_MAX_SECONDS


def test_invalid_job_fails_at_once_naming_the_field(tmp_path):
    job = {"version": 1, "job_id": 4, "input_uri": "ftp://x/y", "output_uri": "file:///tmp/o.mp4",
           "control_uri": storage.file_uri(tmp_path / "control") + "/", "spec": {}, "start": 0,
           "end": 3}
    notify = Recorder()
    result = tasks.run_job(job, notify)
    assert result["status"] == "failed" and "job.input_uri" in result["error"]
    assert result["job_id"] == 4 and result["attempt"] == 0
    assert notify.results() == [result] and notify.progress() == []
    assert not (tmp_path / "control").exists()  # not counted as a start


def test_unreadable_job_still_reports_what_identifies_it():
    result = tasks.run_job({"job_id": 9, "segment": -2, "kind": "segment"}, Recorder())
    assert (result["job_id"], result["segment"], result["kind"]) == (9, None, "segment")
    assert "is missing" in result["error"]
    result = tasks.run_job(["not", "a", "job"], Recorder())
    assert result["job_id"] is None and "JSON object" in result["error"]


def test_celery_task_reports_an_invalid_job_without_retry(monkeypatch):
    notify = Recorder()
    monkeypatch.setattr(tasks, "celery_notifier", lambda task: notify)
    result = tasks.render_job.run({"version": 2, "job_id": 5})
    assert result["status"] == "failed" and "job.version" in result["error"]
    assert notify.results() == [result]


def test_celery_task_retries_with_backoff(source, tmp_path, monkeypatch):
    """The Celery wrapper turns a transient failure into a retry with a countdown."""
    from celery.exceptions import Retry

    import gpu_worker.engine.pipeline as pipeline

    monkeypatch.setattr(pipeline, "render", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))
    calls = {}

    def fake_retry(countdown=None, exc=None, **kwargs):
        calls["countdown"] = countdown
        return Retry("retry", when=countdown)

    monkeypatch.setattr(tasks.render_job, "retry", fake_retry)
    monkeypatch.setattr(tasks, "celery_notifier", lambda task: Recorder())
    with pytest.raises(Retry):
        tasks.render_job.run(make_job(source, tmp_path))
    assert calls["countdown"] == tasks.backoff_seconds(1)


def test_partial_files_of_a_killed_attempt_are_removed(source, tmp_path):
    job = make_job(source, tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / ".v.0123abcd.part.mp4").write_bytes(b"half")  # SIGKILL left it behind
    (out_dir / ".other.0123abcd.part.mp4").write_bytes(b"not ours")
    result = tasks.run_job(job, Recorder())
    assert result["status"] == "done"
    assert sorted(p.name for p in out_dir.iterdir()) == [".other.0123abcd.part.mp4", "v.mp4"]


def test_a_prores_master_gets_an_h264_proxy_beside_it(source, tmp_path):
    spec = {**SPEC, "encode": {"codec": "prores", "prores_profile": 0}}
    job = make_job(source, tmp_path, spec=spec,
                   output_uri=storage.file_uri(tmp_path / "out" / "v.mov"))
    result = tasks.run_job(job, Recorder())
    master, proxy = tmp_path / "out" / "v.mov", tmp_path / "out" / "v.proxy.mp4"
    assert result["status"] == "done" and result["proxy_uri"] == storage.file_uri(proxy)
    with av.open(str(master)) as m, av.open(str(proxy)) as p:
        assert m.streams.video[0].codec_context.name == "prores"
        assert p.streams.video[0].codec_context.name == "h264"
        assert p.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert p.streams.audio  # the proxy keeps the sound
    assert frame_count(proxy) == frame_count(master) == 12


def test_an_h264_mp4_master_is_its_own_proxy(source, tmp_path):
    result = tasks.run_job(make_job(source, tmp_path), Recorder())
    assert result["status"] == "done" and result["proxy_uri"] is None


# --- comparing two variants -----------------------------------------------------------------

@pytest.mark.slow
def test_a_comparison_reports_jod_and_publishes_the_map(tmp_path):
    a = make_video(tmp_path / "a.mp4", frames=6, width=160, height=120)
    sent: list[tuple[str, dict]] = []
    message = {"comparison_id": 5, "a_uri": storage.file_uri(a), "b_uri": storage.file_uri(a),
               "map_uri": storage.file_uri(tmp_path / "maps" / "m.png"), "frames": 2, "device": "cpu"}
    result = tasks.run_comparison(message, lambda name, payload: sent.append((name, payload)))
    json.dumps(result, allow_nan=False)
    assert sent == [(tasks.COMPARISON_TASK, result)]
    assert result["status"] == "done" and result["error"] == ""
    assert result["jod"] == pytest.approx(10.0, abs=0.01)  # a render against itself
    assert result["details"]["positions"] == [2, 3] and "map_path" not in result["details"]
    assert (tmp_path / "maps" / "m.png").is_file() and result["map_uri"] == message["map_uri"]


def test_a_comparison_that_cannot_run_is_reported_as_failed(tmp_path):
    sent: list[tuple[str, dict]] = []
    bad = tasks.run_comparison({"comparison_id": 5}, lambda n, p: sent.append((n, p)))
    assert bad["status"] == "failed" and "a_uri" in bad["error"] and sent[0][1] == bad
    missing = tasks.run_comparison(
        {"comparison_id": 6, "a_uri": storage.file_uri(tmp_path / "none.mp4"),
         "b_uri": storage.file_uri(tmp_path / "none.mp4"),
         "map_uri": storage.file_uri(tmp_path / "m.png")}, lambda n, p: None)
    assert missing["status"] == "failed" and missing["comparison_id"] == 6 and missing["error"]
