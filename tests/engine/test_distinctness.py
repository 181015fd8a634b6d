"""How different two renders look: ColorVideoVDP JOD and the difference map, on
generated frames (no media needed; cvvdp runs on the CPU, offline)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from gpu_worker.engine import distinctness as dist

H, W = 120, 160


def _texture(seed: int = 0) -> np.ndarray:
    """Sharp, busy detail (edges and fine texture) a blur visibly destroys."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    base = 128 + 90 * np.sign(np.sin(xx / 3.0)) * np.sign(np.cos(yy / 5.0))
    noise = rng.normal(0, 20, (H, W))
    grey = np.clip(base + noise, 0, 255)
    return np.stack([grey, grey * 0.9, grey * 0.8], -1).astype(np.uint8)


def _blurred(img: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), 3.0)


def _write(path, frames: list[np.ndarray]) -> str:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv444p"
        stream.options = {"crf": "0"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


def test_frame_positions_spread_over_the_excerpt():
    assert dist.frame_positions(48, 4) == [9, 19, 28, 38]
    assert dist.frame_positions(3, 4) == [0, 1, 2]
    assert dist.frame_positions(0) == []
    assert dist.frame_positions(1, 4) == [0]


@pytest.mark.slow
def test_identical_frames_score_ten_and_a_strong_blur_is_clearly_distinct(tmp_path):
    frames = [_texture(i) for i in range(2)]
    same = dist.compare_frames(frames, [f.copy() for f in frames], device="cpu")
    assert same.jod == pytest.approx(10.0, abs=0.01) and same.difference < 0.01
    heat = tmp_path / "maps" / "blur.png"
    blur = dist.compare_frames(
        frames, [_blurred(f) for f in frames], positions=[5, 9], map_path=heat, device="cpu"
    )
    assert blur.difference > 1.0  # far past a just-noticeable difference
    assert len(blur.per_frame) == 2 and blur.worst_position in (5, 9)
    assert blur.map_path == str(heat)
    picture = cv2.imread(str(heat))
    assert picture.shape == (H, W, 3)
    # The map is not flat: the differences sit on the edges and texture.
    assert picture.std() > 5


@pytest.mark.slow
def test_compare_videos_decodes_the_same_positions(tmp_path):
    frames = [_texture(i) for i in range(8)]
    a = _write(tmp_path / "a.mp4", frames)
    b = _write(tmp_path / "b.mp4", [_blurred(f) for f in frames])
    result = dist.compare_videos(a, b, count=2, map_path=tmp_path / "m.png", device="cpu")
    assert result.positions == dist.frame_positions(8, 2)
    assert result.difference > 1.0 and (tmp_path / "m.png").is_file()
    assert result.to_dict()["difference"] == result.difference
    twin = dist.compare_videos(a, a, count=1, device="cpu")
    assert twin.jod == pytest.approx(10.0, abs=0.01)


def test_mismatched_inputs_are_refused(tmp_path):
    with pytest.raises(dist.DistinctnessError, match="same number of frames"):
        dist.compare_frames([_texture()], [], device="cpu")
    with pytest.raises(dist.DistinctnessError, match="differ in size"):
        dist.compare_frames([_texture()], [_texture()[:60]], device="cpu")
    a = _write(tmp_path / "a.mp4", [_texture()] * 2)
    small = tmp_path / "s.mp4"
    with av.open(str(small), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for packet in stream.encode(
            av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
        ):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(dist.DistinctnessError, match="differ in size"):
        dist.compare_videos(a, small, device="cpu")


def test_the_display_model_and_tables_ship_with_the_wheel():
    """Nothing is fetched at run time: the display, CSF and calibration files are local."""
    from pathlib import Path

    import pycvvdp

    data = Path(pycvvdp.__file__).parent / "vvdp_data"
    assert (data / "display_models.json").is_file() and (data / "cvvdp_parameters.json").is_file()
    assert dist.DISPLAY in (data / "display_models.json").read_text()
