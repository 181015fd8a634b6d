"""Presets: built-ins seeded, versions immutable once used, JSON import/export, the form."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from restoration.models import Preset, PresetVersion
from restoration.services import presets
from tests.factories import technician

pytestmark = pytest.mark.django_db

GRAIN = {"ops": [{"op": "grain", "params": {"strength": 0.3}}], "seed": 1}


def test_builtin_presets_are_seeded_and_seeding_is_idempotent():
    first = presets.ensure_builtin_presets()
    again = presets.ensure_builtin_presets()
    assert [v.pk for v in first] == [v.pk for v in again]
    assert set(Preset.objects.filter(builtin=True).values_list("name", flat=True)) == {"faithful", "clean"}
    faithful = Preset.objects.get(name="faithful").latest
    assert faithful.spec["ops"][0]["op"] == "deflicker" and len(faithful.spec_hash) == 64


def test_saving_a_spec_makes_a_canonical_new_version():
    user = technician()
    v1 = presets.create_preset("Warm grain", GRAIN, user=user)
    assert v1.number == 1 and v1.spec["ops"][0]["params"]["size"] is not None  # defaults filled in
    same = presets.save_version(v1.preset, GRAIN, user=user)
    assert same.pk == v1.pk  # unchanged spec: no duplicate version
    v2 = presets.save_version(v1.preset, {**GRAIN, "seed": 2}, user=user, note="new seed")
    assert v2.number == 2 and v2.spec_hash != v1.spec_hash and v1.preset.latest == v2


def test_a_used_version_is_immutable():
    version = presets.create_preset("P", GRAIN, user=None)
    presets.edit_version(version, {**GRAIN, "seed": 5})  # unused: editable
    presets.lock_version(version)
    with pytest.raises(presets.PresetError, match="immutable"):
        presets.edit_version(version, {**GRAIN, "seed": 6})
    stored = PresetVersion.objects.get(pk=version.pk)
    stored.spec_hash = "0" * 64
    with pytest.raises(ValidationError, match="immutable"):
        stored.save()  # the model refuses too, whatever path a change takes
    assert PresetVersion.objects.get(pk=version.pk).spec["seed"] == 5


def test_invalid_specs_are_refused_with_the_engines_message():
    with pytest.raises(presets.PresetError, match="grain.strength"):
        presets.create_preset("Bad", {"ops": [{"op": "grain", "params": {"strength": -1}}]}, user=None)
    with pytest.raises(presets.PresetError, match="unknown operator 'nope'"):
        presets.create_preset("Bad", {"ops": [{"op": "nope"}]}, user=None)
    assert not Preset.objects.filter(name="Bad").exists()
    with pytest.raises(presets.PresetError, match="needs a name"):
        presets.create_preset("  ", GRAIN, user=None)


def test_export_then_import_roundtrips():
    version = presets.create_preset("Roundtrip", GRAIN, user=None, description="d")
    exported = json.dumps(presets.export_preset(version))
    Preset.objects.filter(name="Roundtrip").delete()
    imported = presets.import_preset(exported, user=None)
    assert imported.preset.name == "Roundtrip" and imported.spec_hash == version.spec_hash
    assert imported.preset.description == "d"
    # Importing again into an existing preset: same spec → same version; new spec → v2.
    assert presets.import_preset(exported, user=None).pk == imported.pk
    changed = json.loads(exported)
    changed["spec"]["seed"] = 99
    assert presets.import_preset(changed, user=None).number == 2


@pytest.mark.parametrize("payload, message", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (json.dumps({"format": "other"}).encode(), "unknown format"),
    (json.dumps({"format": "reel-arena-preset", "format_version": 9, "spec": {}}).encode(), "format_version"),
    (json.dumps({"format": "reel-arena-preset", "format_version": 1, "name": "x"}).encode(), "no \"spec\""),
    (json.dumps({"format": "reel-arena-preset", "format_version": 1, "name": "x",
                 "spec": {"ops": [{"op": "grain", "params": {"grit": 1}}]}}).encode(), "unknown parameter 'grit'"),
    (json.dumps({"ops": []}).encode(), "no name"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_import_errors_are_clear(payload, message):
    with pytest.raises(presets.PresetError, match=message):
        presets.import_preset(payload, user=None)


def test_import_cannot_extend_a_builtin():
    presets.ensure_builtin_presets()
    with pytest.raises(presets.PresetError, match="built-in"):
        presets.import_preset({"name": "faithful", "ops": []}, user=None)


def test_spec_from_form_follows_the_operator_schema():
    from gpu_worker.engine.ops import get_operator

    data = {f"op-0-{p.name}": str(p.default) for p in get_operator("grain").params}
    data.update({"op_count": "3", "seed": "4",
            "op-0-op": "grain", "op-0-keep": "on", "op-0-order": "2", "op-0-strength": "0.5",
            "op-1-op": "sharpen", "op-1-order": "1",  # not kept: removed
            "op-2-op": "colour_scheme", "op-2-keep": "on", "op-2-order": "1", "op-2-look": "sepia",
            "op-2-amount": "0.5", "add_op": "denoise"})
    spec = presets.spec_from_form(data)
    assert [o["op"] for o in spec["ops"]] == ["colour_scheme", "grain", "denoise"]
    assert spec["ops"][1]["params"]["strength"] == 0.5 and spec["seed"] == 4
    presets.validate_spec(spec)
    with pytest.raises(presets.PresetError, match="not a number"):
        presets.spec_from_form({**data, "op-0-strength": "lots"})


def test_editor_rows_and_catalog_expose_ranges_units_and_help():
    rows = presets.editor_rows(GRAIN)
    strength = next(p for p in rows[0]["params"] if p["name"] == "strength")
    assert strength["value"] == 0.3 and "min" in strength and strength["description"]
    names = {op["name"] for op in presets.operator_catalog()}
    assert {"grain", "denoise", "deflicker", "colour_scheme"} <= names


def test_starting_points():
    assert presets.starting_spec("faithful")["ops"]
    with pytest.raises(presets.PresetError, match="analysis"):
        presets.starting_spec("auto", None)
    with pytest.raises(presets.PresetError, match="unknown starting point"):
        presets.starting_spec("vintage")


def test_spec_from_form_and_editor_rows_carry_regions():
    from gpu_worker.engine.ops import get_operator

    data = {f"op-0-{p.name}": str(p.default) for p in get_operator("grain").params}
    data.update({"op_count": "2", "seed": "0", "op-0-op": "grain", "op-0-keep": "on",
                 "op-0-region": "background", "op-1-op": "sharpen", "op-1-keep": "on",
                 "op-1-region": "all", "op-1-amount": "0.6", "op-1-radius": "1.2",
                 "op-1-threshold": "3", "op-1-luma_only": "on"})
    spec = presets.spec_from_form(data)
    assert spec["ops"][0]["region"] == "background" and "region" not in spec["ops"][1]
    rows = presets.editor_rows(spec)
    assert rows[0]["region"] == "background" and rows[1]["region"] == "all"
    assert rows[0]["regions"] == ["all", "face", "person", "background"]
    assert presets.editor_rows({"ops": [{"op": "resize"}]})[0]["regions"] == ["all"]
    with pytest.raises(presets.PresetError, match="region: 'sky' is not one of"):
        presets.spec_from_form({**data, "op-0-region": "sky"})


def test_spec_files_are_confined_to_the_configured_folders(settings, tmp_path):
    root = tmp_path / "assets"
    root.mkdir()
    (root / "look.cube").write_text("LUT_3D_SIZE 2\n")
    (root / "sub").mkdir()
    outside = tmp_path / "secret.cube"
    outside.write_text("x")
    (root / "escape.cube").symlink_to(outside)
    settings.SPEC_FILE_ROOTS = [str(root)]

    def lut(path: str) -> dict:
        return {"ops": [{"op": "lut", "params": {"path": path}}]}

    assert presets.validate_spec(lut(str(root / "look.cube")))
    assert presets.validate_spec(lut("look.cube"))  # relative: from the first folder
    assert presets.validate_spec(lut("not-uploaded-yet.cube"))
    for bad, why in [("/dev/zero", "outside the folders"), ("/etc/passwd", "outside the folders"),
                     ("../secret.cube", "outside the folders"), (str(root / "escape.cube"), "outside the folders"),
                     (str(root / "sub"), "not a regular file")]:
        with pytest.raises(presets.PresetError, match=why):
            presets.validate_spec(lut(bad))
    for model in ("../../etc/passwd", "/tmp/x.pth", "sub/x.pth", ".hidden"):
        with pytest.raises(presets.PresetError, match="file name in the models folder"):
            presets.validate_spec({"ops": [{"op": "face_restore", "params": {"model": model}}]})


def test_auto_version_saves_the_clips_own_spec_once(tmp_path):
    from gpu_worker.engine.analysis import analyze
    from gpu_worker.engine.presets import get_preset
    from tests.media_factory import make_video
    from tests.restoration.clip_helpers import ready_clip

    clip = ready_clip(make_video(tmp_path / "a.mp4", frames=12, width=64, height=48))
    with pytest.raises(presets.PresetError, match="has no analysis yet"):
        presets.auto_version(clip)
    clip.analysis = analyze(clip.source.path, faces=False)
    clip.save(update_fields=["analysis"])
    version = presets.auto_version(clip)
    assert version.preset.name == "auto" and version.preset.builtin
    assert version.spec == presets.validate_spec(get_preset("auto", analysis=clip.analysis)).to_dict()
    assert f"clip {clip.pk}" in version.note and not version.locked
    assert presets.auto_version(clip).pk == version.pk  # the same spec is one version
    clip.analysis = {"error": "the analysis crashed"}
    with pytest.raises(presets.PresetError, match="has no analysis yet"):
        presets.auto_spec(clip)
