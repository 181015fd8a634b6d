"""Seed the engine's built-in presets ("faithful", "clean") as version 1.

restoration.services.presets.ensure_builtin_presets does the same idempotently at
run time (the preset pages call it), which also adds a new version when the engine
ships a changed spec; this migration makes them present on a fresh database.
"""

from django.db import migrations


def seed(apps, schema_editor):
    from gpu_worker.engine.presets import list_presets
    from gpu_worker.engine.spec import parse_spec

    Preset = apps.get_model("restoration", "Preset")
    PresetVersion = apps.get_model("restoration", "PresetVersion")
    for shipped in list_presets():
        if shipped["needs_analysis"]:
            continue
        parsed = parse_spec(shipped["spec"])
        preset, _ = Preset.objects.get_or_create(
            name=shipped["name"], defaults={"description": shipped["description"], "builtin": True})
        if not PresetVersion.objects.filter(preset=preset, spec_hash=parsed.spec_hash).exists():
            number = PresetVersion.objects.filter(preset=preset).count() + 1
            PresetVersion.objects.create(preset=preset, number=number, spec=parsed.to_dict(),
                                         spec_hash=parsed.spec_hash,
                                         note=f"engine preset {shipped['name']} v{shipped['version']}")


class Migration(migrations.Migration):
    dependencies = [("restoration", "0002_render_bookkeeping")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
