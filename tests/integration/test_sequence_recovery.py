"""An image-sequence upload whose default-queue worker is killed mid-encode (SIGKILL,
main process and pool together): the sweeper hands the encode to a fresh worker and
the clip ends ready, with one master and nothing of the killed attempt left."""

from __future__ import annotations

import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage

from restoration import leases, sweeper
from restoration.models import Clip, WorkLease
from restoration.services import uploads
from tests.factories import FilmFactory, technician
from tests.integration.conftest import require_real_services, start_worker, wait_for
from tests.media_factory import encode_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 4
LEASE_ENV = {"WORK_LEASE_SECONDS": str(LEASE_SECONDS), "WORK_QUEUED_LEASE_SECONDS": "60"}
FRAMES = 160


def noisy_scans(path: Path) -> Path:
    """FRAMES 16-bit TIFF scans of grain (FFV1's slowest case), stored in a zip."""
    rng = np.random.default_rng(5)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for n in range(1, FRAMES + 1):
            image = rng.integers(0, 65535, size=(240, 320, 3), dtype=np.uint16)
            zf.writestr(f"reel/scan_{n:04d}.tif", encode_image("tiff", image))
    return path


def test_a_sequence_encode_killed_with_its_worker_is_finished_by_another(
        integration_settings, shared_media_root, tmp_path):
    require_real_services()
    integration_settings.WORK_LEASE_SECONDS = LEASE_SECONDS
    integration_settings.WORK_QUEUED_LEASE_SECONDS = 60
    archive = noisy_scans(tmp_path / "scans.zip")
    workers = [start_worker(shared_media_root, tmp_path, queues="default", name="seq-1",
                            extra_env=LEASE_ENV)]
    try:
        with open(archive, "rb") as handle:
            clip = uploads.upload_file_object(user=technician(), film=FilmFactory(),
                                              handle=handle, filename=archive.name,
                                              size=archive.stat().st_size, frame_rate="24")
        assert clip.status == Clip.Status.INGESTING  # the request did not encode
        wait_for(lambda: Clip.objects.filter(pk=clip.pk, ingest_done__gt=0).exists(),
                 timeout=120, interval=0.05, what="the encode to start",
                 log=lambda: workers[0].log()[-4000:])
        workers[0].kill(signal.SIGKILL)
        clip.refresh_from_db()
        assert clip.status == Clip.Status.INGESTING and clip.ingest_done < FRAMES, (
            "the encode finished before it could be killed")
        token = leases.get(WorkLease.Kind.SEQUENCE, clip.pk).token
        workers.append(start_worker(shared_media_root, tmp_path, queues="default",
                                    name="seq-2", extra_env=LEASE_ENV))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            sweeper.sweep()
            clip.refresh_from_db()
            if clip.status in (Clip.Status.READY, Clip.Status.FAILED):
                break
            time.sleep(0.5)
        assert clip.status == Clip.Status.READY, f"{clip.status}: {clip.error}\n{workers[1].log()[-4000:]}"
    finally:
        for worker in workers:
            worker.kill(signal.SIGKILL)
    lease = leases.get(WorkLease.Kind.SEQUENCE, clip.pk)
    assert lease.attempt == 2 and lease.token != token and lease.expires_at is None
    assert clip.frame_count == FRAMES and clip.video_codec == "ffv1"
    assert not clip.sequence_archive
    folder = Path(default_storage.path(clip.source.name)).parent
    stored = [p for p in Path(default_storage.location).rglob("*") if p.is_file()]
    assert [p.name for p in stored if p.suffix in (".mkv", ".zip")] == ["source.mkv"]
    assert all(p.parent == folder for p in stored if p.name == "source.mkv")
