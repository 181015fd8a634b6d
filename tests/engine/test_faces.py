"""faces: MTCNN (default) and OpenCV's cascades (fallback), detection on real photos,
landmarks, tracking, smoothing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gpu_worker.engine import faces as faces_module
from gpu_worker.engine.faces import (
    Box,
    FaceTracker,
    detect_faces,
    load_cascade,
    merge_boxes,
    smooth_tracks,
)
from tests.conftest import media_file


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
