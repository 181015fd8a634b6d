"""The job contract: what the site sends, what the worker reports, and what either refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_worker.jobs import (
    DEFAULT_MAX_ATTEMPTS,
    JOB_VERSION,
    JobContractError,
    JobProgress,
    JobRequest,
    JobResult,
)

REPO = Path(__file__).resolve().parents[2]

JOB = {"version": 1, "job_id": 12, "kind": "segment", "segment": 3,
       "input_uri": "file:///media/source.mp4", "output_uri": "s3://bucket/renders/seg-3.mp4",
       "control_uri": "s3://bucket/renders/control/job-12/seg-00003/",
       "spec": {"ops": [{"op": "grain", "params": {"strength": 0.2}}], "seed": 4}, "seed": 4,
       "start": 10, "end": 34, "audio": False, "scene_cuts": [120, 388], "max_attempts": 3,
       "device": None, "lease": "9f2c4e", "lease_seconds": 300}

RESULT = {"version": 1, "job_id": 12, "segment": 3, "kind": "segment", "status": "done",
          "output_uri": "s3://bucket/renders/seg-3.mp4", "proxy_uri": None, "attempt": 1,
          "reused": False,
          "frames": 24, "fps": 7.9, "seconds": 3.0, "duration": 0.97, "size": 81234,
          "width": 192, "height": 144, "device": "cpu", "spec_hash": "ab12",
          "scene_cuts": [], "metrics": {"render_fps": 7.9}, "error": "", "lease": "9f2c4e"}

PROGRESS = {"version": 1, "job_id": 12, "segment": 3, "attempt": 1, "status": "running",
            "frames_done": 8, "frames_total": 24, "fps": 7.9, "eta": 2.0, "lease": "9f2c4e"}


@pytest.mark.parametrize(("message", "data"), [(JobRequest, JOB), (JobResult, RESULT),
                                               (JobProgress, PROGRESS)])
def test_round_trip_through_json(message, data):
    parsed = message.from_dict(json.loads(json.dumps(data)))
    assert parsed.to_dict() == data
    assert message.from_dict(parsed.to_dict()) == parsed
    assert parsed.to_dict()["version"] == JOB_VERSION


def test_optional_fields_take_their_defaults():
    required = {k: JOB[k] for k in ("job_id", "input_uri", "output_uri", "control_uri", "spec",
                                    "start", "end")}
    job = JobRequest.from_dict(required)  # a message without `version` is version 1
    assert (job.kind, job.segment, job.seed, job.audio, job.scene_cuts, job.device) == (
        "variant", None, None, True, None, None)
    assert job.max_attempts == DEFAULT_MAX_ATTEMPTS and job.frames_total == 24


def test_messages_are_immutable_and_do_not_share_the_senders_objects():
    spec = {"ops": []}
    job = JobRequest.from_dict({**JOB, "spec": spec})
    spec["ops"].append("later")  # a shallow copy: the top level is the job's own
    spec["seed"] = 99
    assert "seed" not in job.spec and job.scene_cuts == (120, 388)
    with pytest.raises(AttributeError):
        job.start = 0  # type: ignore[misc]


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"job_id": "12"}, "job_id", "expected an integer"),
    ({"job_id": True}, "job_id", "expected an integer"),
    ({"job_id": -1}, "job_id", "must not be negative"),
    ({"kind": "film"}, "kind", "must be one of"),
    ({"segment": None}, "segment", "needs its segment index"),
    ({"kind": "variant"}, "segment", "has no segment"),
    ({"input_uri": "ftp://x/y"}, "input_uri", "unsupported storage scheme"),
    ({"output_uri": "file://host/o.mp4"}, "output_uri", "must be local"),
    ({"control_uri": 7}, "control_uri", "expected a string"),
    ({"spec": [1]}, "spec", "expected a JSON object"),
    ({"seed": 1.5}, "seed", "expected an integer"),
    ({"start": 4, "end": 2}, "end", "frame range [4, 2) is invalid"),
    ({"start": -1}, "end", "frame range"),
    ({"audio": "yes"}, "audio", "expected true or false"),
    ({"scene_cuts": "120"}, "scene_cuts", "expected a list"),
    ({"scene_cuts": [1, "2"]}, "scene_cuts[1]", "expected an integer"),
    ({"scene_cuts": [-5]}, "scene_cuts", "must not be negative"),
    ({"max_attempts": 0}, "max_attempts", "at least 1"),
    ({"device": 0}, "device", "expected a string"),
    ({"max_attempt": 3}, "max_attempt", "unknown field"),
])
def test_invalid_job_fields_are_refused_by_name(change, field, words):
    with pytest.raises(JobContractError) as info:
        JobRequest.from_dict({**JOB, **change})
    assert info.value.field == field
    assert f"job.{field}:" in str(info.value) and words in str(info.value)


def test_missing_fields_are_all_named():
    with pytest.raises(JobContractError, match="missing") as info:
        JobRequest.from_dict({"job_id": 1})
    assert info.value.field == "input_uri"
    assert "output_uri, control_uri, spec, start, end" in str(info.value)


def test_another_version_is_refused():
    for version in (0, 2, "1", None):
        with pytest.raises(JobContractError, match="version") as info:
            JobRequest.from_dict({**JOB, "version": version})
        assert info.value.field == "version"
    with pytest.raises(JobContractError, match="result.version"):
        JobResult.from_dict({**RESULT, "version": JOB_VERSION + 1})


def test_a_message_must_be_a_json_object():
    with pytest.raises(JobContractError, match="progress: must be a JSON object, got list"):
        JobProgress.from_dict([PROGRESS])


@pytest.mark.parametrize(("change", "field"), [
    ({"status": "ok"}, "status"),
    ({"status": "failed"}, "error"),  # a failure must say why
    ({"frames": -1}, "frames"),
    ({"fps": float("nan")}, "fps"),
    ({"reused": 0}, "reused"),
    ({"metrics": {1: 2}}, "metrics"),
])
def test_invalid_results_are_refused_by_name(change, field):
    with pytest.raises(JobContractError) as info:
        JobResult.from_dict({**RESULT, **change})
    assert info.value.field == field and f"result.{field}:" in str(info.value)


def test_results_and_progress_copy_the_jobs_identity():
    job = JobRequest.from_dict(JOB)
    result = JobResult.of(job, "cancelled", 2, error="cancelled")
    assert (result.job_id, result.segment, result.kind, result.output_uri, result.attempt) == (
        12, 3, "segment", JOB["output_uri"], 2)
    assert result.frames == 0 and result.width is None and not result.done
    progress = JobProgress.of(job, 2, frames_done=5, frames_total=24, fps=3)
    assert progress.to_dict() == {**PROGRESS, "attempt": 2, "frames_done": 5, "fps": 3.0,
                                  "eta": None}
    with pytest.raises(JobContractError, match="progress.frames_done"):
        JobProgress.of(job, 1, frames_done=-1, frames_total=24)


def test_the_contract_and_the_worker_need_no_django_and_the_contract_no_torch_or_celery():
    """A GPU machine runs without Django installed; the site reads the contract without torch."""
    script = (
        "import sys\n"
        "for blocked in ('django', 'torch', 'celery'):\n"
        "    sys.modules[blocked] = None\n"
        "import gpu_worker.jobs\n"
        "del sys.modules['celery']\n"
        "import gpu_worker.worker.tasks, gpu_worker.worker.storage, gpu_worker.worker.celery_config\n")
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=60)


def test_which_masters_need_a_browser_proxy():
    from gpu_worker.jobs import needs_proxy, proxy_uri_for

    assert not needs_proxy("file:///r/v.mp4", {"codec": "h264"})
    assert not needs_proxy("file:///r/v.mp4", None)  # the default encode is H.264 4:2:0
    assert needs_proxy("file:///r/v.mov", {"codec": "prores"})
    assert needs_proxy("file:///r/v.mkv", {"codec": "ffv1"})
    assert needs_proxy("file:///r/v.mp4", {"codec": "h265"})
    assert needs_proxy("file:///r/v.mp4", {"codec": "h264", "pix_fmt": "yuv444p"})
    assert proxy_uri_for("s3://bucket/renders/v-1.mov") == "s3://bucket/renders/v-1.proxy.mp4"
