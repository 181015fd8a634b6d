"""Storage URIs: the same operations on a local folder and on S3 (moto's server mode)."""

from __future__ import annotations

import pytest

from gpu_worker.worker import storage, tasks
from tests.media_factory import make_video
from tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401  (fixtures)


@pytest.fixture
def s3_env(s3_bucket):  # noqa: F811  (the imported fixture)
    return s3_bucket


def test_parse_uri_refuses_what_it_cannot_reach():
    assert storage.parse_uri("file:///a/b.mp4").path == "/a/b.mp4"
    loc = storage.parse_uri("s3://bucket/clips/x%20y.mp4")
    assert (loc.bucket, loc.path) == ("bucket", "clips/x y.mp4")
    for bad in ("file://host/a", "file:relative", "s3://bucket", "http://x/y"):
        with pytest.raises(storage.StorageURIError):
            storage.parse_uri(bad)
    assert storage.join("s3://b/control/job-1/", "cancel") == "s3://b/control/job-1/cancel"


def test_local_folder_roundtrip(tmp_path):
    uri = storage.file_uri(tmp_path / "a" / "marker")
    assert not storage.exists(uri) and storage.read_bytes(uri) is None
    storage.write_bytes(uri, b"3")
    assert storage.exists(uri) and storage.read_bytes(uri) == b"3"
    storage.delete(uri)
    assert not storage.exists(uri)


def test_s3_roundtrip(s3_env):
    uri = f"s3://{s3_env}/control/job-1/attempts"
    assert not storage.exists(uri) and storage.read_bytes(uri) is None
    storage.write_bytes(uri, b"2")
    assert storage.exists(uri) and storage.read_bytes(uri) == b"2"
    storage.delete(uri)
    assert not storage.exists(uri)


def test_failed_block_publishes_nothing_on_s3(s3_env, tmp_path):
    uri = f"s3://{s3_env}/renders/never.mp4"
    with pytest.raises(RuntimeError):
        with storage.local_output(uri) as path:
            path.write_bytes(b"half a file")
            raise RuntimeError("render crashed")
    assert not storage.exists(uri)


def test_render_job_from_and_to_s3(s3_env, tmp_path):
    """A worker with only S3 settings renders a job whose files live in a bucket."""
    source = make_video(tmp_path / "in.mp4", frames=20, width=64, height=48)
    client = storage.s3_client()
    client.upload_file(str(source), s3_env, "clips/abc/source.mp4")
    job = {"version": 1, "job_id": 3, "input_uri": f"s3://{s3_env}/clips/abc/source.mp4",
           "output_uri": f"s3://{s3_env}/renders/v3.mp4",
           "control_uri": f"s3://{s3_env}/renders/control/job-3/",
           "spec": {"ops": [{"op": "grain"}], "encode": {"preset": "ultrafast"}},
           "start": 4, "end": 14, "max_attempts": 2}
    sent = []
    result = tasks.run_job(job, lambda name, payload: sent.append((name, payload)))
    assert result["status"] == "done" and result["frames"] == 10
    assert storage.exists(job["output_uri"])
    assert storage.read_bytes(job["control_uri"] + "attempts") == b"1"
    with storage.local_input(job["output_uri"]) as local:
        from gpu_worker.engine.io import probe

        assert probe(local, deep=True).frame_count == 10
    again = tasks.run_job(job, lambda name, payload: None)
    assert again["reused"] and again["frames"] == 10
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=s3_env, Prefix="renders/")["Contents"]}
    assert keys == {"renders/v3.mp4", "renders/control/job-3/attempts",
                    "renders/control/job-3/result.json"}
