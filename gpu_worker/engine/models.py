"""Neural checkpoints: where they live, how they load, how they run on big frames.

Two places hold weights:

* the project's own defaults, shipped in `gpu_worker/engine/weights/` (small models
  trained by `gpu_worker.training`, each with a model card beside it);
* a models folder of the user's (`MODELS_DIR`, or the `models_dir` a render is given),
  where standard checkpoints a user already has (ESRGAN/Real-ESRGAN, SwinIR, SCUNet,
  NAFNet, GFPGAN, CodeFormer, …) are dropped as `.pth`, `.pt`, `.ckpt` or
  `.safetensors` files.

Every checkpoint loads through spandrel, which recognises the architecture from the
state dict and reports its capabilities (scale, half/bfloat16 support, tiling, size
requirements). Nothing is ever downloaded. Pickled checkpoints are read with
spandrel's restricted unpickler, so a hostile `.pth` cannot run code.

Loading is lazy and cached per process: operators call `load_model` when a render
builds them, inside the worker's child process, so the parent of a prefork worker
never touches CUDA.

`run_tiled` runs an image model over a frame in overlapping tiles blended with
feathered weights, so a 4K output fits in bounded memory and no seam shows.
"""

from __future__ import annotations

import os
import pickle
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["BUILTIN_DIR", "CHECKPOINT_SUFFIXES", "ModelError", "ModelInfo", "LoadedModel",
           "resolve_models_dir", "find_model", "load_model", "describe_model", "list_models",
           "run_tiled", "clear_cache"]

BUILTIN_DIR = Path(__file__).resolve().parent / "weights"
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")


class ModelError(ValueError):
    """A checkpoint cannot be found, read, recognised, or does not fit its use."""


@dataclass(frozen=True)
class ModelInfo:
    """What spandrel recognised in a checkpoint, in plain JSON-ready fields."""

    name: str  # how a spec refers to it: the file name without suffix
    path: str
    builtin: bool
    architecture: str
    purpose: str  # "SR", "FaceSR", "Restoration", "Inpaint"
    scale: int
    input_channels: int
    output_channels: int
    supports_half: bool
    supports_bfloat16: bool
    tiling: str  # "supported", "discouraged", "internal"
    size_multiple_of: int
    size_minimum: int
    parameters: int
    error: str = ""  # why the file cannot be used (list_models(include_unreadable=True))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedModel:
    """A model ready to run: on its device, in eval mode, in its working dtype."""

    info: ModelInfo
    descriptor: Any  # spandrel.ImageModelDescriptor
    device: torch.device
    dtype: torch.dtype

    @property
    def scale(self) -> int:
        return self.info.scale

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] on any dtype → (B, C', H·s, W·s) float32."""
        x = image.to(device=self.device, dtype=self.dtype)
        with torch.inference_mode():
            y = self.descriptor(x)
        return y.float()


def resolve_models_dir(models_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The user's models folder: the argument, else $MODELS_DIR, else none."""
    raw = models_dir if models_dir is not None else os.environ.get("MODELS_DIR")
    return Path(raw) if raw else None


def _candidates(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}{suffix}" for suffix in CHECKPOINT_SUFFIXES]


def find_model(ref: str, models_dir: str | os.PathLike[str] | None = None) -> Path:
    """The checkpoint file a spec's model reference names.

    `ref` is a file name with or without suffix, looked up first in the user's models
    folder (so a user can replace a default) and then among the shipped weights, or
    an absolute path.
    """
    if not ref or not ref.strip():
        raise ModelError("no model named")
    path = Path(ref)
    if path.is_absolute():
        if path.is_file():
            return path
        raise ModelError(f"model file {path} does not exist")
    if len(path.parts) != 1 or ref in (".", ".."):
        raise ModelError(f"model {ref!r}: give a file name from the models folder, "
                         "not a relative path")
    folders = [f for f in (resolve_models_dir(models_dir), BUILTIN_DIR) if f is not None]
    for folder in folders:
        options = [folder / ref] if path.suffix.lower() in CHECKPOINT_SUFFIXES \
            else _candidates(folder, ref)
        for option in options:
            if option.is_file():
                return option
    where = " or ".join(str(f) for f in folders)
    raise ModelError(f"model {ref!r} not found in {where} (known: "
                     f"{', '.join(m.name for m in list_models(models_dir, describe=False)) or 'none'})")


_CACHE: dict[tuple[str, float, str, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget every loaded model (tests; a worker that swaps checkpoints)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _refusal(exc: BaseException) -> str:
    """A short reason from torch's weights-only unpickler (its message is a page long)."""
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (f"it holds Python objects besides tensors ({found.group(1)}), and "
                "unpickling them could run code; only plain state dicts are loaded")
    found = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    detail = found.group(1).strip() if found else (text.splitlines()[0][:200] if text
                                                  else type(exc).__name__)
    return f"not a plain tensor checkpoint ({detail})"


def _read_state_dict(path: Path, device: torch.device) -> dict[str, Any]:
    """The tensors of a checkpoint file, read without running any code it contains.

    Pickled formats go through torch's weights-only unpickler, which accepts tensors,
    containers and numbers and refuses every other global, so a hostile `.pth` (a
    `__reduce__` payload) fails before anything in it runs. TorchScript archives are
    refused outright: they carry code.
    """
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device=str(device))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{path.name}: not a readable safetensors file ({exc})") from None
    if suffix not in CHECKPOINT_SUFFIXES:
        raise ModelError(f"{path.name}: unsupported checkpoint type {suffix!r}; use "
                         f"{', '.join(CHECKPOINT_SUFFIXES)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol chatter from torch
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelError(f"{path.name}: refused: {_refusal(exc)}") from None
    except RuntimeError as exc:
        if "TorchScript" in str(exc):
            raise ModelError(f"{path.name}: refused: a TorchScript archive carries code; "
                             "export the model's state dict instead") from None
        raise ModelError(f"{path.name}: not a readable checkpoint "
                         f"({str(exc).splitlines()[0][:200]})") from None
    except Exception as exc:  # truncated or random bytes fail in many ways
        raise ModelError(f"{path.name}: not a readable checkpoint "
                         f"({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{path.name}: holds a {type(state).__name__}, not a state dict")
    return state


def _read_descriptor(path: Path, device: torch.device) -> Any:
    import spandrel  # imported late: it pulls in every architecture it knows

    state = spandrel.canonicalize_state_dict(_read_state_dict(path, torch.device("cpu")))
    if not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path.name}: holds no weights")
    try:
        descriptor = spandrel.MAIN_REGISTRY.load(state)
    except spandrel.UnsupportedModelError:
        raise ModelError(f"{path.name}: spandrel does not recognise this checkpoint's "
                         "architecture") from None
    except Exception as exc:  # a known architecture with inconsistent tensors
        raise ModelError(f"{path.name}: cannot build the model "
                         f"({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ModelError(f"{path.name}: a {descriptor.purpose} model "
                         f"({descriptor.architecture.name}) needs a mask; not supported")
    return descriptor.to(device)


def _info_from_descriptor(path: Path, descriptor: Any) -> ModelInfo:
    size = descriptor.size_requirements
    tiling = getattr(descriptor.tiling, "name", str(descriptor.tiling)).lower()
    return ModelInfo(
        name=path.stem, path=str(path), builtin=path.parent == BUILTIN_DIR,
        architecture=str(descriptor.architecture.name), purpose=str(descriptor.purpose),
        scale=int(descriptor.scale), input_channels=int(descriptor.input_channels),
        output_channels=int(descriptor.output_channels),
        supports_half=bool(descriptor.supports_half),
        supports_bfloat16=bool(descriptor.supports_bfloat16), tiling=tiling,
        size_multiple_of=int(size.multiple_of), size_minimum=int(size.minimum),
        parameters=sum(p.numel() for p in descriptor.model.parameters()))


def describe_model(path: str | os.PathLike[str]) -> ModelInfo:
    """Recognise a checkpoint without keeping it loaded."""
    p = Path(path)
    return _info_from_descriptor(p, _read_descriptor(p, torch.device("cpu")))


def _working_dtype(info: ModelInfo, device: torch.device, precision: str) -> torch.dtype:
    """float16 on CUDA where the architecture supports it (then bfloat16), float32
    on the CPU, where half precision is slower and less exact."""
    if precision == "float32" or device.type != "cuda":
        return torch.float32
    if precision in ("auto", "float16") and info.supports_half:
        return torch.float16
    if precision in ("auto", "bfloat16") and info.supports_bfloat16:
        return torch.bfloat16
    return torch.float32


def load_model(ref: str, *, device: torch.device | str = "cpu",
               models_dir: str | os.PathLike[str] | None = None,
               purpose: tuple[str, ...] | None = None, scale: int | None = None,
               channels: int = 3, precision: str = "auto") -> LoadedModel:
    """Load (once per process) the checkpoint `ref` names and check it fits the use.

    purpose: the spandrel purposes the caller can use (e.g. ("SR",)); scale: the
    scale the caller needs; channels: input and output channels (3 = RGB).
    Raises ModelError with a sentence a technician can act on.
    """
    dev = torch.device(device)
    path = find_model(ref, models_dir)
    key = (str(path.resolve()), path.stat().st_mtime, str(dev), precision)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        descriptor = _read_descriptor(path, dev)
        info = _info_from_descriptor(path, descriptor)
        dtype = _working_dtype(info, dev, precision)
        descriptor.eval()
        if dtype != torch.float32:
            descriptor.to(dtype)
        cached = LoadedModel(info=info, descriptor=descriptor, device=dev, dtype=dtype)
        with _CACHE_LOCK:
            _CACHE[key] = cached
    info = cached.info
    if purpose is not None and info.purpose not in purpose:
        raise ModelError(f"model {info.name!r} is a {info.purpose} model "
                         f"({info.architecture}); this operator needs {' or '.join(purpose)}")
    if scale is not None and info.scale != scale:
        raise ModelError(f"model {info.name!r} upscales {info.scale}x; this operator "
                         f"asked for {scale}x")
    if info.input_channels != channels or info.output_channels != channels:
        raise ModelError(f"model {info.name!r} takes {info.input_channels} and gives "
                         f"{info.output_channels} channels; RGB video needs {channels}")
    return cached


def _placeholder(path: Path, *, builtin: bool, error: str = "") -> ModelInfo:
    return ModelInfo(name=path.stem, path=str(path), builtin=builtin, architecture="",
                     purpose="", scale=0, input_channels=0, output_channels=0,
                     supports_half=False, supports_bfloat16=False, tiling="",
                     size_multiple_of=1, size_minimum=0, parameters=0, error=error)


def list_models(models_dir: str | os.PathLike[str] | None = None, *,
                describe: bool = True, include_unreadable: bool = False) -> list[ModelInfo]:
    """Every model name a spec can use, with the file `find_model` picks for it.

    The user's folder comes first and hides a shipped model of the same name; within a
    folder, suffixes are tried in `CHECKPOINT_SUFFIXES` order, as `find_model` does.
    With describe=False only names and paths are filled in (no file is read). Files
    that cannot be used are left out, or listed with `error` set when
    `include_unreadable`.
    """
    out: list[ModelInfo] = []
    seen: set[str] = set()
    order = {suffix: i for i, suffix in enumerate(CHECKPOINT_SUFFIXES)}
    for folder in (resolve_models_dir(models_dir), BUILTIN_DIR):
        if folder is None or not folder.is_dir():
            continue
        files = [f for f in folder.iterdir()
                 if f.suffix.lower() in order and f.is_file() and not f.name.startswith(".")]
        files.sort(key=lambda f: (f.stem, order[f.suffix.lower()]))
        builtin = folder == BUILTIN_DIR
        for path in files:
            if path.stem in seen:
                continue
            seen.add(path.stem)  # a broken file still hides a same-named one below it
            if not describe:
                out.append(_placeholder(path, builtin=builtin))
                continue
            try:
                out.append(describe_model(path))
            except ModelError as exc:
                if include_unreadable:
                    out.append(_placeholder(path, builtin=builtin, error=str(exc)))
    return out


def _blend_weight(length: int, overlap: int, at_start: bool, at_end: bool,
                  device: torch.device) -> torch.Tensor:
    """1-D blending weight of a tile along one axis (output pixels).

    On a side that meets another tile, the outer quarter of the overlap gets weight 0
    (those pixels saw the zero padding of the tile's border, the cause of seams), the
    middle half ramps linearly up to 1, so two neighbours cross-fade over pixels both
    computed with real context. Sides at the frame's edge are flat (weight 1).
    """
    w = torch.ones(length, device=device)
    if overlap <= 0:
        return w
    margin = overlap // 4
    ramp_len = max(1, overlap - 2 * margin)
    ramp = (torch.arange(ramp_len, device=device, dtype=torch.float32) + 0.5) / ramp_len
    rise = torch.cat([torch.zeros(margin, device=device), ramp])[:length]
    if not at_start:
        w[:rise.numel()] = rise
    if not at_end:
        fall = rise.flip(0)
        w[length - fall.numel():] = torch.minimum(w[length - fall.numel():], fall)
    return w


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, *,
              scale: int, tile: int = 256, overlap: int = 32,
              edge_pad: int = 0) -> torch.Tensor:
    """Run `fn` (an image model) over `image` (B, C, H, W) in overlapping tiles.

    Each tile is at most `tile` x `tile` input pixels and overlaps its neighbours by
    `overlap` pixels. In each overlap, the quarter nearest a tile's border is dropped
    and the middle half cross-fades linearly, so tile borders (where a convolution
    sees padding) never show: for a convolutional network whose receptive radius is
    at most overlap/4, tiled output equals untiled output up to float rounding.
    `tile=0` runs the whole frame at once. Peak memory: one tile's activations plus
    the float32 output frame and a one-channel weight plane.

    `edge_pad` extends the frame by reflection on every side before running (and
    crops the result), so at the frame's edges the network sees picture rather than
    its convolutions' zero padding, as it does between tiles.
    """
    if edge_pad > 0:
        return edge_padded(lambda x: run_tiled(fn, x, scale=scale, tile=tile, overlap=overlap),
                           image, edge_pad, scale)
    b, c, h, w = image.shape
    if tile <= 0 or (h <= tile and w <= tile):
        return fn(image).float()
    overlap = max(0, min(overlap, tile // 2))
    out: torch.Tensor | None = None
    weight = torch.zeros(1, 1, h * scale, w * scale, device=image.device)
    ys, xs = _tile_starts(h, tile, overlap), _tile_starts(w, tile, overlap)
    for y in ys:
        th = min(tile, h - y)
        for x in xs:
            tw = min(tile, w - x)
            piece = fn(image[:, :, y:y + th, x:x + tw]).to(image.device, torch.float32)
            if piece.shape[-2:] != (th * scale, tw * scale):
                raise ModelError(f"the model returned {tuple(piece.shape[-2:])} for a "
                                 f"{th}x{tw} tile; expected {scale}x that")
            if out is None:
                out = torch.zeros(b, piece.shape[1], h * scale, w * scale,
                                  device=image.device)
            add_cross_faded(out, weight, piece, (y, y + th), (x, x + tw), scale, overlap)
    assert out is not None
    return out.div_(weight.clamp_min_(1e-8))


def edge_padded(run: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor,
                edge_pad: int, scale: int) -> torch.Tensor:
    """`run(image)` on the frame extended by `edge_pad` pixels of reflection on every
    side (at most its size less one), the result cropped back to the frame."""
    p = min(edge_pad, image.shape[2] - 1, image.shape[3] - 1)
    if p <= 0:
        return run(image)
    out = run(F.pad(image, (p, p, p, p), mode="reflect"))
    return out[:, :, p * scale:-p * scale, p * scale:-p * scale]


def add_cross_faded(out: torch.Tensor, weight: torch.Tensor, piece: torch.Tensor,
                    rows: tuple[int, int], cols: tuple[int, int], scale: int,
                    overlap: int) -> None:
    """Add a tile's output (input rows and columns [start, end) of the frame) to `out`
    under its cross-fade mask, and the mask to `weight`; `out / weight` is the frame."""
    h, w = out.shape[2] // scale, out.shape[3] // scale
    (y0, y1), (x0, x1) = rows, cols
    wy = _blend_weight((y1 - y0) * scale, overlap * scale, y0 == 0, y1 == h, out.device)
    wx = _blend_weight((x1 - x0) * scale, overlap * scale, x0 == 0, x1 == w, out.device)
    mask = (wy[:, None] * wx[None, :])[None, None]
    ys, xs = slice(y0 * scale, y1 * scale), slice(x0 * scale, x1 * scale)
    out[:, :, ys, xs].addcmul_(piece, mask)
    weight[:, :, ys, xs] += mask
