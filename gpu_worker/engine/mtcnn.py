"""MTCNN face detection (Zhang et al. 2016) in torch, with the pretrained weights of the
`facenet-pytorch` wheel.

The three networks of the cascade are defined here (the same layers and parameter
names as facenet-pytorch's, so its state dicts load as they are):

1. P-Net, fully convolutional, slides a 12 px window over an image pyramid (each level
   0.709 of the one before) and proposes boxes with a face probability and a box
   regression; non-maximum suppression per level, then over all levels.
2. R-Net rescores every proposal on a 24 px crop and refines its box.
3. O-Net rescores again on a 48 px crop, refines the box and places five landmarks:
   left eye, right eye, nose, left mouth corner, right mouth corner (left and right as
   seen in the picture).

Why our own code: facenet-pytorch's package pins torch<2.3 and numpy<2 (its 2.6.0
METADATA), which would downgrade the engine's torch, and importing it pulls PIL and
its InceptionResnet modules. Its wheel is installed with `pip install --no-deps` only
as the source of the weights (`facenet_pytorch/data/{pnet,rnet,onet}.pt`, MIT licence);
this module finds those files on `sys.path` without importing the package. Nothing is
downloaded and no weights are copied into the repository.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import nms

__all__ = ["PNet", "RNet", "ONet", "Detection", "Mtcnn", "weights_dir", "load_mtcnn",
           "MtcnnUnavailable", "WEIGHTS_PACKAGE"]

WEIGHTS_PACKAGE = "facenet-pytorch==2.6.0"
_WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")


class MtcnnUnavailable(RuntimeError):
    """The MTCNN weights are not installed."""


class PNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights come from Caffe: flatten in (W, H, C) order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


@dataclass(frozen=True)
class Detection:
    """A face: box corners (x0, y0, x1, y1) in image pixels, the O-Net probability and
    five landmarks ((x, y) of left eye, right eye, nose, left and right mouth corner)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    landmarks: tuple[tuple[float, float], ...]


def weights_dir() -> Path | None:
    """The `facenet_pytorch/data` folder of an installed facenet-pytorch wheel (found
    on sys.path, without importing the package), or None."""
    for entry in sys.path:
        if not entry:
            continue
        folder = Path(entry) / "facenet_pytorch" / "data"
        if all((folder / name).is_file() for name in _WEIGHT_FILES):
            return folder
    return None


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes (N, ≥4) made square around their centres (side = the longer side)."""
    out = boxes.clone()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    out = boxes.clone()
    w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    out[:, 0:4] = boxes[:, 0:4] + reg * torch.cat([w, h, w, h], dim=1)
    return out


def _crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, size, size) area-resampled cuts of (3, H, W) at integer boxes, zero
    outside the image (as the reference implementation pads)."""
    _, h, w = image.shape
    out = []
    for x0, y0, x1, y1 in boxes[:, :4].floor().to(torch.int64).tolist():
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        cut = image.new_zeros((3, y1 - y0, x1 - x0))
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if sx1 > sx0 and sy1 > sy0:
            cut[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[:, sy0:sy1, sx0:sx1]
        out.append(F.interpolate(cut[None], size=(size, size), mode="area"))
    return torch.cat(out)


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """NMS by intersection over the smaller box (O-Net's last step: a box inside a
    bigger one is the same face)."""
    order = scores.argsort(descending=True).tolist()
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            iw = (torch.minimum(boxes[i, 2], boxes[j, 2])
                  - torch.maximum(boxes[i, 0], boxes[j, 0]) + 1).clamp_min(0)
            ih = (torch.minimum(boxes[i, 3], boxes[j, 3])
                  - torch.maximum(boxes[i, 1], boxes[j, 1]) + 1).clamp_min(0)
            if float(iw * ih / torch.minimum(area[i], area[j])) > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


class Mtcnn:
    """The P-Net / R-Net / O-Net cascade on one image at a time, on the CPU."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        for net, name in ((self.pnet, "pnet.pt"), (self.rnet, "rnet.pt"),
                          (self.onet, "onet.pt")):
            state = torch.load(folder / name, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
            net.eval()
        self._lock = threading.Lock()

    @torch.inference_mode()
    def detect(self, image: np.ndarray, *, min_size: float = 20.0,
               thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
               factor: float = 0.709) -> list[Detection]:
        """Faces in an (H, W, 3) RGB uint8 image, largest probability first; faces
        smaller than `min_size` pixels are not searched for (at least 12)."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("MTCNN needs an (H, W, 3) uint8 RGB image")
        with self._lock:
            return self._detect(image, max(12.0, float(min_size)), thresholds, factor)

    def _detect(self, image: np.ndarray, min_size: float,
                thresholds: tuple[float, float, float], factor: float) -> list[Detection]:
        img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
        img = (img - 127.5) * 0.0078125
        _, h, w = img.shape
        # Stage 1: P-Net over the pyramid.
        scale = 12.0 / min_size
        side = min(h, w) * scale
        found = []
        while side >= 12:
            size = (int(h * scale + 1), int(w * scale + 1))
            reg, prob = self.pnet(F.interpolate(img[None], size=size, mode="area"))
            p = prob[0, 1]
            ys, xs = torch.nonzero(p >= thresholds[0], as_tuple=True)
            if len(ys):
                grid = torch.stack([xs, ys], 1).float()
                q0 = ((2 * grid + 1) / scale).floor()
                q1 = ((2 * grid + 12) / scale).floor()
                boxes = torch.cat([q0, q1, p[ys, xs][:, None], reg[0][:, ys, xs].T], 1)
                found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
            scale *= factor
            side *= factor
        if not found:
            return []
        boxes = torch.cat(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        # P-Net's regression is relative to the box's side (without the +1 of the
        # later stages, as in the reference implementation).
        wh = (boxes[:, 2:4] - boxes[:, 0:2]).repeat(1, 2)
        boxes = _square(torch.cat([boxes[:, :4] + boxes[:, 5:9] * wh, boxes[:, 4:5]], 1))
        # Stage 2: R-Net on 24 px cuts.
        reg, prob = self.rnet(_crops(img, boxes, 24))
        keep = prob[:, 1] > thresholds[1]
        if not keep.any():
            return []
        boxes = torch.cat([boxes[keep, :4], prob[keep, 1:2]], 1)
        reg = reg[keep]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_regress(boxes[pick], reg[pick]))
        # Stage 3: O-Net on 48 px cuts: final score, box and landmarks.
        reg, marks, prob = self.onet(_crops(img, boxes, 48))
        keep = prob[:, 1] > thresholds[2]
        if not keep.any():
            return []
        boxes = torch.cat([boxes[keep, :4], prob[keep, 1:2]], 1)
        reg, marks = reg[keep], marks[keep]
        bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        px = bw * marks[:, :5] + boxes[:, 0:1] - 1
        py = bh * marks[:, 5:] + boxes[:, 1:2] - 1
        boxes = _regress(boxes, reg)
        out = []
        for i in _nms_min(boxes[:, :4], boxes[:, 4], 0.7):
            x0, y0, x1, y1, s = boxes[i].tolist()
            out.append(Detection(x0, y0, x1, y1, s, tuple(
                (float(px[i, k]), float(py[i, k])) for k in range(5))))
        return out


_MODEL: Mtcnn | None = None
_MODEL_LOCK = threading.Lock()


def load_mtcnn() -> Mtcnn:
    """The cascade, loaded once per process; MtcnnUnavailable when the weights are not
    installed."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            folder = weights_dir()
            if folder is None:
                raise MtcnnUnavailable(
                    "the MTCNN face detector's weights are not installed: install them "
                    f"with `pip install --no-deps \"{WEIGHTS_PACKAGE}\"` (scripts/install "
                    "does)")
            _MODEL = Mtcnn(folder)
        return _MODEL
