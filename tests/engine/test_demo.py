"""The demo film: a real, decodable, damaged clip with sound, made in seconds."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from gpu_worker.engine.analysis import analyze
from gpu_worker.engine.demo import demo_audio, demo_frames, make_demo_film
from gpu_worker.engine.io import probe, read_frames


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo.mp4"
    start = time.process_time()
    make_demo_film(out, seconds=3.0, fps=24, width=320, height=240, seed=3)
    # CPU time, not wall time: the machine may be shared, the work must stay small.
    assert time.process_time() - start < 20
    return out


def test_decodes_with_the_right_frames_and_size(film: Path) -> None:
    info = probe(film)
    assert (info.width, info.height) == (320, 240)
    assert info.video_codec == "h264"
    assert info.fps == pytest.approx(24.0)
    frames = list(read_frames(film))
    assert len(frames) == 72
    assert frames[0].shape == (240, 320, 3)
    assert not film.with_name("demo.partial.mp4").exists()


def test_has_an_aac_soundtrack_as_long_as_the_picture(film: Path) -> None:
    with av.open(str(film)) as c:
        assert c.streams.audio, "no audio stream"
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac"
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(a)])
        rate = a.codec_context.sample_rate
    assert abs(len(samples) / rate - 3.0) < 0.1
    assert 0.01 < float(np.sqrt(np.mean(samples**2))) < 0.5  # audible, not clipped


def test_analysis_finds_the_damage_and_the_cuts(film: Path) -> None:
    report = analyze(film, faces=False)
    s = report["summary"]
    assert s["flicker"]["level"] != "none"
    assert s["dust"]["level"] != "none"
    assert s["scratches"]["frames_fraction"] > 0.2
    assert s["colour"]["cast"] in ("sepia", "orange", "yellow")
    assert s["scenes"]["count"] == 3  # title card, landscape, street
    assert report["source"]["has_audio"]


def test_same_seed_same_film_and_other_seed_differs() -> None:
    a = list(demo_frames(seconds=0.5, fps=8, width=160, height=120, seed=1))
    b = list(demo_frames(seconds=0.5, fps=8, width=160, height=120, seed=1))
    c = list(demo_frames(seconds=0.5, fps=8, width=160, height=120, seed=2))
    assert len(a) == 4
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert np.array_equal(demo_audio(1.0, 24, seed=5), demo_audio(1.0, 24, seed=5))


def test_rejects_odd_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_demo_film(tmp_path / "x.mp4", width=321, height=240)
