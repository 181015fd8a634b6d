"""The embedded default, killed for real: `manage.py run_embedded` (SQLite, kombu's
filesystem broker, web + workers as supervised child processes), the `gpu` worker
SIGKILLed mid-render. The filesystem broker has dropped the message; the supervisor
restarts the worker and its sweeper thread sends the render again once its lease
expires. Before leases, this render stayed "rendering" for good. And the same site
sharing its default worker: an upload is probed while another clip is analysed.

Needs no Redis or PostgreSQL: the site under test runs in its own var folder; this
test writes to its database through `manage.py shell` and reads it with sqlite3.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from tests.conftest import embedded_database, free_port, media_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

SETUP = """
import json
from pathlib import Path
from restoration.models import Film
from restoration.services.uploads import ingest_file
film = Film.objects.create(title="Crash reel")
clip = ingest_file(Path({source!r}), film=film, user=None, original_filename={name!r})
print(json.dumps({{"clip": clip.pk}}))
"""

DISPATCH = """
import json
from restoration.models import Clip
from restoration.rendering import sweeps, variants
from restoration.services import presets
clip = Clip.objects.get(pk={clip})
spec = {{"ops": [{{"op": "colour_scheme", "params": {{"look": "warm_period", "amount": 0.8}}}}],
        "seed": 0, "encode": {{"codec": "h264", "crf": 28, "preset": "ultrafast", "threads": 1}}}}
version = presets.create_preset("Embedded crash", spec, user=None)
variant = sweeps.create_sweep(clip, version, {{}}, start=0, end=300, dispatch=False)[0]
job = variants.dispatch_variant(variant)
print(json.dumps({{"job": job.pk}}))
"""

def read_state(var: Path, clip: int, job: int) -> dict:
    """The clip's and the render's state, read straight from the site's SQLite database
    (read-only, beside the running site): a `manage.py shell` per look would take seconds
    of the two cores the render needs, and see the end seconds late."""
    with embedded_database(var) as db:
        row = db.execute("SELECT status, error, analysis_status FROM restoration_clip WHERE id = ?",
                         (clip,)).fetchone()
        out: dict = {"clip": dict(zip(("status", "error", "analysis_status"), row, strict=True))
                     if row else None}
        row = db.execute("SELECT status, frames_done, error, output, result FROM restoration_renderjob "
                         "WHERE id = ?", (job,)).fetchone()
        if row is not None:
            status, frames_done, error, output, result = row
            lease = db.execute("SELECT attempt, token, expires_at FROM restoration_worklease "
                               "WHERE kind = 'variant' AND object_id = ?", (job,)).fetchone()
            out["job"] = {"status": status, "frames_done": frames_done, "error": error,
                          "output": output, "result_lease": json.loads(result or "{}").get("lease"),
                          "lease_attempt": lease[0] if lease else None,
                          "lease_token": lease[1] if lease else None,
                          "lease_held": bool(lease and lease[2])}
    return out


def children_of(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


@pytest.fixture
def embedded_site(tmp_path, request):
    var = tmp_path / "var"
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "REDIS_CACHE_URL", "DJANGO_SETTINGS_MODULE")
    }
    environ.update(
        {
            "REEL_ARENA_VAR_DIR": str(var),
            "MEDIA_ROOT": str(var / "media"),
            "DEMO_FILM_ON_START": "0",
            "DEBUG": "1",
            "PYTHONUNBUFFERED": "1",
            # Short enough to test recovery quickly, long enough that a live render whose
            # heartbeat writer is starved by an analysis on the same two cores is not
            # taken for dead.
            "WORK_LEASE_SECONDS": "10",
            "WORK_QUEUED_LEASE_SECONDS": "300",
            "SWEEP_INTERVAL_SECONDS": "1",
            "ANALYZE_AFTER_PROBE": "0",
            # a test's own settings (parametrize embedded_site indirectly)
            **getattr(request, "param", {}),
        }
    )
    log_path = tmp_path / "embedded.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_embedded", "--port", str(free_port()), "--no-demo"],
        cwd=REPO,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def shell(code: str) -> dict:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=REPO,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    site = {
        "process": process,
        "shell": shell,
        "var": var,
        "log": lambda: log_path.read_text(errors="replace")[-6000:],
        "full_log": lambda: log_path.read_text(errors="replace"),
    }
    deadline = time.monotonic() + 120
    while len(children_of(process.pid)) < 3:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"run_embedded did not start:\n{site['log']()}")
        time.sleep(0.5)
    yield site
    # The test has read everything it needs: the whole process group goes at once. A
    # SIGTERM to the group took 6-16 s here (each Celery worker's warm shutdown starts a
    # new pool process in place of the one the same signal ended, then stops it).
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def wait_state(site, clip: int, job: int, predicate, *, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = read_state(site["var"], clip, job)
        if predicate(state):
            return state
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {state}\n{site['log']()}")


def test_embedded_render_killed_with_its_gpu_worker_is_recovered(embedded_site):
    site = embedded_site
    source = media_file("old_film/muybridge_buffalo.mp4")
    clip = site["shell"](SETUP.format(source=str(source), name="buffalo.mp4"))["clip"]
    wait_state(
        site, clip, 0, lambda s: s["clip"]["status"] == "ready", timeout=90, what="the clip's probe"
    )
    job = site["shell"](DISPATCH.format(clip=clip))["job"]
    # Watched on disk (a `manage.py shell` round trip takes seconds, and the embedded
    # default records progress seconds behind the render): the engine's temporary
    # output file exists once frames are being written, and the render is then still
    # far from its 300 frames.
    renders = site["var"] / "media" / "renders" / "variants"
    deadline = time.monotonic() + 120
    while not [p for p in renders.glob("clip-*/.*.part.mp4") if p.stat().st_size > 0]:
        assert time.monotonic() < deadline, f"the render did not start\n{site['log']()}"
        time.sleep(0.1)
    time.sleep(1)
    (marker,) = (site["var"] / "media" / "renders" / "control").glob("job-*/lease")
    first_token = marker.read_text()
    gpu = [pid for pid, cmd in children_of(site["process"].pid) if "gpu@" in cmd]
    assert len(gpu) == 1, children_of(site["process"].pid)
    # The worker first (so it cannot hand the message back to the broker), then the
    # pool process doing the render: `kill -9` of the whole worker.
    pool = children_of(gpu[0])
    os.kill(gpu[0], signal.SIGKILL)
    for pid, _cmd in pool:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    after = read_state(site["var"], clip, job)["job"]
    assert after["status"] in ("queued", "running"), (
        f"the render ended before it was killed: {after}"
    )

    final = wait_state(
        site,
        clip,
        job,
        lambda s: s["job"]["status"] in ("done", "failed"),
        timeout=150,
        what="the render to end",
    )
    recovered_in = time.monotonic() - killed_at
    state = final["job"]
    assert state["status"] == "done", f"{state}\n{site['log']()}"
    assert state["lease_attempt"] == 2 and state["lease_token"] != first_token, site["log"]()
    assert state["result_lease"] == state["lease_token"] and not state["lease_held"]
    assert (
        "gpu-worker exited with -9; restarting" in site["full_log"]()
    )  # the supervisor restarted the killed worker
    output = site["var"] / "media" / state["output"]
    with av.open(str(output)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 300
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]
    print(f"\nembedded: recovered {recovered_in:.1f}s after SIGKILL (lease 10s, sweep every 1s)")


@pytest.mark.parametrize("embedded_site", [{"ANALYZE_AFTER_PROBE": "1"}], indirect=True)
def test_an_upload_is_probed_while_another_clip_is_analysed(embedded_site):
    """On first start the demo film's analysis takes tens of seconds; a newcomer's first
    upload used to wait behind it on the embedded default's one default-queue process."""
    site = embedded_site
    long_clip = site["shell"](SETUP.format(source=str(media_file("clean/cockatoo_720p.mp4")),
                                           name="cockatoo.mp4"))["clip"]
    wait_state(site, long_clip, 0, lambda s: s["clip"]["analysis_status"] == "running",
               timeout=120, what="the analysis to start")
    upload = site["shell"](SETUP.format(source=str(media_file("old_film/muybridge_buffalo.mp4")),
                                        name="buffalo.mp4"))["clip"]
    wait_state(site, upload, 0, lambda s: s["clip"]["status"] == "ready", timeout=120,
               what="the upload's probe")
    assert read_state(site["var"], long_clip, 0)["clip"]["analysis_status"] == "running", (
        "the upload was probed only after the other clip's analysis\n" + site["log"]())
