"""The engine's command line (python -m gpu_worker)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gpu_worker import cli
from tests.conftest import REPO_ROOT, media_file
from tests.engine.test_io import write_clip


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "in.mp4", 8, width=64, height=48)


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_probe_text_and_json(capsys):
    path = media_file("old_film/muybridge_buffalo.mp4")
    assert cli.main(["probe", str(path)]) == 0
    out = capsys.readouterr().out
    assert "400x300" in out and "29700000/1043171" in out
    assert cli.main(["probe", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frame_count"] == 330


def test_probe_unreadable_input_is_one_line_and_non_zero(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nothing here")
    assert cli.main(["probe", str(bad)]) == 1
    assert "not a media file" in _one_line_error(capsys.readouterr().err)


def test_restore_with_spec_file(clip, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([{"op": "sharpen", "params": {"amount": 0.3}}]))
    out = tmp_path / "out.mp4"
    rc = cli.main(["restore", str(clip), str(out), "--spec", str(spec), "--quiet",
                   "--crf", "20", "--encoder-preset", "ultrafast", "--start", "2",
                   "--end", "6", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 4 and out.is_file()


def test_restore_bad_spec_names_op_and_range(clip, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([{"op": "sharpen", "params": {"amount": 9}}]))
    rc = cli.main(["restore", str(clip), str(tmp_path / "o.mp4"), "--spec", str(spec)])
    assert rc == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "op #1 (sharpen)" in line and "amount" in line and "[0.0, 3.0]" in line
    assert not (tmp_path / "o.mp4").exists()


def test_restore_unwritable_output(clip, tmp_path, capsys):
    rc = cli.main(["restore", str(clip), str(tmp_path / "no" / "o.mp4"), "--preset", "clean"])
    assert rc == 1
    assert "does not exist" in _one_line_error(capsys.readouterr().err)


def test_restore_refuses_to_overwrite_without_flag(clip, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    rc = cli.main(["restore", str(clip), str(out), "--preset", "clean"])
    assert rc == 2 and out.read_bytes() == b"keep me"
    assert "--overwrite" in _one_line_error(capsys.readouterr().err)


def test_restore_missing_input(tmp_path, capsys):
    rc = cli.main(["restore", str(tmp_path / "none.mp4"), str(tmp_path / "o.mp4"),
                   "--preset", "faithful"])
    assert rc == 1
    assert "not found" in _one_line_error(capsys.readouterr().err)


def test_restore_bad_codec_combination(clip, tmp_path, capsys):
    rc = cli.main(["restore", str(clip), str(tmp_path / "o.mp4"), "--preset", "clean",
                   "--codec", "prores"])
    assert rc == 2
    assert "ProRes needs a .mov" in _one_line_error(capsys.readouterr().err)


def test_ops_lists_operators_with_params(capsys):
    assert cli.main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "deflicker" in out and "strength" in out
    assert cli.main(["ops", "--json"]) == 0
    names = [o["name"] for o in json.loads(capsys.readouterr().out)]
    assert "denoise" in names and names == sorted(names)


def test_presets_command(capsys):
    assert cli.main(["presets", "--json"]) == 0
    assert [p["name"] for p in json.loads(capsys.readouterr().out)] == [
        "faithful", "clean", "auto"]


def test_models_command_lists_user_and_shipped_checkpoints(tmp_path, capsys):
    from safetensors.torch import save_file

    from tests.engine.test_models import compact_state

    save_file(compact_state(4), str(tmp_path / "mine-x4.safetensors"))
    (tmp_path / "broken.pth").write_bytes(b"junk")
    assert cli.main(["models", "--models-dir", str(tmp_path), "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    mine = listed["mine-x4"]
    assert (mine["scale"], mine["purpose"], mine["builtin"]) == (4, "SR", False)
    assert mine["architecture"] == "RealESRGAN Compact" and mine["supports_half"]
    assert listed["broken"]["error"] and listed["reel-sr-x2"]["builtin"]
    assert listed["reel-sr-x2"]["scale"] == 2 and listed["reel-sr-x4"]["scale"] == 4
    assert cli.main(["models", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mine-x4  [SR 4x]" in out and "unusable: broken.pth" in out
    assert "reel-sr-x2  [SR 2x]  (shipped)" in out


def test_models_command_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["models", "--models-dir", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in _one_line_error(capsys.readouterr().err)


def test_analyze_writes_report_and_plot(tmp_path, capsys):
    pytest.importorskip("gpu_worker.engine.analysis")
    report, plot = tmp_path / "r.json", tmp_path / "r.png"
    src = media_file("old_film/roundhay_garden_scene.mp4")
    assert cli.main(["analyze", str(src), "--json", str(report), "--plot", str(plot)]) == 0
    assert json.loads(report.read_text())
    assert plot.stat().st_size > 1000


def test_module_entry_point_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gpu_worker", "probe",
                           str(tmp_path / "missing.mp4")], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert _one_line_error(proc.stderr).startswith("error: file not found")


def test_restore_an_image_sequence_to_prores_and_to_a_sequence(tmp_path, capsys):
    from tests.media_factory import make_image_sequence

    pattern = make_image_sequence(tmp_path / "frames", kind="tiff16", frames=4)
    out = tmp_path / "out.mov"
    rc = cli.main(["restore", pattern, str(out), "--preset", "faithful", "--codec", "prores",
                   "--quiet", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 4 and out.is_file()
    assert cli.main(["probe", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fps_fraction"] == "24/1"  # the default rate

    (tmp_path / "exr").mkdir()
    seq_out = tmp_path / "exr" / "r_%05d.exr"
    rc = cli.main(["restore", str(tmp_path / "frames"), str(seq_out), "--preset", "faithful",
                   "--fps", "25", "--quiet", "--json"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 4
    assert sorted(p.name for p in (tmp_path / "exr").iterdir()) == [
        f"r_{n:05d}.exr" for n in range(4)]
    # The first file stands for the output: no replacing without --overwrite.
    assert cli.main(["restore", pattern, str(seq_out), "--preset", "faithful",
                     "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_restore_reports_a_gap_in_a_sequence(tmp_path, capsys):
    from tests.media_factory import make_image_sequence

    pattern = make_image_sequence(tmp_path / "frames", kind="png", frames=4, skip=(1,))
    rc = cli.main(["restore", pattern, str(tmp_path / "o.mov"), "--preset", "faithful"])
    assert rc == 1
    assert "gaps in the numbering" in _one_line_error(capsys.readouterr().err)


def test_timeline_exports_cuts_and_notes_as_edl(tmp_path, capsys):
    import numpy as np

    from tests.media_factory import _ffmpeg_encode, moving_pictures

    # Two shots: 12 frames of one picture series, then 12 of an unrelated one.
    shots = moving_pictures(12, seed=1) + [np.ascontiguousarray(f[::-1, ::-1, ::-1])
                                           for f in moving_pictures(12, seed=2, step=-3)]
    src = _ffmpeg_encode(tmp_path / "two.mov", shots, "25",
                         ["-c:v", "libx264", "-crf", "10", "-timecode", "10:00:00:00"])
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps([{"frame": 15, "text": "dust left"}]))
    edl = tmp_path / "cuts.edl"
    assert cli.main(["timeline", str(src), str(edl), "--notes", str(notes)]) == 0
    assert "2 shots, 1 notes, from timecode 10:00:00:00" in capsys.readouterr().out
    text = edl.read_text()
    assert "10:00:00:00 10:00:00:12" in text and "10:00:00:12 10:00:00:24" in text
    assert "* LOC: 10:00:00:15" in text and "DUST LEFT" in text
