"""In chromium: a fan opens a contest link on a phone-sized screen, watches two
synchronised players, votes, and a second browser sees the tally change live over the
websocket. The players' frame sync (max drift of the follower against the master
clock) is read from the page and bounded."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

FPS = 24
FRAMES = 96  # 4 s excerpts
MAX_DRIFT_MS = 2 * 1000 / FPS  # two frames


def make_excerpt(path: Path, tint: tuple[int, int, int]) -> Path:
    """A test excerpt: a tinted field, a bar moving 3 px a frame and the frame number as
    binary blocks, so a screenshot shows at a glance whether the two sides line up."""
    import av
    import numpy as np

    width, height = 320, 240
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": "12", "preset": "ultrafast"}  # short GOPs: quick, exact seeks
        for i in range(FRAMES):
            img = np.empty((height, width, 3), np.uint8)
            img[:] = tint
            x = (i * 3) % width
            img[:, x:x + 6] = 255
            for bit in range(7):
                if (i >> bit) & 1:
                    img[8:28, 8 + bit * 24:28 + bit * 24] = 20
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def seed_contest() -> None:
    """Run inside the embedded site's environment (manage.py shell): a film, a clip, two
    finished variant renders and an open contest; prints its slug as JSON."""
    import hashlib
    import random
    import tempfile

    from django.core.files import File

    from restoration.models import Clip, Film, Preset, PresetVersion, Variant
    from voting import services

    film = Film.objects.create(title="Voting test film", year=1925)
    clip = Clip.objects.create(film=film, title="Excerpt", source="clips/voting-test/source.mp4",
                               status=Clip.Status.READY, fps=FPS, width=320, height=240, frame_count=FRAMES)
    variants = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, tint in enumerate([(150, 120, 80), (90, 90, 95)]):
            spec = {"ops": [{"op": "grain", "params": {"strength": n}}], "seed": 1}
            digest = hashlib.sha256(json.dumps(spec).encode()).hexdigest()
            preset = Preset.objects.create(name=f"voting-browser-{n}-{digest[:6]}")
            version = PresetVersion.objects.create(preset=preset, number=1, spec=spec, spec_hash=digest)
            variant = Variant.objects.create(clip=clip, preset_version=version, spec=spec, spec_hash=digest,
                                             start_frame=0, end_frame=FRAMES, status=Variant.Status.DONE)
            with open(make_excerpt(Path(tmp) / f"v{n}.mp4", tint), "rb") as handle:
                variant.output.save(f"variant-{n}.mp4", File(handle), save=True)
            variants.append(variant)
    contest = services.open_contest(clip=clip, variants=variants, rng=random.Random(1), min_watch_seconds=2,
                                    golden_rate=0, title="Browser test")
    print(json.dumps({"slug": contest.slug, "id": contest.pk}))


def test_fan_votes_on_a_phone_and_a_second_browser_sees_the_tally_live(embedded_site, browser, artifacts):
    out = embedded_site.manage("shell", "-c", "from tests.browser.test_voting import seed_contest; seed_contest()")
    contest = json.loads(out.strip().splitlines()[-1])
    vote_url = f"{embedded_site.url}/vote/c/{contest['slug']}/"

    watcher = browser.new_context(viewport={"width": 1200, "height": 900})
    results = watcher.new_page()
    results.goto(vote_url + "results/")
    results.wait_for_selector("#tally[data-socket=open]", timeout=20_000)
    assert results.locator('[data-tally="n_ballots"]').inner_text() == "0"

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2)
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(vote_url)
    page.wait_for_selector("#vote-app[data-state=watching]", timeout=30_000)
    assert page.locator("#vote-left").is_disabled()  # not watched long enough yet

    # Both players play; the buttons unlock only when the server says both sides were
    # watched for the minimum time (heartbeats every second, min 2 s).
    page.wait_for_selector("#vote-left:not([disabled])", timeout=30_000)
    assert page.evaluate("!document.getElementById('video-left').paused && !document.getElementById('video-right').paused")
    page.screenshot(path=str(artifacts / "phone-side-by-side.png"), full_page=True)

    # Let them play on (through a loop) and read the measured sync.
    page.wait_for_timeout(4500)
    sync = page.evaluate("({...window.reelSync})")
    assert sync["samples"] > 50, sync
    assert sync["maxDriftMs"] < MAX_DRIFT_MS, sync
    (artifacts / "sync.json").write_text(json.dumps(sync, indent=2))
    print(f"\nframe sync over {sync['samples']} samples: max drift {sync['maxDriftMs']:.1f} ms "
          f"(including settling after seeks {sync['maxDriftMsAll']:.1f} ms), {sync['nudges']} rate nudges, "
          f"{sync['hardSeeks']} re-seeks")

    # The corrector at work: knock the follower off by half a second (re-seek), then by a
    # few frames (playback-rate nudge); both times it comes back within a frame. The knock
    # is given mid-excerpt: pushed past its end, the follower would simply be put back by
    # the loop, with nothing for the corrector to do.
    knock = """async (seconds) => {
        const left = document.getElementById('video-left');
        while (!(left.currentTime > 0.3 && left.currentTime < left.duration - 1.5))
            await new Promise(r => setTimeout(r, 20));
        document.getElementById('video-right').currentTime += seconds;
    }"""
    page.evaluate(knock, 0.5)
    page.wait_for_function("() => window.reelSync.hardSeeks >= 1", timeout=60_000)
    page.wait_for_function(f"() => window.reelSync.lastDriftMs < {1000 / FPS}", timeout=20_000)
    page.evaluate(knock, 0.07)
    page.wait_for_function("() => window.reelSync.nudges >= 1", timeout=20_000)
    page.wait_for_function(f"() => window.reelSync.lastDriftMs < {1000 / FPS}", timeout=20_000)

    # Wipe and toggle modes, zoom with pan, frame stepping keeps both sides on one frame.
    page.click("button[data-mode=wipe]")
    assert "mode-wipe" in page.locator("#stage").get_attribute("class")
    page.screenshot(path=str(artifacts / "phone-wipe.png"))
    page.click("#zoom-in")
    assert "scale(1.5)" in page.locator("#video-right").get_attribute("style")
    assert page.locator("#video-left").get_attribute("style") == page.locator("#video-right").get_attribute("style")
    page.click("#zoom-reset")
    page.click("button[data-mode=toggle]")
    assert page.locator(".pane-right").get_attribute("class").count("pane-hidden") == 1
    page.click("button[data-mode=side]")
    page.click("#play")  # pause
    page.click("#step-fwd")
    page.wait_for_timeout(300)
    times = page.evaluate("[document.getElementById('video-left').currentTime, document.getElementById('video-right').currentTime]")
    assert abs(times[0] - times[1]) < 1e-3, times
    page.click("#play")

    page.click("#vote-left")
    page.wait_for_selector("#after-vote:not([hidden])", timeout=20_000)
    # The ballot's answer carries no tally (it would tell which label the fan's side was):
    # the page's tally follows the public live tally.
    page.wait_for_function("() => document.querySelector('#tally [data-tally=\"n_ballots\"]').textContent === '1'",
                           timeout=20_000)
    page.screenshot(path=str(artifacts / "phone-after-vote.png"), full_page=True)

    # The other browser never reloaded: the websocket brought the new tally.
    results.wait_for_function("() => document.querySelector('[data-tally=\"n_ballots\"]').textContent === '1'",
                              timeout=20_000)
    assert results.locator('#tally tbody[data-tally="items"] tr').count() == 2  # the tiers table has its own rows
    results.wait_for_function("() => [...document.querySelectorAll('img[data-plot]')].every(i => i.complete && i.src.includes('?v=1%3A'))",
                              timeout=20_000)
    results.screenshot(path=str(artifacts / "results-live.png"), full_page=True)

    # Two variants make one pair: this fan is done.
    page.click("#next-pair")
    page.wait_for_selector("#done-note:not([hidden])", timeout=20_000)
    assert errors == [], errors
    phone.close()

    # The technician's dashboard: the same live tally, plus which label is which preset.
    user, password = embedded_site.add_user("vera", "technician")
    tech = watcher.new_page()
    log_in(tech, embedded_site, user, password)
    tech.goto(f"{embedded_site.url}/vote/manage/{contest['id']}/")
    tech.wait_for_selector("#tally[data-socket=open]", timeout=20_000)
    assert tech.locator('[data-tally="n_ballots"]').inner_text() == "1"
    assert "voting-browser-" in tech.locator('#tally tbody[data-tally="items"]').inner_text()  # the legend column
    assert tech.locator(".qr svg").count() == 1
    tech.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    watcher.close()


def seed_prores_contest() -> None:
    """Like seed_contest, but each variant's master is ProRes in MOV (no browser plays
    it) with its H.264 proxy beside it, as the worker leaves them; prints the slug."""
    import hashlib
    import random
    import tempfile

    import av
    from django.core.files import File

    from gpu_worker.engine.media import make_proxy
    from restoration.models import Clip, Film, Preset, PresetVersion, Variant
    from voting import services

    film = Film.objects.create(title="ProRes voting film", year=1927)
    clip = Clip.objects.create(film=film, title="ProRes excerpt", source="clips/prores-test/source.mp4",
                               status=Clip.Status.READY, fps=FPS, width=320, height=240, frame_count=FRAMES)
    variants = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, tint in enumerate([(160, 110, 70), (80, 95, 110)]):
            spec = {"ops": [{"op": "grain", "params": {"strength": n}}], "seed": 2,
                    "encode": {"codec": "prores", "prores_profile": 0}}
            digest = hashlib.sha256(json.dumps(spec).encode()).hexdigest()
            preset = Preset.objects.create(name=f"prores-browser-{n}-{digest[:6]}")
            version = PresetVersion.objects.create(preset=preset, number=1, spec=spec, spec_hash=digest)
            variant = Variant.objects.create(clip=clip, preset_version=version, spec=spec, spec_hash=digest,
                                             start_frame=0, end_frame=FRAMES, status=Variant.Status.DONE)
            h264 = make_excerpt(Path(tmp) / f"src{n}.mp4", tint)
            master = Path(tmp) / f"v{n}.mov"
            with av.open(str(h264)) as src, av.open(str(master), "w") as out:
                stream = out.add_stream("prores_ks", rate=Fraction(FPS))
                stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv422p10le"
                stream.options = {"profile": "0"}
                stream.codec_context.time_base = Fraction(1, FPS)
                for i, frame in enumerate(src.decode(video=0)):
                    picture = frame.reformat(format="yuv422p10le")
                    picture.pts, picture.time_base = i, Fraction(1, FPS)
                    for packet in stream.encode(picture):
                        out.mux(packet)
                for packet in stream.encode():
                    out.mux(packet)
            proxy = make_proxy(master, Path(tmp) / f"v{n}.proxy.mp4", audio=False)
            with open(master, "rb") as handle:
                variant.output.save(f"variant-{n}.mov", File(handle), save=False)
            with open(proxy, "rb") as handle:
                variant.proxy.save(f"variant-{n}.proxy.mp4", File(handle), save=False)
            variant.save()
            variants.append(variant)
    contest = services.open_contest(clip=clip, variants=variants, rng=random.Random(2), min_watch_seconds=2,
                                    golden_rate=0, title="ProRes browser test")
    print(json.dumps({"slug": contest.slug, "id": contest.pk}))


def test_a_prores_variant_is_voted_on_through_its_h264_proxy(embedded_site, browser, artifacts):
    out = embedded_site.manage("shell", "-c",
                               "from tests.browser.test_voting import seed_prores_contest; seed_prores_contest()")
    contest = json.loads(out.strip().splitlines()[-1])
    vote_url = f"{embedded_site.url}/vote/c/{contest['slug']}/"
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(vote_url)
    page.wait_for_selector("#vote-app[data-state=watching]", timeout=30_000)
    # Chromium decodes no ProRes: both sides playing (a picture, time moving) shows the
    # players were given the H.264 proxies, and the watch time they earn unlocks the vote.
    page.wait_for_selector("#vote-left:not([disabled])", timeout=30_000)
    state = page.evaluate("""['video-left', 'video-right'].map(id => {
        const v = document.getElementById(id);
        return {error: v.error && v.error.code, width: v.videoWidth, time: v.currentTime, paused: v.paused};
    })""")
    assert all(s["error"] is None and s["width"] == 320 and s["time"] > 0 and not s["paused"] for s in state), state
    page.screenshot(path=str(artifacts / "prores-proxy-players.png"))
    page.click("#vote-right")
    page.wait_for_selector("#after-vote:not([hidden])", timeout=20_000)
    page.wait_for_function("() => document.querySelector('#tally [data-tally=\"n_ballots\"]').textContent === '1'",
                           timeout=20_000)
    assert errors == [], errors
    context.close()
