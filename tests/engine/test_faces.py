"""faces: MTCNN (default) and OpenCV's cascades (fallback), detection on real photos,
landmarks, tracking, smoothing."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from gpu_worker.engine import faces as faces_module
from gpu_worker.engine import mtcnn
from gpu_worker.engine.faces import (
    Box,
    FaceTracker,
    detect_faces,
    haar_frame,
    load_cascade,
    merge_boxes,
    smooth_tracks,
)
from tests.conftest import media_file

needs_mtcnn = pytest.mark.skipif(
    mtcnn.weights_dir() is None,
    reason="MTCNN weights not installed (pip install --no-deps facenet-pytorch==2.6.0)")


def _rgb(relative: str) -> np.ndarray:
    img = cv2.imread(str(media_file(relative)), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[..., ::-1])


def _inside(box: Box, x: float, y: float) -> bool:
    return box.x <= x <= box.x + box.w and box.y <= y <= box.y + box.h


# -- cascades ---------------------------------------------------------------------------
def test_cascades_load_from_opencv_once() -> None:
    default = load_cascade("frontal")
    alt2 = load_cascade("frontal_alt2")
    profile = load_cascade("profile")
    assert (default.width, default.height) == (24, 24)
    assert (alt2.width, alt2.height) == (20, 20)
    assert (profile.width, profile.height) == (20, 20)
    assert default.path.name == "haarcascade_frontalface_default.xml"
    assert load_cascade("frontal") is default  # loaded once per process
    with pytest.raises(ValueError, match="unknown cascade 'eyes'"):
        load_cascade("eyes")


def test_missing_cascade_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(faces_module, "_CASCADE_CACHE", {})  # nothing loaded yet
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + "/")
    with pytest.raises(FileNotFoundError,
                       match="haarcascade_frontalface_default.xml is missing from"):
        detect_faces(np.full((120, 160, 3), 128, np.uint8), detector="haar")
    assert faces_module._CASCADE_CACHE == {}  # a failed load is not remembered


def test_flat_and_noise_images_have_no_faces() -> None:
    assert load_cascade("frontal").detect_multi_scale(np.full((120, 160), 128, np.uint8)) == []
    rng = np.random.default_rng(0)
    noise = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    assert detect_faces(noise, profile=False) == []
    with pytest.raises(ValueError, match="2-D uint8"):
        load_cascade("frontal").detect_multi_scale(noise)


@pytest.mark.media
def test_frontal_cascade_boxes_on_the_astronaut() -> None:
    # OpenCV 4.10's CascadeClassifier.detectMultiScale(grey, 1.1, 3, minSize=(20, 20))
    # on this 400x400 INTER_AREA grey copy gave exactly these boxes (her face, then a
    # weak false find that alt2 does not confirm); neighbour counts come with them.
    img = cv2.imread(str(media_file("clean/astronaut.png")), cv2.IMREAD_COLOR)
    grey = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (400, 400),
                      interpolation=cv2.INTER_AREA)
    found = load_cascade("frontal").detect_multi_scale(grey, scale_factor=1.1,
                                                       min_neighbors=3, min_size=20)
    assert [r[:4] for r in found] == [(138, 52, 75, 75), (226, 101, 96, 96)]
    assert found[0][4] >= 8 and 3 < found[1][4] < 8
    # A bigger minimum size leaves only the big windows: fewer of them, larger boxes.
    big = load_cascade("frontal").detect_multi_scale(grey, min_size=80)
    assert len(big) == 2 and all(w >= 80 for _x, _y, w, _h, _n in big)
    assert big[0][4] < found[0][4]


# -- detection --------------------------------------------------------------------------
@pytest.mark.media
def test_detects_the_astronauts_face() -> None:
    faces = detect_faces(_rgb("clean/astronaut.png"), profile=False)
    assert len(faces) == 1
    # Her face: eyes around (205, 100) and (245, 100), mouth around (225, 140).
    assert _inside(faces[0], 225, 110) and 70 < faces[0].w < 130
    assert faces[0].kind == "frontal"


@pytest.mark.media
def test_detects_the_face_in_a_faded_colour_photo() -> None:
    img = _rgb("old_photos/faded_color_g.png")
    faces = detect_faces(img)
    assert len(faces) == 1
    # The girl's face, looking down, in the upper middle of the 700x700 plate.
    f = faces[0]
    assert _inside(f, 310, 270) and 90 < f.w < 180


@pytest.mark.media
def test_detection_does_not_depend_on_opencv_threads() -> None:
    # OpenCV's threads report windows in no fixed order; the boxes must not care.
    img = _rgb("old_photos/scratched_d.png")  # two faces
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        single = detect_faces(img, detector="haar")
        cv2.setNumThreads(4)
        assert [detect_faces(img, detector="haar") for _ in range(3)] == [single] * 3
    finally:
        cv2.setNumThreads(threads)
    assert len(single) == 2


@pytest.mark.media
def test_min_face_excludes_small_faces() -> None:
    img = _rgb("clean/astronaut.png")
    assert detect_faces(img, min_face=0.4, profile=False) == []


def test_merge_boxes_combines_overlaps_only() -> None:
    a = Box(10, 10, 40, 40, 5)
    b = Box(14, 12, 40, 40, 5)
    c = Box(200, 10, 40, 40, 2)
    merged = merge_boxes([a, b, c])
    assert len(merged) == 2
    assert merged[0].x == pytest.approx(12) and merged[0].score == 10


# -- tracking ---------------------------------------------------------------------------
def _moving(n: int, step: float = 4.0, start: float = 50.0) -> list[list[Box]]:
    return [[Box(start + step * i, 40, 60, 60, 10)] for i in range(n)]


def test_tracker_keeps_an_id_on_a_moving_face() -> None:
    tracker = FaceTracker()
    ids = set()
    for dets in _moving(12):
        states = tracker.update(dets)
        assert len(states) == 1
        ids.add(states[0].id)
    assert ids == {1}


def test_tracker_survives_missed_detections_then_drops() -> None:
    tracker = FaceTracker(max_missed=2)
    frames = _moving(4) + [[], []] + _moving(2, start=50 + 4 * 6)
    ids = []
    for dets in frames:
        states = tracker.update(dets)
        ids.extend(s.id for s in states if s.missed == 0)
    assert set(ids) == {1}  # two missed frames: the same face afterwards
    for _ in range(3):
        tracker.update([])
    assert tracker.update([]) == []  # gone after max_missed


def test_tracker_separates_two_faces_and_new_ones() -> None:
    tracker = FaceTracker()
    left, right = Box(10, 10, 50, 50, 9), Box(300, 10, 50, 50, 9)
    s1 = tracker.update([left, right])
    s2 = tracker.update([right.shifted(3, 0), left.shifted(2, 1)])  # order swapped
    by_x1 = {round(s.box.x): s.id for s in s1}
    by_x2 = {round(s.box.x): s.id for s in s2}
    assert by_x1[10] == by_x2[12] and by_x1[300] == by_x2[303]
    s3 = tracker.update([left.shifted(4, 2), right.shifted(6, 0), Box(150, 200, 40, 40, 5)])
    assert sorted(s.id for s in s3) == [1, 2, 3]


def test_smooth_tracks_fills_gaps_and_removes_jitter() -> None:
    rng = np.random.default_rng(1)
    dets: list[list[Box]] = []
    for i in range(15):
        jitter = rng.normal(0, 3, 3)
        dets.append([] if i in (6, 7) else
                    [Box(100 + 2 * i + jitter[0], 50 + jitter[1], 60 + jitter[2],
                         60 + jitter[2], 8)])
    dets[3].append(Box(400, 300, 30, 30, 3))  # a one-frame false detection
    tracks = smooth_tracks(dets, sigma=1.5)
    assert len(tracks) == 1  # the false detection is not confirmed
    boxes = tracks[0].boxes
    assert set(range(15)) <= set(boxes)  # the gap is filled
    assert tracks[0].detected == set(range(15)) - {6, 7}
    xs = np.array([boxes[i].x - 2 * i for i in range(15)])
    raw = np.array([d[0].x - 2 * i for i, d in enumerate(dets) if d])
    assert xs.std() < 0.6 * raw.std()


def test_smooth_tracks_of_one_frame() -> None:
    tracks = smooth_tracks([[Box(5, 5, 30, 30, 4)]])
    assert len(tracks) == 1 and tracks[0].boxes[0].x == pytest.approx(5)


@pytest.mark.media
def test_tracking_a_still_moved_across_frames_keeps_one_id() -> None:
    still = _rgb("clean/astronaut.png")
    tracker = FaceTracker()
    ids = []
    for i in range(3):
        # Small motion: the crop window slides 6 px right and 3 px down per frame.
        frame = np.ascontiguousarray(still[3 * i:3 * i + 300, 60 + 6 * i:60 + 6 * i + 300])
        dets = detect_faces(frame, profile=False)
        states = tracker.update(dets)
        ids.extend(s.id for s in states if s.missed == 0)
    assert len(ids) == 3 and set(ids) == {1}


# -- MTCNN --------------------------------------------------------------------------------
def _check_landmarks(box: Box) -> None:
    """Five points inside the box, eyes above the nose above the mouth corners, left
    eye left of the right eye."""
    assert box.landmarks is not None and len(box.landmarks) == 5
    for x, y in box.landmarks:
        assert _inside(box, x, y), (box, x, y)
    (lex, ley), (rex, rey), (_nx, ny), (lmx, lmy), (rmx, rmy) = box.landmarks
    assert lex < rex and lmx < rmx
    assert max(ley, rey) < ny < min(lmy, rmy)


@needs_mtcnn
@pytest.mark.media
@pytest.mark.parametrize("relative", ["faces/face_man_201.png", "faces/face_woman_28.png",
                                      "faces/kelley_portrait.jpg",
                                      "faces/thoreau_1856_daguerreotype.jpg"])
def test_mtcnn_finds_the_one_face_of_real_old_portraits(relative: str) -> None:
    img = _rgb(relative)
    found = detect_faces(img, detector="mtcnn")
    assert len(found) == 1
    box = found[0]
    assert box.kind == "frontal" and 0.9 <= box.score <= 1.0
    # A portrait: the face is a good part of the picture and not at its border.
    h, w = img.shape[:2]
    assert box.w > 0.1 * w and 0 <= box.x and box.x + box.w <= w and 0 <= box.y
    _check_landmarks(box)


@needs_mtcnn
@pytest.mark.media
def test_mtcnn_landmarks_on_the_astronaut() -> None:
    (box,) = detect_faces(_rgb("clean/astronaut.png"), detector="mtcnn")
    _check_landmarks(box)
    # Her eyes are around (205, 100) and (245, 100), her mouth around (225, 140).
    (lex, ley), (rex, rey), _nose, (lmx, lmy), (rmx, rmy) = box.landmarks
    assert abs(lex - 205) < 8 and abs(rex - 245) < 8 and abs(ley - 100) < 8
    assert abs((lmx + rmx) / 2 - 225) < 8 and abs((lmy + rmy) / 2 - 140) < 8


@needs_mtcnn
@pytest.mark.media
def test_mtcnn_finds_faces_the_cascades_miss() -> None:
    # A faded autochrome: a small face the cascades do not find, MTCNN does.
    img = _rgb("old_photos/faded_color_b.png")
    assert detect_faces(img, detector="haar") == []
    (box,) = detect_faces(img, detector="mtcnn")
    _check_landmarks(box)


@needs_mtcnn
@pytest.mark.media
def test_mtcnn_boxes_follow_the_frame_scale() -> None:
    # The same picture at two sizes: the same face, boxes and points scale with it.
    img = _rgb("old_photos/scratched_c.png")
    half = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    (a,) = detect_faces(img, detector="mtcnn", work_side=max(half.shape[:2]))
    (b,) = detect_faces(half, detector="mtcnn")
    assert a.iou(b.scaled(2.0)) > 0.8
    assert np.abs(np.array(a.landmarks) - 2 * np.array(b.landmarks)).max() < 3.0


@needs_mtcnn
def test_mtcnn_rejects_bad_input_and_finds_nothing_in_noise() -> None:
    model = mtcnn.load_mtcnn()
    assert mtcnn.load_mtcnn() is model  # loaded once per process
    with pytest.raises(ValueError, match="uint8 RGB"):
        model.detect(np.zeros((40, 40), np.uint8))
    rng = np.random.default_rng(1)
    noise = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    assert detect_faces(noise, detector="mtcnn") == []
    assert detect_faces(np.full((240, 320, 3), 90, np.uint8), detector="mtcnn") == []


@pytest.mark.media
def test_without_mtcnn_weights_detection_falls_back_to_haar(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(mtcnn, "weights_dir", lambda: None)
    monkeypatch.setattr(mtcnn, "_MODEL", None)
    monkeypatch.setattr(faces_module, "_WARNED", faces_module.threading.Event())
    img = _rgb("clean/astronaut.png")
    assert faces_module.active_detector() == "haar"
    with caplog.at_level(logging.WARNING, logger="gpu_worker.engine.faces"):
        found = detect_faces(img, profile=False)
        again = detect_faces(img, profile=False)
    assert found == again == detect_faces(img, profile=False, detector="haar")
    assert len(found) == 1 and found[0].landmarks is None
    warnings = [r for r in caplog.records if "Haar" in r.getMessage()]
    assert len(warnings) == 1  # once per process, not per frame
    assert "facenet-pytorch" in warnings[0].getMessage()
    with pytest.raises(mtcnn.MtcnnUnavailable, match="pip install --no-deps"):
        detect_faces(img, detector="mtcnn")
    with pytest.raises(ValueError, match="unknown face detector 'dlib'"):
        detect_faces(img, detector="dlib")


def test_landmarks_move_with_the_box_and_are_smoothed_over_time() -> None:
    marks = ((12.0, 14.0), (20.0, 14.0), (16.0, 18.0), (13.0, 22.0), (19.0, 22.0))
    b = Box(10, 10, 12, 16, 0.99, "frontal", marks)
    assert b.scaled(2.0).landmarks[0] == (24.0, 28.0)
    assert b.shifted(5, -1).landmarks[4] == (24.0, 21.0)
    assert b.to_dict()["landmarks"][2] == [16.0, 18.0]
    # A face moving 2 px right per frame, detected in frames 0, 1, 3: frame 2 is
    # interpolated, every frame's points move with its box.
    dets = [[b.shifted(2 * i, 0)] if i != 2 else [] for i in range(4)]
    (track,) = smooth_tracks(dets, sigma=0.5, min_hits=2)
    assert set(track.boxes) == {0, 1, 2, 3}
    for box in track.boxes.values():
        assert box.landmarks is not None
        assert box.landmarks[0][0] - box.x == pytest.approx(2.0, abs=1e-6)
    assert track.boxes[2].landmarks[2][0] == pytest.approx(16.0 + 4.0, abs=0.5)


def test_haar_frame_of_an_mtcnn_box() -> None:
    marks = ((30.0, 40.0), (50.0, 40.0), (40.0, 50.0), (32.0, 60.0), (48.0, 60.0))
    b = Box(20, 20, 40, 50, 0.95, "frontal", marks)
    h = haar_frame(b)
    assert (h.cx, h.cy) == pytest.approx((b.cx, b.cy))
    assert h.w == h.h == pytest.approx(0.86 * 50) and h.landmarks == marks
    haar = Box(20, 20, 40, 40, 12.0)
    assert haar_frame(haar) is haar
