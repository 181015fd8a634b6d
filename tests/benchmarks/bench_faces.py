"""Face restoration benchmark: real old faces, before and after, and stability over time.

    .venv/bin/python tests/benchmarks/bench_faces.py [--quick] [--out docs/benchmarks-faces.md]
        [--sheet docs/images/faces-sheet.jpg]
    .venv/bin/python tests/benchmarks/bench_faces.py --detection-only
        [--detection-out docs/benchmarks-face-detection.md]

Not a pytest test (it takes minutes). It prints the results and writes them as
Markdown, with a before/after image sheet.

(a) Real faces, no ground truth. Every image of ../shared/media/faces and
    ../shared/media/old_photos goes through `face_restore` twice in the same run: with
    the project's trained model (`face_restore_v1`, default parameters) and with the
    classical fallback. Inside every detected face box: the no-reference sharpness
    (variance of the Laplacian) and noise estimate (Immerkaer) of
    gpu_worker.engine.metrics before and after, and the shift of the face's mean
    chroma (Cr, Cb in 8-bit levels: the tone must not move). Images without a
    detected face are listed as such. None of these images was used in training.

(b) Synthetic ground truth. The same faces cannot be scored against a clean
    original, so the clean astronaut portrait (it *was* in the training set; said
    plainly) and the held-out cameraman are degraded (blur, half resolution, grain)
    and scored by PSNR/SSIM inside the face before and after.

(d) Detection, Haar vs MTCNN, in the same run (`--detection-only` runs just this):
    every image of ../shared/media/faces and old_photos, and a few frames spread over
    each clip of ../shared/media/clean_more that shows faces (07 group indoors, 08
    selfie, 10 talking head, 15 film pair). Reported: images (frames) with at least
    one face found, mean faces found per frame of each clip, and CPU seconds per image
    of `detect_faces(detector=...)` at its defaults. No ground truth: a count is what
    the detector reports, false finds included (they are visible on the sheet).

(c) Identity stability over time. A 16-frame clip made from a still portrait with
    small motion (a slow pan and zoom, sub-pixel, with fresh grain in every frame) is
    restored through the pipeline's stages. Reported: how many track ids the tracker
    gives the face (1 = it never lost it), the frame-to-frame change of the face after
    undoing the known motion (temporal flicker), and the SSIM of every restored face
    to the restored first frame (identity drift) and to the clean still (identity
    kept), for the input, the restoration without temporal smoothing and with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
# One thread everywhere: CPU times then measure work, not threads spinning on a
# shared machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from gpu_worker.engine import faces as faces_module  # noqa: E402
from gpu_worker.engine import metrics  # noqa: E402
from gpu_worker.engine.faces import Box, FaceTracker, detect_faces  # noqa: E402
from gpu_worker.engine.ops import get_operator  # noqa: E402
from gpu_worker.engine.pipeline import FrameItem, Stage, process_frames  # noqa: E402
from gpu_worker.engine.registry import OpContext  # noqa: E402

MEDIA = Path(os.environ.get("REEL_ARENA_SHARED_MEDIA", REPO.parent / "shared" / "media"))
SHEET_PICKS = ("faces/face_woman_28.png", "faces/face_man_201.png",
               "faces/kelley_portrait.jpg", "old_photos/faded_color_g.png",
               "old_photos/scratched_c.png", "old_photos/faded_color_h.png")


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read {path}")
    return np.ascontiguousarray(img[..., ::-1])


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0


def to_image(t: torch.Tensor) -> np.ndarray:
    return (t[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


def make_op(**params: Any) -> Any:
    cls = get_operator("face_restore")
    return cls(cls.validate_params(params), OpContext())


def run_still(op: Any, img: np.ndarray) -> tuple[np.ndarray, float]:
    t0 = time.process_time()
    out = op.process(to_tensor(img), torch.zeros(1, 1, dtype=torch.int64),
                     torch.zeros(1, dtype=torch.int64))
    return to_image(out), time.process_time() - t0


def face_slices(b: Box, shape: tuple[int, ...]) -> tuple[slice, slice]:
    h, w = shape[:2]
    return (slice(max(0, int(b.y)), min(h, int(b.y + b.h))),
            slice(max(0, int(b.x)), min(w, int(b.x + b.w))))


def chroma(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float64).mean(0)


# ----------------------------------------------------------------------------------
# (a) real faces
# ----------------------------------------------------------------------------------
def bench_real(quick: bool) -> tuple[list[dict[str, Any]], dict[str, tuple[np.ndarray, ...]]]:
    files = sorted((MEDIA / "faces").glob("*")) + sorted((MEDIA / "old_photos").glob("*"))
    if quick:
        files = [MEDIA / p for p in SHEET_PICKS]
    model_op, classical_op = make_op(), make_op(model="classical")
    rows, keep = [], {}
    for path in files:
        rel = f"{path.parent.name}/{path.name}"
        img = read_rgb(path)
        t0 = time.process_time()
        faces = detect_faces(img)
        t_detect = time.process_time() - t0
        if not faces:
            rows.append({"image": rel, "size": f"{img.shape[1]}x{img.shape[0]}", "faces": 0,
                         "detect_s": t_detect})
            print(f"{rel}: no face found ({t_detect:.2f} s)", flush=True)
            continue
        restored, t_model = run_still(model_op, img)
        classical, t_classical = run_still(classical_op, img)
        row: dict[str, Any] = {"image": rel, "size": f"{img.shape[1]}x{img.shape[0]}",
                               "faces": len(faces), "detect_s": t_detect,
                               "model_s": t_model, "classical_s": t_classical}
        for name, out in (("before", img), ("model", restored), ("classical", classical)):
            sh, nz, cr, cb = [], [], [], []
            for b in faces:
                ys, xs = face_slices(b, img.shape)
                sh.append(metrics.sharpness(out[ys, xs]))
                nz.append(metrics.noise_sigma(out[ys, xs]))
                c = chroma(np.ascontiguousarray(out[ys, xs]))
                cr.append(c[1])
                cb.append(c[2])
            row[f"{name}_sharpness"] = float(np.mean(sh))
            row[f"{name}_noise"] = float(np.mean(nz))
            row[f"{name}_cr"] = float(np.mean(cr))
            row[f"{name}_cb"] = float(np.mean(cb))
        rows.append(row)
        if rel in SHEET_PICKS:
            keep[rel] = (img, restored, classical, np.array([b.as_tuple() for b in faces]))
        print(f"{rel}: {len(faces)} face(s); sharpness {row['before_sharpness']:.5f} -> "
              f"{row['model_sharpness']:.5f} (classical {row['classical_sharpness']:.5f}); "
              f"noise {row['before_noise']:.4f} -> {row['model_noise']:.4f} "
              f"({row['classical_noise']:.4f}); {t_model:.1f} s", flush=True)
    return rows, keep


def write_sheet(keep: dict[str, tuple[np.ndarray, ...]], path: Path, row_h: int = 220) -> None:
    """One row per image: the face region before | model | classical, JPEG."""
    rows = []
    for rel in SHEET_PICKS:
        if rel not in keep:
            continue
        img, restored, classical, boxes = keep[rel]
        x, y, w, h = boxes[int(np.argmax(boxes[:, 2]))]
        m = 0.6 * w
        x0, y0 = int(max(0, x - m)), int(max(0, y - m))
        x1, y1 = int(min(img.shape[1], x + w + m)), int(min(img.shape[0], y + h + m))
        tiles = []
        for im in (img, restored, classical):
            crop = im[y0:y1, x0:x1]
            s = row_h / crop.shape[0]
            tiles.append(cv2.resize(crop, (max(1, round(crop.shape[1] * s)), row_h),
                                    interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC))
            tiles.append(np.full((row_h, 4, 3), 255, np.uint8))
        rows.append(np.hstack(tiles[:-1]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    header = np.full((26, width, 3), 255, np.uint8)
    third = rows[0].shape[1] // 3 if rows else width // 3
    for i, label in enumerate(("before", "face_restore (model)", "classical fallback")):
        cv2.putText(header, label, (8 + i * third, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (0, 0, 0), 1, cv2.LINE_AA)
    sheet = np.vstack([header, *rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 82])


# ----------------------------------------------------------------------------------
# (b) synthetic ground truth
# ----------------------------------------------------------------------------------
def degrade(img: np.ndarray, seed: int) -> np.ndarray:
    f = img.astype(np.float32) / 255.0
    f = cv2.GaussianBlur(f, (0, 0), 1.2)
    h, w = f.shape[:2]
    f = cv2.resize(cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA), (w, h),
                   interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    f = f + 0.035 * rng.standard_normal((h, w, 1)).astype(np.float32)
    return (np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)


def bench_synthetic() -> list[dict[str, Any]]:
    from skimage import data

    sources = {"astronaut (in training)": read_rgb(MEDIA / "clean" / "astronaut.png"),
               "cameraman (held out)": np.repeat(data.camera()[..., None], 3, axis=2)}
    model_op, classical_op = make_op(fidelity=1.0), make_op(model="classical", fidelity=1.0)
    rows = []
    for name, clean in sources.items():
        faces = detect_faces(clean)
        if not faces:
            rows.append({"image": name, "faces": 0})
            print(f"{name}: no face found", flush=True)
            continue
        bad = degrade(clean, 7)
        b = max(faces, key=lambda f: f.w)
        ys, xs = face_slices(b, clean.shape)
        row: dict[str, Any] = {"image": name, "faces": len(faces)}
        for label, out in (("degraded", bad), ("model", run_still(model_op, bad)[0]),
                           ("classical", run_still(classical_op, bad)[0])):
            row[f"{label}_psnr"] = metrics.psnr(out[ys, xs], clean[ys, xs])
            row[f"{label}_ssim"] = metrics.ssim(out[ys, xs], clean[ys, xs])
        rows.append(row)
        print(f"{name}: PSNR {row['degraded_psnr']:.2f} -> {row['model_psnr']:.2f} dB "
              f"(classical {row['classical_psnr']:.2f})", flush=True)
    return rows


# ----------------------------------------------------------------------------------
# (c) identity stability over time
# ----------------------------------------------------------------------------------
def motion(i: int) -> np.ndarray:
    """2x3 affine of frame i: a slow pan (0.7, 0.35 px per frame) and zoom."""
    s = 1.0 + 0.002 * i
    return np.float32([[s, 0, 0.7 * i], [0, s, 0.35 * i]])


def make_clip(still: np.ndarray, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    h, w = still.shape[:2]
    frames = []
    for i in range(n):
        f = cv2.warpAffine(still, motion(i), (w, h), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT).astype(np.float32) / 255.0
        f = cv2.GaussianBlur(f, (0, 0), 1.0)
        f = f + 0.04 * rng.standard_normal((h, w, 1)).astype(np.float32)
        frames.append((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8))
    return frames


def unwarp(frame: np.ndarray, i: int) -> np.ndarray:
    h, w = frame.shape[:2]
    return cv2.warpAffine(frame, cv2.invertAffineTransform(motion(i)), (w, h),
                          flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def run_stage(op: Any, frames: list[np.ndarray]) -> list[np.ndarray]:
    items = [FrameItem(index=i, pts=i, duration=1, scene=0, tensor=to_tensor(f)[0])
             for i, f in enumerate(frames)]
    return [to_image(it.tensor[None]) for it in process_frames(items, [Stage(op, 4)])]


def bench_stability(n: int) -> dict[str, Any]:
    still = read_rgb(MEDIA / "clean" / "astronaut.png")[0:320, 60:380]
    frames = make_clip(still, n)
    tracker = FaceTracker()
    ids: set[int] = set()
    detected = 0
    for f in frames:
        states = tracker.update(detect_faces(f))
        seen = [s for s in states if s.missed == 0]
        detected += bool(seen)
        ids.update(s.id for s in seen)
    face = detect_faces(still)[0]
    ys, xs = face_slices(face, still.shape)
    variants = {"input": frames}
    times = {}
    for label, params in (("restored, temporal 0", {"temporal": 0}),
                          ("restored, temporal 1", {"temporal": 1})):
        faces_module._DETECTIONS.clear()  # each variant pays for its own detection
        t0 = time.process_time()
        variants[label] = run_stage(make_op(**params), frames)
        times[label] = (time.process_time() - t0) / n
    out: dict[str, Any] = {"frames": n, "track_ids": len(ids), "frames_detected": detected,
                           "variants": {}}
    for label, seq in variants.items():
        aligned = [unwarp(f, i)[ys, xs] for i, f in enumerate(seq)]
        flicker = np.mean([np.abs(aligned[i].astype(np.float32) - aligned[i - 1]).mean()
                           for i in range(1, n)])
        drift = [metrics.ssim(a, aligned[0]) for a in aligned[1:]]
        kept = [metrics.ssim(a, still[ys, xs]) for a in aligned]
        out["variants"][label] = {"flicker": float(flicker), "ssim_to_first_min": min(drift),
                                  "ssim_to_first_mean": float(np.mean(drift)),
                                  "ssim_to_clean_mean": float(np.mean(kept)),
                                  "ssim_to_clean_min": min(kept),
                                  "cpu_s_per_frame": times.get(label)}
        print(f"{label}: flicker {flicker:.2f} levels, SSIM to first frame min "
              f"{min(drift):.3f}, to the clean still mean {np.mean(kept):.3f}", flush=True)
    return out


# ----------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------
# (d) detection: Haar vs MTCNN
# ----------------------------------------------------------------------------------
FACE_CLIPS = ("07_group_faces_indoor_640x480.mp4", "08_selfie_faces_hilltop_640x480.mp4",
              "10_grid_talking_head_female_360x288.mpg", "15_film_pair_child_face_1024x768")
DETECTORS = ("haar", "mtcnn")


def clip_frames(path: Path, n: int) -> list[np.ndarray]:
    """`n` RGB frames spread evenly over a video (or every image of a folder)."""
    if path.is_dir():
        return [read_rgb(p) for p in sorted(path.glob("*.png"))[:n]]
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(f[..., ::-1]))
    cap.release()
    if not frames:
        raise OSError(f"cannot read {path}")
    picks = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    return [frames[i] for i in sorted(set(picks.tolist()))]


def detect_timed(img: np.ndarray, detector: str) -> tuple[list[Box], float]:
    t0 = time.process_time()
    found = detect_faces(img, detector=detector)
    return found, time.process_time() - t0


def bench_detection(frames_per_clip: int = 6) -> dict[str, Any]:
    files = sorted((MEDIA / "faces").glob("*")) + sorted((MEDIA / "old_photos").glob("*"))
    for d in DETECTORS:  # load the cascades / the networks outside the timing
        detect_faces(np.zeros((64, 64, 3), np.uint8), detector=d)
    images = []
    for path in files:
        img = read_rgb(path)
        row: dict[str, Any] = {"image": f"{path.parent.name}/{path.name}",
                               "size": f"{img.shape[1]}x{img.shape[0]}"}
        for d in DETECTORS:
            found, t = detect_timed(img, d)
            row[d] = len(found)
            row[f"{d}_s"] = t
            row[f"{d}_boxes"] = found
        images.append(row)
        print(f"{row['image']}: haar {row['haar']}, mtcnn {row['mtcnn']} "
              f"({row['haar_s']:.2f} / {row['mtcnn_s']:.2f} s)", flush=True)
    clips = []
    for name in FACE_CLIPS:
        path = MEDIA / "clean_more" / name
        if not path.exists():
            print(f"{name}: missing, skipped", flush=True)
            continue
        frames = clip_frames(path, frames_per_clip)
        row = {"clip": name, "frames": len(frames)}
        for d in DETECTORS:
            counts, times = [], []
            for f in frames:
                found, t = detect_timed(f, d)
                counts.append(len(found))
                times.append(t)
            row[d] = counts
            row[f"{d}_s"] = float(np.mean(times))
        clips.append(row)
        print(f"{name}: haar {row['haar']}, mtcnn {row['mtcnn']}", flush=True)
    return {"images": images, "clips": clips}


def write_detection_sheet(det: dict[str, Any], path: Path, row_h: int = 200) -> None:
    """Every image with the Haar boxes (blue) and the MTCNN boxes and landmarks (red)."""
    tiles = []
    for r in det["images"]:
        img = read_rgb(MEDIA / r["image"])
        s = row_h / img.shape[0]
        tile = cv2.resize(img, (max(1, round(img.shape[1] * s)), row_h),
                          interpolation=cv2.INTER_AREA)[..., ::-1].copy()
        for b in r["haar_boxes"]:
            b = b.scaled(s)
            cv2.rectangle(tile, (int(b.x), int(b.y)), (int(b.x + b.w), int(b.y + b.h)),
                          (255, 128, 0), 2)
        for b in r["mtcnn_boxes"]:
            b = b.scaled(s)
            cv2.rectangle(tile, (int(b.x), int(b.y)), (int(b.x + b.w), int(b.y + b.h)),
                          (0, 0, 255), 1)
            for x, y in b.landmarks or ():
                cv2.circle(tile, (int(x), int(y)), 2, (0, 0, 255), -1)
        tiles.append(tile)
    rows, cur, width = [], [], 0
    for t in tiles:
        if cur and width + t.shape[1] > 1600:
            rows.append(cur)
            cur, width = [], 0
        cur.append(t)
        width += t.shape[1]
    if cur:
        rows.append(cur)
    full = max(sum(t.shape[1] for t in r) for r in rows)
    lines = [np.pad(np.hstack(r), ((0, 0), (0, full - sum(t.shape[1] for t in r)), (0, 0)))
             for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(lines), [cv2.IMWRITE_JPEG_QUALITY, 80])


def detection_report(det: dict[str, Any], sheet: Path, out: Path) -> str:
    imgs, clips = det["images"], det["clips"]
    lines = [
        "# Face detection benchmark: Haar cascades vs MTCNN",
        "",
        "Written by `tests/benchmarks/bench_faces.py --detection-only` "
        f"({time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} logical "
        f"CPUs shared with other jobs, one thread, torch {torch.__version__}, OpenCV "
        f"{cv2.__version__}). Both detectors at `detect_faces`'s defaults (working copy "
        "400 px on the long side, faces from 5 % of the short side) on the same images "
        "in the same run. Times are CPU seconds of this process per image. No ground "
        "truth: a count is what the detector reports, false finds included; the sheet "
        "shows every box (Haar blue, MTCNN red with its five landmarks).",
        "",
        f"![Haar (blue) and MTCNN (red) boxes]({os.path.relpath(sheet, out.parent)})",
        "",
        "| set | images | with a face: Haar | with a face: MTCNN | faces: Haar | faces: "
        "MTCNN | CPU s/image: Haar | CPU s/image: MTCNN |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, rows in (("faces", [r for r in imgs if r["image"].startswith("faces/")]),
                        ("old_photos", [r for r in imgs
                                        if r["image"].startswith("old_photos/")]),
                        ("both", imgs)):
        if not rows:
            continue
        lines.append(
            f"| {label} | {len(rows)} | {sum(r['haar'] > 0 for r in rows)} | "
            f"{sum(r['mtcnn'] > 0 for r in rows)} | {sum(r['haar'] for r in rows)} | "
            f"{sum(r['mtcnn'] for r in rows)} | "
            f"{np.mean([r['haar_s'] for r in rows]):.3f} | "
            f"{np.mean([r['mtcnn_s'] for r in rows]):.3f} |")
    lines += [
        "",
        "| clip (clean_more) | frames | frames with a face: Haar / MTCNN | mean faces per "
        "frame: Haar / MTCNN | CPU s/frame: Haar / MTCNN |",
        "|---|---|---|---|---|",
    ]
    for c in clips:
        lines.append(
            f"| {c['clip']} | {c['frames']} | {sum(n > 0 for n in c['haar'])} / "
            f"{sum(n > 0 for n in c['mtcnn'])} | {np.mean(c['haar']):.2f} / "
            f"{np.mean(c['mtcnn']):.2f} | {c['haar_s']:.3f} / {c['mtcnn_s']:.3f} |")
    lines += ["", "Per image (faces found):", "", "| image | size | Haar | MTCNN |",
              "|---|---|---|---|"]
    for r in imgs:
        lines.append(f"| {r['image']} | {r['size']} | {r['haar']} | {r['mtcnn']} |")
    lines.append("")
    return "\n".join(lines)


def report(real: list[dict[str, Any]], synth: list[dict[str, Any]], stab: dict[str, Any],
           sheet: Path, out: Path, seconds: float) -> str:
    found = [r for r in real if r["faces"]]
    lines = [
        "# Face restoration benchmark",
        "",
        "Written by `tests/benchmarks/bench_faces.py` "
        f"({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} logical CPUs shared with other jobs, torch "
        f"{torch.__version__}, {seconds / 60:.1f} min). Model: `face_restore_v1` "
        "(see gpu_worker/engine/weights/face_restore_v1.md), default parameters "
        "(fidelity 0.7) unless said. Times are CPU seconds of this process.",
        "",
        "GPU: not measured: no CUDA device.",
        "",
        "## (a) Real old faces (no ground truth)",
        "",
        f"![before / model / classical]({os.path.relpath(sheet, out.parent)})",
        "",
        f"Faces found in {len(found)} of {len(real)} images "
        "(../shared/media/faces and old_photos; none used in training). Inside each "
        "face box: sharpness = variance of the Laplacian (higher is sharper; it also "
        "rises with noise), noise = Immerkaer's estimate, both in [0, 1] units; "
        "ΔCr/ΔCb = change of the face's mean chroma in 8-bit levels.",
        "",
        "| image | faces | sharpness before → model / classical | noise before → model / "
        "classical | ΔCr, ΔCb (model) | detect s | model s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in real:
        if not r["faces"]:
            lines.append(f"| {r['image']} | 0 | – | – | – | {r['detect_s']:.2f} | – |")
            continue
        lines.append(
            f"| {r['image']} | {r['faces']} | {r['before_sharpness']:.5f} → "
            f"{r['model_sharpness']:.5f} / {r['classical_sharpness']:.5f} | "
            f"{r['before_noise']:.4f} → {r['model_noise']:.4f} / {r['classical_noise']:.4f} | "
            f"{r['model_cr'] - r['before_cr']:+.2f}, {r['model_cb'] - r['before_cb']:+.2f} | "
            f"{r['detect_s']:.2f} | {r['model_s']:.1f} |")
    if found:
        def med(key: str) -> float:
            return float(np.median([r[key] for r in found]))

        sh_ratio = np.median([r["model_sharpness"] / max(r["before_sharpness"], 1e-9)
                              for r in found])
        sh_ratio_c = np.median([r["classical_sharpness"] / max(r["before_sharpness"], 1e-9)
                                for r in found])
        nz_ratio = np.median([r["model_noise"] / max(r["before_noise"], 1e-9) for r in found])
        nz_ratio_c = np.median([r["classical_noise"] / max(r["before_noise"], 1e-9)
                                for r in found])
        dc = max(max(abs(r["model_cr"] - r["before_cr"]), abs(r["model_cb"] - r["before_cb"]))
                 for r in found)
        lines += [
            "",
            f"Medians over the {len(found)} images with faces: sharpness ×{sh_ratio:.2f} "
            f"(classical ×{sh_ratio_c:.2f}), noise ×{nz_ratio:.2f} (classical "
            f"×{nz_ratio_c:.2f}); largest mean-chroma shift of a face {dc:.2f} levels. "
            f"Median CPU time per image: detection {med('detect_s'):.2f} s, face_restore "
            f"{med('model_s'):.1f} s (detection included); detection over all {len(real)} "
            f"images {np.median([r['detect_s'] for r in real]):.2f} s.",
        ]
    lines += [
        "",
        "## (b) Synthetic damage on clean faces (PSNR/SSIM inside the face)",
        "",
        "Degradation: Gaussian blur σ 1.2, half resolution, grain σ 0.035. Fidelity 1.",
        "",
        "| image | degraded | model | classical |",
        "|---|---|---|---|",
    ]
    for r in synth:
        if not r["faces"]:
            lines.append(f"| {r['image']} | no face detected: a profile looking into a "
                         "camera, which the detector misses | – | – |")
            continue
        lines.append(f"| {r['image']} | {r['degraded_psnr']:.2f} dB / {r['degraded_ssim']:.3f} "
                     f"| {r['model_psnr']:.2f} dB / {r['model_ssim']:.3f} | "
                     f"{r['classical_psnr']:.2f} dB / {r['classical_ssim']:.3f} |")
    lines += [
        "",
        "## (c) Identity stability over time",
        "",
        f"A {stab['frames']}-frame clip from the astronaut portrait: pan 0.7/0.35 px and "
        "zoom 0.2 % per frame, blur σ 1, fresh grain σ 0.04 in every frame. The face was "
        f"detected in {stab['frames_detected']} of {stab['frames']} frames and the tracker "
        f"gave it {stab['track_ids']} id(s). Flicker: mean absolute change of the face "
        "between consecutive frames after undoing the known motion (8-bit levels). SSIM "
        "of every face to the first frame's (drift) and to the clean still (identity kept).",
        "",
        "| | flicker | SSIM to frame 0 (min / mean) | SSIM to clean (min / mean) | CPU s/frame |",
        "|---|---|---|---|---|",
    ]
    for label, v in stab["variants"].items():
        t = v["cpu_s_per_frame"]
        lines.append(f"| {label} | {v['flicker']:.2f} | {v['ssim_to_first_min']:.3f} / "
                     f"{v['ssim_to_first_mean']:.3f} | {v['ssim_to_clean_min']:.3f} / "
                     f"{v['ssim_to_clean_mean']:.3f} | {'–' if t is None else f'{t:.2f}'} |")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="only the sheet's images, 8 frames")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks-faces.md")
    ap.add_argument("--sheet", type=Path, default=REPO / "docs" / "images" / "faces-sheet.jpg")
    ap.add_argument("--detection-only", action="store_true",
                    help="only (d): Haar vs MTCNN detection")
    ap.add_argument("--detection-out", type=Path,
                    default=REPO / "docs" / "benchmarks-face-detection.md")
    ap.add_argument("--detection-sheet", type=Path,
                    default=REPO / "docs" / "images" / "face-detection-sheet.jpg")
    a = ap.parse_args()
    if not MEDIA.is_dir():
        print(f"real media not found at {MEDIA}", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    t0 = time.monotonic()
    det = bench_detection(3 if a.quick else 6)
    write_detection_sheet(det, a.detection_sheet)
    det_text = detection_report(det, a.detection_sheet, a.detection_out)
    a.detection_out.parent.mkdir(parents=True, exist_ok=True)
    a.detection_out.write_text(det_text)
    print(det_text, flush=True)
    if a.detection_only:
        return 0
    real, keep = bench_real(a.quick)
    write_sheet(keep, a.sheet)
    synth = bench_synthetic()
    stab = bench_stability(8 if a.quick else 16)
    text = report(real, synth, stab, a.sheet, a.out, time.monotonic() - t0)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
