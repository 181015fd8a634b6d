"""regions: face/person/background masks, ops limited to a region in the spec and the
pipeline (the other region passes through bit for bit), validation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine import io, pipeline
from gpu_worker.engine.faces import Box
from gpu_worker.engine.pipeline import FrameItem, RegionStage, build_stages, process_frames
from gpu_worker.engine.regions import (
    RegionAnnotator,
    RegionMasks,
    apply_region,
    face_mask,
    person_mask,
    person_template,
)
from gpu_worker.engine.registry import SpecError
from gpu_worker.engine.spec import apply_overrides, parse_spec
from tests.conftest import media_file
from tests.engine.test_io import write_clip


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    """240x240 RGB: the astronaut's head and shoulders."""
    img = cv2.imread(str(media_file("clean/astronaut.png")), cv2.IMREAD_COLOR)
    img = cv2.resize(img[0:480, 20:500], (240, 240), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img[..., ::-1])


def _frames(portrait: np.ndarray, n: int) -> list[np.ndarray]:
    """A still moved a few pixels per frame (a slow pan)."""
    out = []
    for i in range(n):
        m = np.float32([[1, 0, 2 * i], [0, 1, i]])
        out.append(cv2.warpAffine(portrait, m, (240, 240), borderMode=cv2.BORDER_REFLECT))
    return out


def _items(frames: list[np.ndarray]) -> list[FrameItem]:
    return [FrameItem(index=i, pts=i * 1000, duration=1000, scene=0,
                      tensor=torch.from_numpy(f).permute(2, 0, 1).float() / 255.0)
            for i, f in enumerate(frames)]


# -- masks ------------------------------------------------------------------------------------
def test_face_and_person_shapes_from_a_box() -> None:
    box = Box(40, 30, 40, 40)
    face = face_mask((160, 120), [box])
    assert face.shape == (160, 120) and face[50, 60] == 1.0 and face[5, 5] == 0.0
    assert face[150, 60] == 0.0  # not below the chin
    template = person_template((160, 120), [box])
    assert template[50, 60] == 1 and template[150, 60] == 1  # head and body below it
    assert template[150, 2] == 0 or template[10, 2] == 0  # not the whole frame
    assert template[5, 5] == 0
    assert face_mask((10, 10), []).max() == 0.0
    assert person_mask(np.zeros((10, 10, 3), np.uint8), []).max() == 0.0


def test_region_masks_resize_and_complement() -> None:
    face = np.zeros((20, 30), np.float32)
    face[5:10, 10:20] = 1.0
    person = np.maximum(face, 0.5)
    masks = RegionMasks(face=face, person=person, faces=[])
    m = masks.mask("face", 40, 60)
    assert m.shape == (1, 40, 60) and float(m.max()) == 1.0 and float(m[0, 0, 0]) == 0.0
    assert np.allclose(masks.array("background"), 1.0 - person)
    assert masks.array("all").min() == 1.0
    with pytest.raises(ValueError, match="unknown region"):
        masks.array("sky")


def test_apply_region_is_exact_outside_and_inside() -> None:
    before = torch.rand(1, 3, 20, 30)
    after = torch.rand(1, 3, 20, 30)
    face = np.zeros((20, 30), np.float32)
    face[5:15, 10:20] = 1.0
    face[5:15, 9] = 0.5
    masks = [RegionMasks(face=face, person=face, faces=[])]
    out = apply_region(before, after, masks, "face")
    assert torch.equal(out[..., :, :9], before[..., :, :9])  # mask 0: the input, exactly
    assert torch.equal(out[..., 5:15, 10:20], after[..., 5:15, 10:20])  # mask 1: the op
    assert torch.allclose(out[..., 5:15, 9], 0.5 * (before + after)[..., 5:15, 9])
    assert torch.equal(apply_region(before, after, masks, "all"), after)


@pytest.mark.media
def test_person_mask_on_a_real_portrait(portrait: np.ndarray) -> None:
    annotator = RegionAnnotator()
    x = torch.from_numpy(portrait).permute(2, 0, 1)[None].float() / 255.0
    annotator.process(x, torch.zeros(1, 1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64))
    masks = annotator.last_masks[0]
    assert len(masks.faces) == 1
    f = masks.faces[0]
    person = masks.mask("person", 240, 240)[0].numpy()
    face = masks.mask("face", 240, 240)[0].numpy()
    cx, cy = int(f.cx), int(f.cy)
    assert face[cy, cx] > 0.99 and person[cy, cx] > 0.99
    assert person[min(239, int(f.y + 2.2 * f.h)), cx] > 0.5  # her chest, below the face
    assert person[5, 5] < 0.05 and person[5, 234] < 0.05  # the sky beside her head
    assert (face <= person + 1e-6).all()  # the face is part of the person
    assert 0.1 < float(person.mean()) < 0.7


# -- in the pipeline ------------------------------------------------------------------------
@pytest.mark.media
def test_masked_ops_leave_the_other_region_bit_identical(portrait: np.ndarray) -> None:
    frames = _frames(portrait, 4)
    spec = parse_spec([{"op": "sharpen", "params": {"amount": 2.0, "threshold": 0.0},
                        "region": "face"},
                       {"op": "grain", "params": {"strength": 1.0}, "region": "background"}])
    ops = pipeline.build_operators(spec, width=240, height=240, fps=24,
                                   device=torch.device("cpu"))
    stages = build_stages(spec, ops, batch_size=2)
    assert isinstance(stages[0], RegionStage) and [s.region for s in stages[1:]] == \
        ["face", "background"]
    out = list(process_frames(_items(frames), stages))
    assert [o.index for o in out] == list(range(4))
    for item, src in zip(out, frames, strict=True):
        y = item.tensor
        x = torch.from_numpy(src).permute(2, 0, 1).float() / 255.0
        masks = item.regions
        assert masks is not None and len(masks.faces) == 1
        face = masks.mask("face", 240, 240)[0]
        person = masks.mask("person", 240, 240)[0]
        changed = (y != x).any(0)
        # Inside the person but outside the face nothing may change: neither op acts.
        untouched = (face <= 0) & (person >= 1)
        assert untouched.sum() > 500 and not changed[untouched].any()
        assert changed[face >= 1].float().mean() > 0.5  # the face was sharpened
        assert changed[person <= 0].float().mean() > 0.5  # the background got grain


def test_spec_regions_validate_and_keep_old_hashes() -> None:
    plain = parse_spec([{"op": "sharpen"}])
    same = parse_spec([{"op": "sharpen", "region": "all"}])
    assert plain.to_dict() == same.to_dict() and plain.spec_hash == same.spec_hash
    assert "region" not in plain.to_dict()["ops"][0] and not plain.uses_regions
    face = parse_spec([{"op": "sharpen", "region": "face"}])
    assert face.to_dict()["ops"][0]["region"] == "face" and face.uses_regions
    assert face.spec_hash != plain.spec_hash
    assert parse_spec(face.to_dict()).spec_hash == face.spec_hash  # round trip
    with pytest.raises(SpecError, match=r"op #1 \(sharpen\): region 'sky' is not one of "
                       r"all, face, person, background") as err:
        parse_spec([{"op": "sharpen", "region": "sky"}])
    assert err.value.param == "region"
    with pytest.raises(SpecError, match=r"op #2 \(resize\): resize changes the frame size, "
                       r"so it cannot be limited to a region"):
        parse_spec([{"op": "sharpen"}, {"op": "resize", "params": {"scale": 0.5},
                                          "region": "face"}])
    with pytest.raises(SpecError, match="unknown key 'regoin'"):
        parse_spec([{"op": "sharpen", "regoin": "face"}])
    variant = apply_overrides(plain, {"sharpen.region": "background"})
    assert variant.ops[0].region == "background"


@pytest.mark.media
@pytest.mark.slow
def test_render_with_regions_and_excerpts_match(tmp_path, portrait: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    frames = _frames(portrait, 8)
    src = write_clip(tmp_path / "pan.mp4", 8, width=240, height=240,
                     frame_fn=lambda i, w, h: frames[i])
    spec = {"ops": [{"op": "sharpen", "params": {"amount": 1.5}, "region": "face"}],
            "encode": {"codec": "h264", "crf": 0, "pix_fmt": "yuv444p"}}
    full = pipeline.render(src, tmp_path / "full.mp4", spec)
    part = pipeline.render(src, tmp_path / "part.mp4", spec, start=4, end=7)
    assert full.frames == 8 and part.frames == 3
    a = list(io.read_frames(tmp_path / "full.mp4"))[4:7]
    b = list(io.read_frames(tmp_path / "part.mp4"))
    for fa, fb in zip(a, b, strict=True):
        assert np.array_equal(fa, fb)  # the masks of an excerpt are the full render's
    plain = list(io.read_frames(src))
    assert not np.array_equal(a[0], plain[4])
