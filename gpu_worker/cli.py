"""Command line of the engine: `python -m gpu_worker restore|analyze|ops|probe|presets|models`.

Errors a user can cause (unreadable input, unwritable output, bad spec, missing GPU)
print one line on stderr and exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1  # the input or the render failed
EXIT_USAGE = 2  # bad arguments or spec
EXIT_INTERRUPTED = 130


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gpu_worker",
                                description="Reel Arena restoration engine.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("restore", help="restore a clip with a preset or a spec")
    r.add_argument("input", type=Path, help="a video file, or an image sequence: a "
                   "pattern such as 'frames/%%06d.tif' (DPX, TIFF, EXR, PNG) or its folder")
    r.add_argument("output", type=Path, help="a video file, or an image-sequence pattern "
                   "such as 'out/%%06d.exr' (TIFF, EXR, DPX, PNG; file n is frame n)")
    r.add_argument("--fps", default=None, help="frame rate of an image-sequence input "
                   "(e.g. 24, 25, 24000/1001; default 24)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="faithful, clean or auto")
    src.add_argument("--spec", type=Path, help="a JSON spec file")
    r.add_argument("--start", type=int, default=None, help="first frame (inclusive)")
    r.add_argument("--end", type=int, default=None, help="last frame (exclusive)")
    r.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: auto)")
    r.add_argument("--codec", choices=("h264", "h265", "av1", "prores", "ffv1", "tiff",
                                       "dpx", "exr", "png"),
                   help="default: the spec's; for an image-sequence output, its suffix's")
    r.add_argument("--crf", type=int)
    r.add_argument("--encoder-preset", help="x264/x265 speed preset or SVT-AV1 0..13")
    r.add_argument("--film-grain", type=int, help="AV1 film-grain synthesis level 0..50")
    r.add_argument("--seed", type=int)
    r.add_argument("--batch-size", type=int, default=8)
    r.add_argument("--no-audio", action="store_true", help="drop the audio track")
    r.add_argument("--overwrite", action="store_true", help="replace an existing output")
    r.add_argument("--json", action="store_true", help="print the result as JSON")
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    a = sub.add_parser("analyze", help="measure the damage of a clip, suggest a spec")
    a.add_argument("input", type=Path)
    a.add_argument("--json", type=Path, dest="json_path", help="write the report here")
    a.add_argument("--plot", type=Path, help="write a plot of the report here (PNG/SVG)")

    t = sub.add_parser("timeline", help="export a clip's scene cuts (and notes) as a "
                       "CMX 3600 EDL or an OpenTimelineIO file")
    t.add_argument("input", type=Path)
    t.add_argument("output", type=Path, help="NAME.edl or NAME.otio")
    t.add_argument("--notes", type=Path, help='a JSON list of {"frame": n, "text": "..."}')
    t.add_argument("--reel", default="AX", help="reel name in the EDL (default AX)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing output")

    o = sub.add_parser("ops", help="list operators and their parameters")
    o.add_argument("--json", action="store_true")

    pr = sub.add_parser("probe", help="describe a media file")
    pr.add_argument("input", type=Path)
    pr.add_argument("--deep", action="store_true", help="decode every frame to count them")
    pr.add_argument("--json", action="store_true")

    ps = sub.add_parser("presets", help="list the shipped presets")
    ps.add_argument("--json", action="store_true")

    m = sub.add_parser("models", help="list neural checkpoints and their capabilities")
    m.add_argument("--models-dir", type=Path, default=None,
                   help="the user's models folder (default: $MODELS_DIR)")
    m.add_argument("--json", action="store_true")
    return p


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# -- commands ------------------------------------------------------------------------

def _cmd_probe(args: argparse.Namespace) -> int:
    from gpu_worker.engine import io

    info = io.probe(args.input, deep=args.deep)
    if args.json:
        _print_json(info.to_dict())
        return EXIT_OK
    audio = f"{info.audio_codec}" if info.has_audio else "none"
    exact = "" if info.frame_count_exact else "~"
    print(f"{info.path}\n"
          f"  container  {info.container}\n"
          f"  video      {info.video_codec} {info.width}x{info.height} "
          f"{info.pix_fmt}, SAR {info.sample_aspect_ratio}\n"
          f"  rate       {info.fps:.3f} fps ({info.fps_fraction})\n"
          f"  frames     {exact}{info.frame_count}, {info.duration:.2f} s\n"
          f"  colour     range {info.color_range}, matrix {info.color_space}, "
          f"primaries {info.color_primaries}, transfer {info.color_trc}\n"
          f"  audio      {audio}")
    return EXIT_OK


def _cmd_ops(args: argparse.Namespace) -> int:
    from gpu_worker.engine.ops import all_operators

    ops = all_operators()
    if args.json:
        _print_json([cls.schema() for cls in ops.values()])
        return EXIT_OK
    for name, cls in ops.items():
        flags = []
        if cls.changes_size:
            flags.append("changes size")
        if cls.changes_rate:
            flags.append("changes rate")
        print(f"{name}  [{cls.category}]" + (f"  ({', '.join(flags)})" if flags else ""))
        if cls.description:
            print(f"    {cls.description}")
        for p in cls.params:
            if p.kind == "choice":
                allowed = "|".join(p.choices)
            elif p.kind in ("int", "float"):
                allowed = p.range_text()
            else:
                allowed = p.kind
            print(f"    {p.name:<16} default {p.default!r:<10} {allowed}")
    return EXIT_OK


def _cmd_presets(args: argparse.Namespace) -> int:
    from gpu_worker.engine.presets import list_presets

    presets = list_presets()
    if args.json:
        _print_json(presets)
        return EXIT_OK
    for p in presets:
        ops = ", ".join(o["op"] for o in p["spec"]["ops"]) if p["spec"] else "from analysis"
        print(f"{p['name']} v{p['version']}: {p['description']}\n    ops: {ops}")
    return EXIT_OK


def _cmd_models(args: argparse.Namespace) -> int:
    from gpu_worker.engine.models import list_models, resolve_models_dir

    folder = resolve_models_dir(args.models_dir)
    if folder is not None and not folder.is_dir():
        raise CliError(f"models folder {folder} does not exist", EXIT_USAGE)
    infos = list_models(folder, include_unreadable=True)
    if args.json:
        _print_json([info.to_dict() for info in infos])
        return EXIT_OK
    if not infos:
        print("no models found")
        return EXIT_OK
    for info in infos:
        where = "shipped" if info.builtin else info.path
        if info.error:
            print(f"{info.name}  ({where})\n    unusable: {info.error}")
            continue
        precision = ", ".join(n for n, ok in (("float16", info.supports_half),
                                              ("bfloat16", info.supports_bfloat16)) if ok)
        print(f"{info.name}  [{info.purpose} {info.scale}x]  ({where})\n"
              f"    {info.architecture}, {info.parameters:,} parameters, "
              f"{info.input_channels}->{info.output_channels} channels, "
              f"half precision: {precision or 'no'}, tiling {info.tiling}")
    return EXIT_OK


def _cmd_analyze(args: argparse.Namespace) -> int:
    from gpu_worker.engine import analysis, io

    io.probe(args.input)  # a clear error for a bad file before any work
    report = analysis.analyze(args.input)
    data = report.to_dict() if hasattr(report, "to_dict") else report
    if args.json_path:
        _check_writable(args.json_path, overwrite=True)
        args.json_path.write_text(json.dumps(data, indent=2, default=str))
    if args.plot:
        _check_writable(args.plot, overwrite=True)
        analysis.plot_report(data, args.plot)
    if not args.json_path:
        _print_json(data)
    else:
        print(f"report written to {args.json_path}")
    return EXIT_OK


def _check_writable(path: Path, *, overwrite: bool) -> None:
    from gpu_worker.engine.sequence import output_pattern_folder

    if output_pattern_folder(path) is not None:
        # An image sequence: its first file stands for the whole output.
        path = Path(str(path) % 0)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CliError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise CliError(f"cannot write {path}: folder {parent} is not writable")
    if path.exists() and not overwrite:
        raise CliError(f"{path} already exists (use --overwrite to replace it)",
                       EXIT_USAGE)


def _cmd_restore(args: argparse.Namespace) -> int:
    from gpu_worker.engine import io, pipeline
    from gpu_worker.engine.encoding import image_codec_for
    from gpu_worker.engine.presets import preset_spec
    from gpu_worker.engine.rate import as_rate
    from gpu_worker.engine.sequence import SequenceError, find_sequence, is_sequence_path
    from gpu_worker.engine.spec import load_spec, parse_spec

    if is_sequence_path(args.input):
        try:
            rate = as_rate(args.fps) if args.fps is not None else as_rate(24)
            args.input = find_sequence(args.input, rate)
        except (SequenceError, ValueError, ZeroDivisionError) as exc:
            raise CliError(f"{args.input}: {exc}") from None
    elif args.fps is not None:
        raise CliError("--fps is for image-sequence inputs; a video file has its own rate",
                       EXIT_USAGE)
    if args.codec is None and image_codec_for(args.output) is not None:
        args.codec = image_codec_for(args.output)

    if args.spec is not None:
        spec = load_spec(args.spec).to_dict()
    else:
        analysis = args.input if args.preset == "auto" else None
        if analysis is not None:
            io.probe(args.input)
        spec = preset_spec(args.preset, analysis=analysis).to_dict()
    encode = spec.setdefault("encode", {})
    for key, value in (("codec", args.codec), ("crf", args.crf),
                       ("preset", args.encoder_preset), ("film_grain", args.film_grain)):
        if value is not None:
            encode[key] = value
    if args.codec is not None and args.crf is None:
        encode.pop("crf", None)  # the preset's crf was chosen for its own codec
    if args.codec not in (None, "av1"):
        encode["film_grain"] = 0
    if args.codec in ("tiff", "dpx", "exr", "png"):
        encode.pop("pix_fmt", None)  # the image format's own default (16/10/32-bit)
    if args.codec is not None and args.encoder_preset is None:
        encode.pop("preset", None)
    if args.seed is not None:
        spec["seed"] = args.seed
    parsed = parse_spec(spec)
    _check_writable(args.output, overwrite=args.overwrite)

    progress, close = _progress_reporter(quiet=args.quiet or args.json)
    try:
        result = pipeline.render(args.input, args.output, parsed, start=args.start,
                                 end=args.end, device=args.device,
                                 batch_size=args.batch_size, progress=progress,
                                 audio=not args.no_audio)
    finally:
        close()
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"wrote {result.output_path}: {result.frames} frames, {result.width}x"
              f"{result.height}, {result.size / 1e6:.1f} MB in {result.seconds:.1f} s "
              f"({result.fps:.2f} fps on {result.device})")
    return EXIT_OK


def _progress_reporter(quiet: bool):
    """A rich progress bar (frames, fps, ETA) on stderr, shown from the first frame
    on (so an error found before decoding prints alone); a no-op when quiet."""
    if quiet:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    state: dict[str, Any] = {}

    def update(done: int, total: int, fps: float, eta: float) -> None:
        if "bar" not in state:
            bar = Progress(TextColumn("restoring"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("frames  {task.fields[fps]:.2f} fps  "
                                      "ETA {task.fields[eta]}"),
                           console=Console(stderr=True))
            state["task"] = bar.add_task("restore", total=total, fps=0.0, eta="--:--")
            bar.start()
            state["bar"] = bar
        minutes, seconds = divmod(int(eta + 0.5), 60)
        state["bar"].update(state["task"], completed=done, total=total, fps=fps,
                            eta=f"{minutes:02d}:{seconds:02d}")

    def close() -> None:
        if "bar" in state:
            state["bar"].stop()

    return update, close


def _cmd_timeline(args: argparse.Namespace) -> int:
    from gpu_worker.engine import interchange, io
    from gpu_worker.engine.scenes import detect_cuts

    _check_writable(args.output, overwrite=args.overwrite)
    notes = []
    if args.notes is not None:
        try:
            notes = json.loads(args.notes.read_text())
        except (OSError, ValueError) as exc:
            raise CliError(f"{args.notes}: {exc}", EXIT_USAGE) from None
    info = io.probe(args.input)
    cuts = detect_cuts(io.read_frames(args.input))
    try:
        timeline = interchange.scene_timeline(
            cuts, info.frame_count, info.fps_rational, name=args.input.stem,
            media_path=info.path, reel=args.reel, start_timecode=info.timecode, notes=notes)
        interchange.write_timeline(timeline, args.output)
    except interchange.InterchangeError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    print(f"wrote {args.output}: {len(cuts) + 1} shots, {len(notes)} notes"
          + (f", from timecode {info.timecode}" if info.timecode else ""))
    return EXIT_OK


COMMANDS = {"restore": _cmd_restore, "analyze": _cmd_analyze, "ops": _cmd_ops,
            "timeline": _cmd_timeline,
            "probe": _cmd_probe, "presets": _cmd_presets, "models": _cmd_models}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gpu_worker.engine.device import DeviceError
    from gpu_worker.engine.encoding import EncodeError
    from gpu_worker.engine.io import MediaError
    from gpu_worker.engine.pipeline import RenderCancelled, RenderError
    from gpu_worker.engine.registry import SpecError

    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        return _fail(str(exc), exc.code)
    except (SpecError, EncodeError, DeviceError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (MediaError, RenderError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    except (RenderCancelled, KeyboardInterrupt):
        return _fail("interrupted; no output was written", EXIT_INTERRUPTED)
    except BrokenPipeError:  # output piped into `head`: not an error
        return EXIT_OK
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "),
                     EXIT_FAILED)


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
