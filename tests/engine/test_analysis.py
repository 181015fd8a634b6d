"""Clip analysis: damage found on real old film, not on clean footage; the suggested
spec is valid; the plot is written."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from gpu_worker.engine import analysis, mtcnn
from gpu_worker.engine.analysis import (
    MIN_WHITE_BALANCE,
    analyze,
    analyze_frames,
    detect_faces,
    plot_report,
    suggest_spec,
)
from gpu_worker.engine.damage import DamageConfig, degrade_frames
from gpu_worker.engine.io import read_frames
from gpu_worker.engine.ops import all_operators
from gpu_worker.engine.schema import pipeline_rank
from gpu_worker.engine.spec import parse_spec
from tests.conftest import media_file
from tests.engine.operator_harness import make_operator, run_per_frame, to_tensor


def _check_spec(spec: dict) -> list[str]:
    """Every op and parameter exists and validates; returns the op names."""
    known = all_operators()
    for op in spec["ops"]:
        assert op["op"] in known, op
        known[op["op"]].validate_params(op["params"])
    parse_spec(spec)
    return [op["op"] for op in spec["ops"]]


@pytest.fixture(scope="module")
def cockatoo() -> list[np.ndarray]:
    path = media_file("clean/cockatoo_720p.mp4")
    return [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA)
            for f in read_frames(path, end=36)]


@pytest.fixture(scope="module")
def buffalo_report() -> dict:
    return analyze(media_file("old_film/muybridge_buffalo.mp4"), max_frames=60)


@pytest.fixture(scope="module")
def roundhay_report() -> dict:
    return analyze(media_file("old_film/roundhay_garden_scene.mp4"))


@pytest.mark.media
def test_buffalo_has_flicker_and_dust(buffalo_report: dict) -> None:
    s = buffalo_report["summary"]
    assert s["flicker"]["level"] != "none"
    assert s["dust"]["level"] in ("moderate", "strong")
    assert s["repeats"]["cadence"] == 2  # every film frame is shown twice
    assert s["colour"]["monochrome"]
    kinds = {f["kind"] for f in buffalo_report["findings"]}
    assert {"flicker", "dust"} <= kinds
    ops = _check_spec(suggest_spec(buffalo_report))
    assert ops.index("deflicker") < ops.index("dust")
    dust = next(o for o in suggest_spec(buffalo_report)["ops"] if o["op"] == "dust")
    assert dust["params"]["search"] >= 2  # reaches past the repeat


@pytest.mark.media
def test_roundhay_has_flicker_and_blotches(roundhay_report: dict) -> None:
    s = roundhay_report["summary"]
    assert s["flicker"]["level"] in ("moderate", "strong")
    assert s["blotches"]["level"] != "none"
    assert s["repeats"]["cadence"] == 3
    assert s["scenes"]["count"] == 1
    assert roundhay_report["source"]["width"] == 192
    names = _check_spec(suggest_spec(roundhay_report))
    assert {"deflicker", "dust"} <= set(names)
    json.dumps(roundhay_report)  # JSON-serialisable as promised


@pytest.mark.media
def test_clean_footage_shows_much_less_damage_than_degraded(cockatoo: list[np.ndarray]) -> None:
    clean = analyze_frames(cockatoo, fps=20, faces=False)["summary"]
    damaged_report = analyze_frames(
        degrade_frames(cockatoo, DamageConfig.preset("moderate", fps=20), seed=1),
        fps=20, faces=False)
    damaged = damaged_report["summary"]
    assert damaged["flicker"]["index"] > 5 * clean["flicker"]["index"]
    assert damaged["dust"]["per_frame"] > 4 * max(clean["dust"]["per_frame"], 1.0)
    assert damaged["scratches"]["frames_fraction"] > clean["scratches"]["frames_fraction"] + 0.3
    assert damaged["colour"]["cast"] == "sepia" and clean["colour"]["cast"] != "sepia"
    assert damaged["colour"]["faded"] and not clean["colour"]["faded"]
    assert clean["flicker"]["level"] == "none" and clean["dust"]["level"] == "none"
    assert _check_spec(suggest_spec({"summary": clean})) == []
    ops = _check_spec(suggest_spec(damaged_report))
    assert {"deflicker", "dust", "scratch", "colour_correct"} <= set(ops)
    # The damage model's grain is coarse (clumps about a pixel across): the
    # frame-to-frame estimate must see it, so the grain gets removed.
    assert clean["noise"]["level"] == "none"
    assert damaged["noise"]["level"] in ("moderate", "strong")
    assert "denoise" in ops and ops.index("denoise") < ops.index("colour_correct")
    # Sepia over colour footage is a cast to remove, not a toning to keep.
    assert not damaged["colour"]["toned"]
    cc = next(o for o in suggest_spec(damaged_report)["ops"] if o["op"] == "colour_correct")
    assert cc["params"]["white_balance"] >= 0.7


@pytest.mark.media
def test_a_sepia_toned_black_and_white_print_keeps_its_toning(cockatoo: list[np.ndarray]
                                                               ) -> None:
    grey = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=-1)
            for f in cockatoo[:12]]
    report = analyze_frames(degrade_frames(grey, DamageConfig.preset("moderate", fps=20),
                                           seed=1), fps=20, faces=False)
    c = report["summary"]["colour"]
    assert c["cast"] == "sepia" and not c["monochrome"] and c["toned"]
    cc = next(o for o in suggest_spec(report)["ops"] if o["op"] == "colour_correct")
    assert cc["params"]["white_balance"] <= 0.3


def test_repeats_and_drops_from_the_damage_model(cockatoo: list[np.ndarray]) -> None:
    # Pan the cockatoo steadily so that a missing frame is a visible jump.
    base = cockatoo[0]
    panned = [np.roll(base, 3 * t, axis=1) for t in range(30)]
    report = analyze_frames(
        degrade_frames(panned, DamageConfig(drop=0.08, duplicate=0.1), seed=4),
        fps=20, faces=False)
    s = report["summary"]
    assert s["repeats"]["count"] >= 1
    assert s["drops"]["count"] >= 1
    clean = analyze_frames(panned, fps=20, faces=False)["summary"]
    assert clean["repeats"]["count"] == 0 and clean["drops"]["count"] == 0


@pytest.mark.media
def test_faces_found_on_astronaut_and_not_on_coffee() -> None:
    astro = cv2.cvtColor(cv2.imread(str(media_file("clean/astronaut.png"))), cv2.COLOR_BGR2RGB)
    faces = detect_faces(astro)
    assert len(faces) >= 1
    f = faces[0]
    # Eileen Collins's face is in the upper middle of the 512x512 picture.
    assert 150 < f["x"] + f["w"] / 2 < 300 and 50 < f["y"] + f["h"] / 2 < 220
    coffee = cv2.cvtColor(cv2.imread(str(media_file("clean/coffee.png"))), cv2.COLOR_BGR2RGB)
    assert detect_faces(coffee) == []
    # In a clip: an old-looking shot of the astronaut.
    clip = degrade_frames([astro] * 3, DamageConfig.preset("light"), seed=0)
    summary = analyze_frames(clip, fps=1.0)["summary"]
    assert summary["faces"]["frames_with_faces"] >= 1


@pytest.mark.media
def test_faces_on_an_old_portrait() -> None:
    img = cv2.imread(str(media_file("old_photos/faded_color_h.png")), cv2.IMREAD_COLOR)
    assert detect_faces(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


@pytest.mark.media
@pytest.mark.skipif(mtcnn.weights_dir() is None, reason="MTCNN weights not installed "
                    "(pip install --no-deps facenet-pytorch==2.6.0)")
def test_faces_come_with_landmarks_inside_their_box() -> None:
    img = cv2.imread(str(media_file("faces/kelley_portrait.jpg")), cv2.IMREAD_COLOR)
    (face,) = detect_faces(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    assert len(face["landmarks"]) == 5
    for x, y in face["landmarks"]:
        assert face["x"] <= x <= face["x"] + face["w"] and face["y"] <= y <= face["y"] + face["h"]
    (le, re, nose, lm, rm) = face["landmarks"]
    assert le[0] < re[0] and max(le[1], re[1]) < nose[1] < min(lm[1], rm[1])


@pytest.mark.media
def test_plot_report_writes_png_and_svg(roundhay_report: dict, tmp_path) -> None:  # noqa: ANN001
    png = plot_report(roundhay_report, tmp_path / "report.png")
    svg = plot_report(roundhay_report, tmp_path / "report.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imread(str(png))
    assert img.shape[0] > 500 and img.shape[1] > 700
    text = svg.read_text()
    assert "<svg" in text and "Flicker index" in text


def test_plot_report_speaks_the_callers_words(tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(1)
    frames = [np.clip(rng.normal(110 + 25 * (i % 2), 12, (48, 64, 3)), 0, 255).astype(np.uint8)
              for i in range(16)]
    report = analyze_frames(frames, fps=24, faces=False)
    assert report["findings"] and all("params" in f for f in report["findings"])
    svg = plot_report(report, tmp_path / "report.svg",
                      text={"brightness_axis": "LUMEN-AXIS", "flicker_title": "FLK {index:.1f} {level}"},
                      findings=["FINDING-ONE"], levels={"strong": "VERY"}, op_names={"deflicker": "DEFLK"},
                      font_family=["DejaVu Sans"]).read_text()
    # matplotlib writes each text as a comment beside its glyph paths
    assert "LUMEN-AXIS" in svg and "FINDING-ONE" in svg and "DEFLK" in svg and "FLK" in svg
    assert "brightness" not in svg and report["findings"][0]["text"] not in svg
    english = plot_report(report, tmp_path / "english.svg").read_text()
    assert "brightness" in english and "Flicker index" in english


def test_sampling_and_progress() -> None:
    rng = np.random.default_rng(0)
    frames = [(rng.random((60, 80, 3)) * 40 + 100).astype(np.uint8) for _ in range(12)]
    calls: list[tuple[int, int | None]] = []
    report = analyze_frames(frames, fps=24, sample_every=3, faces=False,
                            progress=lambda d, t: calls.append((d, t)), total=12)
    assert [c[0] for c in calls] == list(range(1, 13))
    measured = [r["frame"] for r in report["frames"] if "noise" in r]
    assert measured == [0, 3, 6, 9]
    assert len(report["frames"]) == 12 and report["summary"]["frames_measured"] == 4
    with pytest.raises(ValueError):
        analyze_frames([], fps=24)


def _summary_of_smooth_clip() -> dict:
    yy, xx = np.mgrid[0:72, 0:96].astype(np.float32)
    frames = [(np.stack([0.5 + 0.3 * np.sin((xx + 2 * t) / 9) * np.cos(yy / 7)] * 3, -1) * 255
               ).astype(np.uint8) for t in range(10)]
    return analyze_frames(frames, fps=24, faces=False)


def _without_damage(report: dict) -> dict:
    """The smooth clip's report with its reading as a faded, soft picture taken away."""
    s = report["summary"]
    s["colour"].update(faded=False, cast="neutral", monochrome=True, fade_confidence=0.0,
                       cast_confidence=0.0)
    s["detail"]["soft"] = False
    return report


def test_suggest_spec_branches_all_validate() -> None:
    report = _summary_of_smooth_clip()
    s = report["summary"]
    # A smooth synthetic grey gradient reads as faded and soft; start from a clean state.
    assert s["colour"]["faded"] and s["detail"]["soft"]
    _without_damage(report)
    assert suggest_spec(report)["ops"] == []
    # Grainy, soft? Sharpening before denoising would amplify the grain: denoise, a
    # light sharpen of what is left (denoising softens edges). No grain is put back:
    # grain is a look for the technician and the audience, not a repair.
    s["noise"]["median"] = 0.035
    s["detail"]["soft"] = True
    s["repeats"]["cadence"] = 2
    names = _check_spec(suggest_spec(report))
    assert names == ["denoise", "sharpen"]
    den = suggest_spec(report)["ops"][0]["params"]
    assert den["strength"] == 2.0 and den["temporal_radius"] == 3
    # Clean but soft and faded with a magenta cast: colour, then sharpen.
    s["noise"]["median"] = 0.002
    s["colour"].update(faded=True, cast="magenta", monochrome=False, fade_confidence=1.0,
                       cast_confidence=1.0, floor=0.12, black3=0.13, white3=0.85,
                       natural_floor=analysis.natural_floor(0.5))  # deep shadows: 0.02
    names = _check_spec(suggest_spec(report))
    assert names == ["colour_correct", "sharpen"]
    cc = suggest_spec(report)["ops"][0]["params"]
    assert cc["white_balance"] == 1.0
    # Faded: the measured lift of the blacks is removed (floor 0.12 back to 0.02, so
    # 0.13 -> 0.03); the whites move by the same compression around the pivot, a
    # little up, not to full white.
    assert cc["contrast"] == 1.0 and cc["black_point"] == pytest.approx(0.03)
    assert 0.85 < cc["white_point"] < 0.95
    # Half the evidence: half the correction, half the white balance.
    s["colour"].update(fade_confidence=0.5, cast_confidence=0.5)
    cc = suggest_spec(report)["ops"][0]["params"]
    assert cc["black_point"] == pytest.approx(0.08) and cc["white_balance"] == 0.5
    # A faded colour film whose cast the evidence missed: still half of the channel
    # imbalance is removed (a warm cast at low confidence likewise); a toned print
    # keeps its toning (0.3 of the evidence) and a monochrome one gets none.
    s["colour"].update(fade_confidence=1.0, cast_confidence=0.0, cast="neutral")
    assert suggest_spec(report)["ops"][0]["params"]["white_balance"] == MIN_WHITE_BALANCE
    s["colour"].update(cast_confidence=0.4, cast="sepia", toned=False)
    assert suggest_spec(report)["ops"][0]["params"]["white_balance"] == MIN_WHITE_BALANCE
    s["colour"].update(cast_confidence=1.0, cast="sepia", toned=False)
    assert suggest_spec(report)["ops"][0]["params"]["white_balance"] == 0.7
    s["colour"].update(toned=True)
    assert suggest_spec(report)["ops"][0]["params"]["white_balance"] == 0.3
    s["colour"].update(cast_confidence=0.0, cast="neutral", monochrome=True)
    assert suggest_spec(report)["ops"][0]["params"]["white_balance"] == 0.0
    s["colour"].update(fade_confidence=0.5, cast_confidence=0.5, cast="magenta",
                       monochrome=False, toned=False)
    # Too little evidence of either: the tones are left alone.
    s["colour"].update(fade_confidence=0.2, cast_confidence=0.2)
    assert _check_spec(suggest_spec(report)) == ["sharpen"]
    s["colour"].update(fade_confidence=1.0, cast_confidence=1.0)
    # Everything at once keeps the documented order.
    s["flicker"]["index"] = 0.05
    s["dust"]["per_frame"] = 50.0
    s["blotches"]["per_frame"] = 2.0
    s["scratches"]["frames_fraction"] = 0.5
    s["noise"]["median"] = 0.02
    names = _check_spec(suggest_spec(report))
    assert names == ["deflicker", "dust", "scratch", "denoise", "colour_correct", "sharpen"]
    # The engine's canonical order (where a sweep inserts a missing operator) agrees.
    assert names == sorted(names, key=pipeline_rank)
    ops = {o["op"]: o["params"] for o in suggest_spec(report)["ops"]}
    assert ops["deflicker"]["radius"] == 8 and ops["deflicker"]["tiles"] == 3
    assert ops["dust"]["search"] == 3 and ops["dust"]["max_size"] == 48


def test_a_source_squeezed_by_a_lossy_codec_is_denoised_harder() -> None:
    report = _without_damage(_summary_of_smooth_clip())
    s = report["summary"]
    s["noise"]["median"] = 0.015  # the rule's strength 1

    def denoise_strength(bpp: float | None) -> float:
        report["source"] = {"bits_per_pixel": bpp}
        ops = {o["op"]: o["params"] for o in suggest_spec(report)["ops"]}
        return ops["denoise"]["strength"]

    # Lossless and mezzanine rates, and files that give no rate: the measured noise alone.
    assert denoise_strength(10.0) == denoise_strength(2.0) == denoise_strength(None) == 1.0
    del report["source"]
    assert suggest_spec(report)["ops"][0]["params"]["strength"] == 1.0
    # A web-rate copy: twice as hard; a DVD-like rate in between.
    assert denoise_strength(0.3) == analysis.COMPRESSED_DENOISE == 2.0
    assert 1.0 < denoise_strength(0.6) < 2.0
    # Strong noise on a squeezed copy: at most the operator's range.
    s["noise"]["median"] = 0.035
    assert denoise_strength(0.1) == 4.0
    # The sharpen that follows a strong denoise is judged by the noise, not the factor.
    s["noise"]["median"] = 0.009
    assert denoise_strength(0.1) == 1.2
    names = [o["op"] for o in suggest_spec(report)["ops"]]
    report["source"] = {"bits_per_pixel": 10.0}
    assert names == [o["op"] for o in suggest_spec(report)["ops"]] == ["denoise"]


def test_the_softer_the_picture_the_wider_auto_sharpens() -> None:
    report = _without_damage(_summary_of_smooth_clip())
    s = report["summary"]
    s["noise"]["median"] = 0.02  # a denoise at strength 1 or more, then a sharpen

    def radius(detail: float) -> float:
        s["detail"]["median"] = detail
        ops = {o["op"]: o["params"] for o in suggest_spec(report)["ops"]}
        return ops["sharpen"]["radius"]

    assert radius(1.5) == radius(1.0) == analysis.SHARPEN_RADIUS == 1.2
    assert radius(0.8) == pytest.approx(1.8)
    assert radius(0.6) == radius(0.2) == 2.4
    # Reports from before the median was kept: the radius for intact detail.
    del s["detail"]["median"]
    assert {o["op"]: o["params"] for o in suggest_spec(report)["ops"]}["sharpen"]["radius"] == 1.2


def test_bits_per_pixel_prefers_the_video_streams_rate() -> None:
    from types import SimpleNamespace

    def info(video: int | None, container: int | None, audio: bool) -> SimpleNamespace:
        return SimpleNamespace(video_bit_rate=video, bit_rate=container, has_audio=audio,
                               width=640, height=480, fps=25.0)

    pixels = 640 * 480 * 25.0
    assert analysis.bits_per_pixel(info(1_000_000, 5_000_000, True)) == round(1e6 / pixels, 4)
    # Only the container's rate: a typical audio track is taken off, never more than half.
    assert analysis.bits_per_pixel(info(None, 1_192_000, True)) == round(1e6 / pixels, 4)
    assert analysis.bits_per_pixel(info(None, 200_000, True)) == round(1e5 / pixels, 4)
    assert analysis.bits_per_pixel(info(None, 1_000_000, False)) == round(1e6 / pixels, 4)
    assert analysis.bits_per_pixel(info(None, None, False)) is None


@pytest.mark.media
def test_bits_per_pixel_tells_a_web_copy_from_a_lossless_master(cockatoo: list[np.ndarray],
                                                                tmp_path) -> None:  # noqa: ANN001
    from tests.media_factory import _ffmpeg_encode

    aged = list(degrade_frames(cockatoo[:12], DamageConfig.preset("moderate", fps=24), seed=5))
    web = _ffmpeg_encode(tmp_path / "web.mp4", aged, "24",
                         ["-c:v", "libx264", "-crf", "28", "-pix_fmt", "yuv420p"])
    master = _ffmpeg_encode(tmp_path / "master.mkv", aged, "24", ["-c:v", "ffv1"])
    web_report = analyze(web, faces=False)
    master_report = analyze(master, faces=False)
    assert web_report["source"]["bits_per_pixel"] < analysis.COMPRESSED_BPP[1]
    assert master_report["source"]["bits_per_pixel"] > analysis.COMPRESSED_BPP[0]
    assert analysis.compression_denoise_factor(web_report) == analysis.COMPRESSED_DENOISE
    assert analysis.compression_denoise_factor(master_report) == 1.0
    # The technician reads why: a finding on the web copy, none on the master.
    (found,) = [f for f in web_report["findings"] if f["kind"] == "compressed"]
    assert found["severity"] == 1.0
    assert found["params"]["bits"] == round(web_report["source"]["bits_per_pixel"], 2)
    assert not [f for f in master_report["findings"] if f["kind"] == "compressed"]


def test_the_unfaded_floor_sits_nearer_black_the_more_of_the_picture_is_shadow() -> None:
    floors = [analysis.natural_floor(m) for m in (0.0, 0.03, 0.08, 0.19, 0.3, 0.76)]
    assert floors[:3] == [0.06, 0.06, 0.04] and floors[-2:] == [0.02, 0.02]
    assert 0.02 < floors[3] < 0.04
    assert floors == sorted(floors, reverse=True)


@pytest.mark.media
def test_a_short_clips_noise_comes_from_its_frame_to_frame_measure(cockatoo: list[np.ndarray]
                                                                    ) -> None:
    # Two frames of grainy film: only the second has a predecessor. The single-frame
    # estimate of the first reads the clumped grain at a fraction of its sigma.
    aged = list(degrade_frames(cockatoo[:2], DamageConfig(grain=0.04), seed=3))
    report = analyze_frames(aged, fps=24, faces=False)
    first, second = report["frames"]
    assert "noise_temporal" not in first and "noise_temporal" in second
    assert first["noise"] < 0.6 * second["noise"]
    assert report["summary"]["noise"]["median"] == second["noise"]


def test_face_checks_stay_few_on_long_clips(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpu_worker.engine.analysis as analysis

    calls: list[int] = []
    real = analysis.detect_faces
    monkeypatch.setattr(analysis, "detect_faces", lambda f: calls.append(1) or real(f))
    # At 2 fps a check every 2 s is every 4th frame: 75 checks for 300 frames unless
    # the interval grows as they pile up (length unknown: a generator, no total).
    frames = (np.full((32, 48, 3), 120, np.uint8) for _ in range(300))
    report = analyze_frames(frames, fps=2, total=None)
    assert len(calls) <= 45  # 75 at a fixed interval
    assert 6 <= report["summary"]["faces"]["frames_checked"] <= 12
    # With the length known the interval is set up front.
    calls.clear()
    frames = (np.full((32, 48, 3), 120, np.uint8) for _ in range(300))
    analyze_frames(frames, fps=2, total=300)
    assert len(calls) <= 13


def test_analysis_reports_pulldown_and_auto_removes_it(tmp_path):
    from tests.media_factory import make_telecined, moving_pictures

    src = make_telecined(tmp_path / "tc.nut", moving_pictures(24, step=5), first_field="bottom")
    report = analyze(src, faces=False)
    tc = report["interlace"]["telecine"]
    assert tc == {"pattern": "3:2", "offset": 0, "field_order": "bff", "breaks": [],
                  "confidence": tc["confidence"]}
    assert isinstance(tc["confidence"], float) and tc["confidence"] > 0.9
    assert report["findings"][0]["kind"] == "telecine"
    spec = suggest_spec(report)
    assert spec["ops"][0] == {"op": "ivtc", "params": {"offset": 0, "field_order": "bff"}}


def test_analysis_reports_interlacing_and_auto_deinterlaces(tmp_path):
    from tests.media_factory import make_interlaced

    src = make_interlaced(tmp_path / "tape.mpg", frames=12, field_order="tff")
    report = analyze(src, faces=False)
    il = report["interlace"]
    assert il["interlaced"] and il["telecine"] is None
    assert il["stream_field_order"] == il["picture_field_order"] == "tff"
    assert suggest_spec(report)["ops"][0] == {
        "op": "deinterlace", "params": {"field_order": "tff"}}


def test_progressive_clip_gets_no_field_ops(tmp_path):
    from tests.media_factory import _ffmpeg_encode, moving_pictures

    src = _ffmpeg_encode(tmp_path / "p.nut", moving_pictures(12), "25",
                         ["-c:v", "ffv1", "-pix_fmt", "gbrp"])
    report = analyze(src, faces=False)
    assert not report["interlace"]["interlaced"] and report["interlace"]["telecine"] is None
    assert not any(o["op"] in ("ivtc", "deinterlace") for o in suggest_spec(report)["ops"])


# -- tone decisions on synthetic scenes ----------------------------------------------
def _smooth(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """A smooth random field with values spread evenly over [0, 1] (ranks)."""
    f = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), sigma)
    ranks = np.argsort(np.argsort(f.ravel())).reshape(h, w)
    return (ranks / (h * w - 1)).astype(np.float32)


def _scene(luma_curve=lambda y: y, tint=lambda y: (1.0, 1.0, 1.0), seed: int = 3,
           frames: int = 8) -> list[np.ndarray]:
    """A moving textured scene as float RGB in [0, 1]: luma over the full range (true
    blacks and whites) through `luma_curve`, half of it coloured (hues of its own),
    half near-neutral, then tinted per pixel by `tint(luma)` (three gains)."""
    rng = np.random.default_rng(seed)
    h, w = 120, 200
    y = luma_curve(_smooth(rng, h, w + 4 * frames, 5))
    hues = np.stack([_smooth(rng, h, w + 4 * frames, 9) - 0.5 for _ in range(3)], -1)
    hues -= hues.mean(-1, keepdims=True)
    coloured = (_smooth(rng, h, w + 4 * frames, 12) > 0.5)[..., None]
    rgb = y[..., None] * (1.0 + 1.2 * hues * coloured)
    gains = np.stack(tint(y), -1) if callable(tint) else np.asarray(tint)
    rgb = np.clip(rgb * gains, 0, 1)
    out = []
    for t in range(frames):
        f = rgb[:, 4 * t:4 * t + w] + rng.normal(0, 0.004, (h, w, 3))
        out.append((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8))
    return out


def _tone_ops(frames: list[np.ndarray]) -> tuple[dict, dict | None]:
    report = analyze_frames(frames, fps=24, faces=False)
    cc = [o["params"] for o in suggest_spec(report)["ops"] if o["op"] == "colour_correct"]
    return report["summary"]["colour"], (cc[0] if cc else None)


def test_a_warm_scene_with_true_blacks_is_left_alone() -> None:
    # Tungsten-warm midtones (up to +30% red, -30% blue), neutral shadows and whites.
    def warm(y: np.ndarray) -> tuple[np.ndarray, ...]:
        k = 0.3 * np.sin(np.pi * y)
        return 1 + k, np.ones_like(y), 1 - k

    colour, cc = _tone_ops(_scene(tint=warm))
    assert colour["floor"] < 0.03 and colour["fade_confidence"] == 0.0
    assert colour["cast_confidence"] < 0.25 and not colour["faded"]
    assert cc is None


def test_a_low_key_scene_with_true_blacks_is_left_alone() -> None:
    # Mostly shadows, highlights at half of full scale: low contrast, not faded.
    colour, cc = _tone_ops(_scene(luma_curve=lambda y: 0.5 * y ** 2.5))
    assert colour["white3"] < 0.6 and colour["floor"] < 0.03
    assert colour["fade_confidence"] == 0.0 and cc is None


def test_a_faded_print_gets_its_blacks_back() -> None:
    clean = _scene()
    faded = [(np.clip(f / 255.0 * 0.8 + 0.12, 0, 1) * 255 + 0.5).astype(np.uint8)
             for f in clean]
    colour, cc = _tone_ops(faded)
    assert colour["faded"] and colour["fade_confidence"] == 1.0
    assert cc is not None and cc["contrast"] == 1.0
    # The lift (about 0.12) is removed: the black point lands near natural black, the
    # whites stay near the top.
    assert cc["black_point"] < colour["black3"] - 0.08 and cc["black_point"] < 0.06
    assert cc["white_point"] >= 0.9
    # No cast was added, so none is found; the least white balance a corrected colour
    # film gets leaves its greys as neutral as they were.
    assert colour["cast_confidence"] < 0.25
    assert cc["white_balance"] == analysis.MIN_WHITE_BALANCE
    out = run_per_frame(make_operator("colour_correct", **cc),
                        torch.cat([to_tensor(f) for f in faded]))

    def grey_tint(frames: torch.Tensor) -> float:
        # Largest spread between the channels' 2nd and 98th percentiles.
        q = torch.quantile(frames.permute(1, 0, 2, 3).flatten(1), torch.tensor([0.02, 0.98]),
                           dim=1)
        return float((q.amax(dim=1) - q.amin(dim=1)).max())

    clean_tint = grey_tint(torch.cat([to_tensor(f) for f in clean]))
    assert grey_tint(out) < clean_tint + 0.02


def test_a_global_cast_on_neutrals_is_corrected() -> None:
    colour, cc = _tone_ops(_scene(tint=(1.12, 1.0, 0.82)))
    assert colour["cast_confidence"] >= 0.9 and colour["cast"] in ("sepia", "orange")
    assert colour["neutral_r"] > 0.08 and colour["neutral_b"] < -0.12
    assert colour["fade_confidence"] == 0.0
    assert cc is not None and cc["white_balance"] >= 0.6
    assert cc["contrast"] == 0.0  # levels untouched: the blacks were never lifted


def _daylight_scene(frames: int = 8, seed: int = 4) -> list[np.ndarray]:
    """A bright moving daylight scene (luma 0.35..1, half of it coloured) with a few
    small real shadows (about 1.5% of the frame) at 0.07..0.12: natural blacks near
    0.1, in a sliver of the picture, and no print damage."""
    rng = np.random.default_rng(seed)
    base = _scene(luma_curve=lambda y: 0.35 + 0.65 * y, seed=seed, frames=frames)
    h, w = base[0].shape[:2]
    centres = [(int(rng.integers(6, w - 6)), int(rng.integers(6, h - 6))) for _ in range(40)]
    out = []
    for f in base:
        f = f.copy()
        for x, y in centres:
            level = int(255 * (0.07 + 0.05 * rng.random()))
            cv2.circle(f, (x, y), 2, (level, level, level), -1)
        out.append(f)
    return out


def _age(frames: list[np.ndarray], gain: float, offset: float,
         tint: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> list[np.ndarray]:
    return [(np.clip((f / 255.0 * gain + offset) * np.asarray(tint), 0, 1) * 255 + 0.5
             ).astype(np.uint8) for f in frames]


def test_a_daylight_scene_with_its_own_shadows_is_not_faded() -> None:
    # Natural blacks near 0.1 sit in the band fading lifts blacks to, but only a
    # sliver of the picture is that dark and no print cast corroborates a fade.
    colour, cc = _tone_ops(_daylight_scene())
    assert 0.07 <= colour["floor"] <= 0.12 and colour["lift_confidence"] >= 0.5
    assert colour["shadow_mass"] < 0.03
    assert colour["fade_confidence"] == 0.0 and not colour["faded"]
    assert cc is None  # no tone change at all


def test_a_faded_print_with_deep_shadows_is_faded_without_a_cast() -> None:
    # The same kind of lift on a scene with real deep shadows (a third of the frame):
    # the lift of those shadows is a fade, cast or not.
    frames = _daylight_scene()
    for f in frames:
        f[:, :70] = (f[:, :70].astype(np.float32) * 0.08).astype(np.uint8)
    colour, cc = _tone_ops(_age(frames, 0.82, 0.1))
    assert colour["shadow_mass"] > 0.08 and colour["natural_floor"] == pytest.approx(0.02)
    assert colour["fade_confidence"] == 1.0 and cc is not None
    assert cc["black_point"] < colour["black3"] - 0.06


def test_a_faded_and_tinted_daylight_print_is_faded_but_keeps_lighter_blacks() -> None:
    # Faded and tinted by the print: the cast corroborates the lift; as the scene's
    # darkest tones are a sliver, its blacks are put back near NATURAL_FLOOR_THIN, not
    # crushed to the 0.02 of a scene with deep shadows.
    frames = _daylight_scene()
    colour, cc = _tone_ops(_age(frames, 0.85, 0.1, tint=(1.1, 1.0, 0.8)))
    assert colour["cast_confidence"] >= 0.5 and colour["fade_confidence"] >= 0.9
    assert colour["shadow_mass"] < 0.03
    assert colour["natural_floor"] == pytest.approx(analysis.NATURAL_FLOOR_THIN)
    assert cc is not None and cc["contrast"] == 1.0
    deep = dict(colour, natural_floor=analysis.NATURAL_FLOOR)
    assert cc["black_point"] > analysis._fade_levels(deep, 1.0)["black_point"] + 0.03


def test_only_the_flicker_a_clip_has_is_repaired() -> None:
    # Exposure flicker (a gain and an offset per frame) on an unfaded scene: deflicker,
    # and no levels change; the same scene steady: neither.
    frames = _scene(frames=10)
    rng = np.random.default_rng(0)
    flick = [_age([f], 1 + 0.07 * rng.standard_normal(), 0.02 * rng.standard_normal())[0]
             for f in frames]
    steady = suggest_spec(analyze_frames(frames, fps=24, faces=False))["ops"]
    flickering = suggest_spec(analyze_frames(flick, fps=24, faces=False))["ops"]
    tone_ops = {"deflicker", "colour_correct"}
    assert not tone_ops & {o["op"] for o in steady}
    assert [o["op"] for o in flickering][:1] == ["deflicker"]
    assert "colour_correct" not in [o["op"] for o in flickering]
