"""colour_transfer: learn a grade from frames a colourist fixed by hand.

The learnt mapping is a LUT, so `colour_map` can be baked into a `.cube` with
`gpu_worker.engine.lut`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gpu_worker.engine.lut import ColourFn, Lut, apply_lut, lut_colour_fn, lut_from_function
from gpu_worker.engine.registry import OpContext, Operator
from gpu_worker.engine.schema import ColourTransferSchema, SpecError


def load_image(path: str | Path) -> np.ndarray:
    """An image file as float32 RGB (H, W, 3) in [0, 1]; 8/16-bit, grey or with alpha."""
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise FileNotFoundError(f"cannot read image {path} (missing or not an image)")
    scale = 65535.0 if data.dtype == np.uint16 else 255.0 if data.dtype == np.uint8 else 1.0
    img = data.astype(np.float32) / scale
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    elif img.shape[2] == 2:  # grey + alpha
        img = np.repeat(img[..., :1], 3, axis=2)
    return np.ascontiguousarray(img[..., ::-1] if data.ndim == 3 and data.shape[2] >= 3
                                else img).clip(0.0, 1.0)


def _trilinear_design(x: np.ndarray, size: int):  # type: ignore[no-untyped-def]
    """Sparse (M, size^3) matrix of trilinear weights of samples x (M, 3) on the lattice."""
    from scipy import sparse

    pos = np.clip(x, 0.0, 1.0) * (size - 1)
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, size - 2)
    f = pos - i0
    rows, cols, vals = [], [], []
    m = np.arange(len(x))
    for dr in (0, 1):
        for dg in (0, 1):
            for db in (0, 1):
                w = ((f[:, 0] if dr else 1 - f[:, 0]) * (f[:, 1] if dg else 1 - f[:, 1])
                     * (f[:, 2] if db else 1 - f[:, 2]))
                idx = ((i0[:, 2] + db) * size + (i0[:, 1] + dg)) * size + (i0[:, 0] + dr)
                rows.append(m)
                cols.append(idx)
                vals.append(w)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                      np.concatenate(cols))),
                             shape=(len(x), size ** 3))


def _lattice_differences(size: int):  # type: ignore[no-untyped-def]
    """Sparse first-difference operator between lattice neighbours along r, g and b."""
    from scipy import sparse

    n = size ** 3
    idx = np.arange(n).reshape(size, size, size)  # [b, g, r]
    rows, cols, vals = [], [], []
    r0 = 0
    for axis in range(3):
        a = np.moveaxis(idx, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        k = len(lo)
        rr = np.arange(r0, r0 + k)
        rows += [rr, rr]
        cols += [lo, hi]
        vals += [-np.ones(k), np.ones(k)]
        r0 += k
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                      np.concatenate(cols))), shape=(r0, n))


def fit_colour_mapping(src: np.ndarray, dst: np.ndarray, *, model: str = "lut",
                       lut_size: int = 17, smoothness: float = 1.0,
                       max_samples: int = 200_000, out_size: int = 33) -> Lut:
    """Learn the colour mapping src -> dst (both (M, 3) RGB in [0, 1]) as a 3-D LUT.

    First a 3x4 affine colour matrix by least squares (the global balance, exposure and
    channel mixing, which extrapolates sensibly to colours the pair does not show).
    With model="lut", the remaining non-linear part (curves, selective hue changes) is
    fitted on a `lut_size` lattice: data term on the trilinear weights, plus a
    smoothness term between neighbouring lattice nodes and a weak pull to zero, so
    colours absent from the pair fall back to the matrix.
    """
    from scipy.sparse.linalg import spsolve

    src = np.asarray(src, np.float64).reshape(-1, 3)
    dst = np.asarray(dst, np.float64).reshape(-1, 3)
    if len(src) > max_samples:
        pick = np.random.default_rng(0).choice(len(src), max_samples, replace=False)
        src, dst = src[pick], dst[pick]
    design = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    ridge = 1e-6 * len(src) * np.eye(4)
    mat = np.linalg.solve(design.T @ design + ridge, design.T @ dst)  # (4, 3)
    residual = dst - design @ mat

    res_table = None
    if model == "lut":
        a = _trilinear_design(src, lut_size)
        d = _lattice_differences(lut_size)
        n = lut_size ** 3
        # Scale the data term to a per-sample mean so `smoothness` means the same for
        # a thumbnail and a 4K frame.
        lam = 2e-3 * smoothness * lut_size ** 2
        lhs = (a.T @ a) / len(src) + lam * (d.T @ d) / n + 1e-6 * _eye(n)
        rhs = (a.T @ residual) / len(src)
        res_table = np.stack([spsolve(lhs.tocsc(), rhs[:, c]) for c in range(3)], axis=1)
        res_lut = Lut(torch.from_numpy(res_table.reshape(lut_size, lut_size, lut_size, 3)
                                       ).float())

    mat_t = torch.from_numpy(mat).float()

    def mapping(x: torch.Tensor) -> torch.Tensor:
        flat = x.permute(0, 2, 3, 1)
        out = flat @ mat_t[:3].to(x.device) + mat_t[3].to(x.device)
        out = out.permute(0, 3, 1, 2)
        if res_table is not None:
            out = out + apply_lut(x, res_lut, clamp=False)
        return out.clamp(0.0, 1.0)

    return lut_from_function(mapping, size=out_size, title="colour transfer")


def _eye(n: int):  # type: ignore[no-untyped-def]
    from scipy import sparse

    return sparse.identity(n, format="csr")


_PAIR_PARAMS = (("original", "fixed"), ("original_2", "fixed_2"), ("original_3", "fixed_3"))
_FIT_CACHE: dict[tuple[Any, ...], Lut] = {}
_FIT_LOCK = threading.Lock()


class ColourTransfer(ColourTransferSchema, Operator):
    def __init__(self, params: Mapping[str, Any], ctx: OpContext) -> None:
        super().__init__(params, ctx)
        self.lut = self._fit().to(ctx.device)

    def _pairs(self) -> list[tuple[Path, Path, str, str]]:
        pairs = []
        for o_name, f_name in _PAIR_PARAMS:
            o, f = self.p[o_name], self.p[f_name]
            if not o and not f:
                continue
            if not o or not f:
                missing = o_name if not o else f_name
                raise SpecError(f"{self.name}.{missing}: give both frames of a pair "
                                f"({o_name} and {f_name})", op=self.name, param=missing)
            pairs.append((self.ctx.resolve_path(o), self.ctx.resolve_path(f), o_name, f_name))
        if not pairs:
            raise SpecError(f"{self.name}.original: needs at least one pair of frames "
                            f"(original and fixed)", op=self.name, param="original")
        return pairs

    def _fit(self) -> Lut:
        import cv2

        pairs = self._pairs()
        key_parts: list[Any] = [self.p["model"], self.p["smoothness"]]
        for o, f, _, _ in pairs:
            for p in (o, f):
                try:
                    key_parts.append((str(p), p.stat().st_mtime_ns))
                except OSError:
                    key_parts.append((str(p), None))
        key = tuple(key_parts)
        with _FIT_LOCK:
            if key in _FIT_CACHE:
                return _FIT_CACHE[key]
        srcs, dsts = [], []
        for o, f, o_name, f_name in pairs:
            try:
                orig = load_image(o)
            except FileNotFoundError as exc:
                raise SpecError(f"{self.name}.{o_name}: {exc}", op=self.name,
                                param=o_name) from None
            try:
                fixed = load_image(f)
            except FileNotFoundError as exc:
                raise SpecError(f"{self.name}.{f_name}: {exc}", op=self.name,
                                param=f_name) from None
            (ho, wo), (hf, wf) = orig.shape[:2], fixed.shape[:2]
            if abs(wo / ho - wf / hf) > 0.01 * (wo / ho):
                raise SpecError(f"{self.name}.{f_name}: {f.name} is {wf}x{hf} but {o.name} is "
                                f"{wo}x{ho}; the fixed frame must have the same framing",
                                op=self.name, param=f_name)
            if (ho, wo) != (hf, wf):
                fixed = cv2.resize(fixed, (wo, ho), interpolation=cv2.INTER_AREA)
            # Skip clipped pixels: what the colourist did to them is not recoverable.
            ok = (orig.max(axis=2) < 0.995) & (fixed.max(axis=2) < 0.995)
            srcs.append(orig[ok])
            dsts.append(fixed[ok])
        src, dst = np.concatenate(srcs), np.concatenate(dsts)
        if len(src) < 100:
            raise SpecError(f"{self.name}.original: the reference frames have almost no "
                            f"unclipped pixels to learn from", op=self.name, param="original")
        lut = fit_colour_mapping(src, dst, model=self.p["model"],
                                 smoothness=self.p["smoothness"])
        with _FIT_LOCK:
            if len(_FIT_CACHE) > 16:
                _FIT_CACHE.clear()
            _FIT_CACHE[key] = lut
        return lut

    def colour_map(self, reference: torch.Tensor | None = None) -> ColourFn:
        return lut_colour_fn(self.lut, self.p["amount"])

    def process(self, frames: torch.Tensor, windows: torch.Tensor,
                frame_numbers: torch.Tensor) -> torch.Tensor:
        return self.colour_map()(self.centre(frames, windows))
