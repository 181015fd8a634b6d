"""`.cube` colour look-up tables: read, write, apply, and bake colour chains into one.

The `.cube` format (Adobe Cube LUT Specification 1.0, also written by DaVinci Resolve):

    # comment
    TITLE "Film look"
    LUT_3D_SIZE 33            (or LUT_1D_SIZE 1024)
    DOMAIN_MIN 0 0 0          (optional; Resolve writes LUT_3D_INPUT_RANGE 0 1 instead)
    DOMAIN_MAX 1 1 1
    0.000 0.000 0.000         (N^3 lines of "R G B", red changing fastest)
    ...

A file with both sizes (what DaVinci Resolve exports as a "shaper" LUT, for log or
HDR footage whose values reach past 1) holds a 1-D table first, then the 3-D one: the
1-D shaper maps the input (its range set by LUT_1D_INPUT_RANGE) onto the 3-D table's
input (LUT_3D_INPUT_RANGE), and the 3-D table is applied to the result.

A 3-D table is stored as a (S, S, S, 3) tensor indexed [blue, green, red], which is the
file's order (red fastest) and exactly the (D, H, W) layout `grid_sample` expects, so
applying it is one trilinear `grid_sample` call on CPU or CUDA.

Any chain of per-pixel colour operators can be baked into a `.cube`
(gpu_worker.engine.lut_export.export_chain):
the identity lattice is pushed through the operators, so a grade made here can be
loaded in Resolve, a camera monitor or ffmpeg's lut3d filter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

MAX_3D_SIZE = 256
MAX_1D_SIZE = 65536

ColourFn = Callable[[torch.Tensor], torch.Tensor]


class LutError(ValueError):
    """A LUT file is malformed or a chain cannot be baked; the message says where."""


@dataclass
class Lut:
    """A 1-D or 3-D colour look-up table.

    table: (S, S, S, 3) indexed [b, g, r] for a 3-D LUT, (S, 3) for a 1-D LUT; output
    RGB values. domain_min/max: the input values that map to the first/last entry.
    """

    table: torch.Tensor
    title: str = ""
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    shaper: Lut | None = None  # a 1-D LUT applied before a 3-D one (Resolve's shaper)

    @property
    def is_3d(self) -> bool:
        return self.table.dim() == 4

    @property
    def size(self) -> int:
        return int(self.table.shape[0])

    def to(self, device: torch.device | str) -> Lut:
        return Lut(self.table.to(device=device, dtype=torch.float32), self.title,
                   self.domain_min, self.domain_max,
                   self.shaper.to(device) if self.shaper is not None else None)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return apply_lut(frames, self)


# ----------------------------------------------------------------------------------
# Parsing and writing
# ----------------------------------------------------------------------------------
_KEYWORD = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _floats(tokens: Sequence[str], n: int, where: str, what: str) -> list[float]:
    if len(tokens) != n:
        raise LutError(f"{where}: {what} needs {n} numbers, got {len(tokens)}")
    try:
        vals = [float(t) for t in tokens]
    except ValueError:
        raise LutError(f"{where}: {what} has a value that is not a number: "
                       f"{' '.join(tokens)!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise LutError(f"{where}: {what} has a non-finite value: {' '.join(tokens)!r}")
    return vals


def parse_cube(text: str, source: str = "<string>") -> Lut:
    """Parse the text of a `.cube` file; raises LutError naming the line on any problem."""
    title = ""
    size_3d: int | None = None
    size_1d: int | None = None
    dmin = [0.0, 0.0, 0.0]
    dmax = [1.0, 1.0, 1.0]
    shaper_range: tuple[float, float] | None = None  # LUT_1D_INPUT_RANGE
    cube_range: tuple[float, float] | None = None  # LUT_3D_INPUT_RANGE
    data: list[list[float]] = []
    data_started_at: int | None = None

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("TITLE"):  # a title may contain '#'
            line = line.split("#", 1)[0].strip()
        where = f"{source}, line {lineno}"
        tokens = line.split()
        head = tokens[0]
        if _KEYWORD.match(head):
            if data_started_at is not None:
                raise LutError(f"{where}: keyword {head} after the table data started "
                               f"(line {data_started_at}); keywords must come first")
            args = tokens[1:]
            if head == "TITLE":
                # The spec quotes the title; some tools do not, so accept both.
                m = re.match(r'^TITLE\s+"(.*)"\s*$', line)
                title = m.group(1) if m else line[len("TITLE"):].strip()
            elif head in ("LUT_3D_SIZE", "LUT_1D_SIZE"):
                if len(args) != 1 or not args[0].isdigit():
                    raise LutError(f"{where}: {head} needs one whole number, got "
                                   f"{' '.join(args)!r}")
                n = int(args[0])
                limit = MAX_3D_SIZE if head == "LUT_3D_SIZE" else MAX_1D_SIZE
                if not 2 <= n <= limit:
                    raise LutError(f"{where}: {head} {n} is outside 2..{limit}")
                if head == "LUT_3D_SIZE":
                    size_3d = n
                else:
                    size_1d = n
            elif head == "DOMAIN_MIN":
                dmin = _floats(args, 3, where, head)
            elif head == "DOMAIN_MAX":
                dmax = _floats(args, 3, where, head)
            elif head in ("LUT_3D_INPUT_RANGE", "LUT_1D_INPUT_RANGE"):
                lo, hi = _floats(args, 2, where, head)
                dmin, dmax = [lo] * 3, [hi] * 3
                if head == "LUT_1D_INPUT_RANGE":
                    shaper_range = (lo, hi)
                else:
                    cube_range = (lo, hi)
            # Other keywords (vendor extensions) are skipped, as the spec allows.
            continue
        if data_started_at is None:
            data_started_at = lineno
        data.append(_floats(tokens, 3, where, "a table entry"))

    if size_3d is None and size_1d is None:
        raise LutError(f"{source}: no LUT_3D_SIZE or LUT_1D_SIZE line; is this a .cube file?")
    if size_3d is not None and size_1d is not None:
        return _shaper_and_cube(data, size_1d, size_3d, shaper_range, cube_range, title,
                                source)
    expected = size_3d ** 3 if size_3d is not None else size_1d
    assert expected is not None
    if len(data) != expected:
        kind = f"LUT_3D_SIZE {size_3d} needs {size_3d}^3 = " if size_3d else \
            f"LUT_1D_SIZE {size_1d} needs "
        raise LutError(f"{source}: {kind}{expected} table entries, found {len(data)}")
    if any(lo >= hi for lo, hi in zip(dmin, dmax, strict=True)):
        raise LutError(f"{source}: DOMAIN_MIN {dmin} must be below DOMAIN_MAX {dmax} in "
                       f"every channel")
    table = torch.tensor(data, dtype=torch.float32)
    if size_3d is not None:
        table = table.view(size_3d, size_3d, size_3d, 3)  # [b, g, r]: red fastest
    return Lut(table, title, tuple(dmin), tuple(dmax))  # type: ignore[arg-type]


def _shaper_and_cube(data: list[list[float]], size_1d: int, size_3d: int,
                     shaper_range: tuple[float, float] | None,
                     cube_range: tuple[float, float] | None, title: str,
                     source: str) -> Lut:
    """A 1-D shaper table followed by a 3-D table, as Resolve writes them."""
    expected = size_1d + size_3d ** 3
    if len(data) != expected:
        raise LutError(f"{source}: LUT_1D_SIZE {size_1d} + LUT_3D_SIZE {size_3d} need "
                       f"{size_1d} + {size_3d}^3 = {expected} table entries, found {len(data)}")
    for name, rng in (("LUT_1D_INPUT_RANGE", shaper_range), ("LUT_3D_INPUT_RANGE", cube_range)):
        if rng is not None and rng[0] >= rng[1]:
            raise LutError(f"{source}: {name} {rng[0]} {rng[1]} must go from low to high")
    s_lo, s_hi = shaper_range or (0.0, 1.0)
    c_lo, c_hi = cube_range or (0.0, 1.0)
    shaper = Lut(torch.tensor(data[:size_1d], dtype=torch.float32), "shaper",
                 (s_lo,) * 3, (s_hi,) * 3)
    cube = torch.tensor(data[size_1d:], dtype=torch.float32).view(size_3d, size_3d, size_3d, 3)
    return Lut(cube, title, (c_lo,) * 3, (c_hi,) * 3, shaper=shaper)


def read_cube(path: str | Path) -> Lut:
    """Read a `.cube` file (UTF-8 or Latin-1 text)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LutError(f"LUT file not found: {path}") from None
    except OSError as exc:
        raise LutError(f"cannot read LUT file {path}: {exc.strerror}") from None
    if b"\x00" in raw[:4096]:
        raise LutError(f"{path}: binary data; a .cube LUT is a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_cube(text, source=str(path))


def format_cube(lut: Lut, decimals: int = 6) -> str:
    """The `.cube` text of a LUT (red fastest), readable by Resolve, Adobe and ffmpeg."""
    lines = []
    title = lut.title.replace('"', "'")
    if title:
        lines.append(f'TITLE "{title}"')
    if lut.shaper is not None:  # Resolve's layout: both sizes, both ranges, 1-D first
        sh = lut.shaper
        lines.append(f"LUT_1D_SIZE {sh.size}")
        lines.append(f"LUT_1D_INPUT_RANGE {sh.domain_min[0]:.{decimals}f} "
                     f"{sh.domain_max[0]:.{decimals}f}")
        lines.append(f"LUT_3D_SIZE {lut.size}")
        lines.append(f"LUT_3D_INPUT_RANGE {lut.domain_min[0]:.{decimals}f} "
                     f"{lut.domain_max[0]:.{decimals}f}")
        lines.append("")
        rows = (sh.table.detach().to("cpu", torch.float64).tolist()
                + lut.table.detach().to("cpu", torch.float64).reshape(-1, 3).tolist())
        fmt = f"{{:.{decimals}f}} {{:.{decimals}f}} {{:.{decimals}f}}"
        lines.extend(fmt.format(*row) for row in rows)
        return "\n".join(lines) + "\n"
    lines.append(f"LUT_{'3' if lut.is_3d else '1'}D_SIZE {lut.size}")
    if tuple(lut.domain_min) != (0.0, 0.0, 0.0) or tuple(lut.domain_max) != (1.0, 1.0, 1.0):
        lines.append("DOMAIN_MIN " + " ".join(f"{v:.{decimals}f}" for v in lut.domain_min))
        lines.append("DOMAIN_MAX " + " ".join(f"{v:.{decimals}f}" for v in lut.domain_max))
    lines.append("")
    rows = lut.table.detach().to("cpu", torch.float64).reshape(-1, 3).tolist()
    fmt = f"{{:.{decimals}f}} {{:.{decimals}f}} {{:.{decimals}f}}"
    lines.extend(fmt.format(*row) for row in rows)
    return "\n".join(lines) + "\n"


def write_cube(lut: Lut, path: str | Path, decimals: int = 6) -> Path:
    """Write a LUT as a `.cube` file; returns the path."""
    path = Path(path)
    path.write_text(format_cube(lut, decimals), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------
# Building and applying
# ----------------------------------------------------------------------------------
def identity_lut(size: int = 33, *, device: torch.device | str = "cpu",
                 dim: int = 3) -> Lut:
    """A LUT that maps every colour to itself (3-D lattice or 1-D ramp)."""
    ramp = torch.linspace(0.0, 1.0, size, device=device)
    if dim == 1:
        return Lut(ramp.unsqueeze(1).repeat(1, 3), "identity")
    b, g, r = torch.meshgrid(ramp, ramp, ramp, indexing="ij")
    return Lut(torch.stack([r, g, b], dim=-1), "identity")


def _normalise(frames: torch.Tensor, lut: Lut) -> torch.Tensor:
    lo = frames.new_tensor(lut.domain_min).view(1, 3, 1, 1)
    hi = frames.new_tensor(lut.domain_max).view(1, 3, 1, 1)
    return ((frames - lo) / (hi - lo)).clamp(0.0, 1.0)


def apply_lut(frames: torch.Tensor, lut: Lut, amount: float = 1.0,
              clamp: bool = True) -> torch.Tensor:
    """Apply a LUT to (N, 3, H, W) RGB; trilinear (3-D) or linear (1-D) interpolation.

    `amount` blends between the input (0) and the full LUT (1). Inputs outside the
    LUT's domain are clamped to its edge, as every grading tool does.
    """
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) frames, got {tuple(frames.shape)}")
    source = frames
    if lut.shaper is not None:
        # The shaper's output is the 3-D table's input, in that table's range.
        frames = apply_lut(frames, lut.shaper, clamp=False)
    table = lut.table.to(device=frames.device, dtype=frames.dtype)
    u = _normalise(frames, lut)
    n, _, h, w = frames.shape
    if lut.is_3d:
        # grid_sample on a 5-D input interpolates trilinearly; grid (x, y, z) indexes
        # (W, H, D) = (red, green, blue) of the [b, g, r] table.
        vol = table.permute(3, 0, 1, 2).unsqueeze(0)  # (1, 3, B, G, R)
        grid = (u * 2.0 - 1.0).permute(0, 2, 3, 1).unsqueeze(0)  # (1, N, H, W, 3)
        out = F.grid_sample(vol, grid, mode="bilinear", padding_mode="border",
                            align_corners=True)[0].permute(1, 0, 2, 3)
    else:
        s = table.shape[0]
        pos = u * (s - 1)
        i0 = pos.floor().clamp(0, s - 2).long()
        frac = pos - i0
        chans = []
        for c in range(3):  # three channels, each one gather over the whole batch
            col = table[:, c]
            lo_v = col[i0[:, c]]
            hi_v = col[i0[:, c] + 1]
            chans.append(lo_v + (hi_v - lo_v) * frac[:, c])
        out = torch.stack(chans, dim=1)
    if amount != 1.0:
        out = source + amount * (out - source)
    return out.clamp(0.0, 1.0) if clamp else out


def lut_colour_fn(lut: Lut, amount: float = 1.0) -> ColourFn:
    """`apply_lut` with this LUT as a colour function, moving the LUT to whatever device
    the frames are on (a baked chain or an operator's `colour_map` may run anywhere)."""
    return lambda x: apply_lut(x, lut if x.device == lut.table.device else lut.to(x.device),
                               amount)


def lut_from_function(fn: ColourFn, size: int = 33, title: str = "",
                      device: torch.device | str = "cpu") -> Lut:
    """Sample a per-pixel colour function on the identity lattice.

    `fn` takes and returns (N, 3, H, W) frames and must treat every pixel on its own
    (no blur, no statistics), which holds for every colour operator that offers
    `colour_map`.
    """
    ident = identity_lut(size, device=device).table  # (S, S, S, 3)
    img = ident.reshape(1, size * size, size, 3).permute(0, 3, 1, 2)
    out = fn(img.contiguous())
    if out.shape != img.shape:
        raise LutError(f"colour function changed the image shape {tuple(img.shape)} -> "
                       f"{tuple(out.shape)}; only per-pixel colour operations can be baked")
    table = out.permute(0, 2, 3, 1).reshape(size, size, size, 3)
    return Lut(table.float().cpu(), title)


def compose(fns: Iterable[ColourFn]) -> ColourFn:
    """One colour function applying `fns` in order."""
    fns = list(fns)

    def chain(x: torch.Tensor) -> torch.Tensor:
        for f in fns:
            x = f(x)
        return x

    return chain
