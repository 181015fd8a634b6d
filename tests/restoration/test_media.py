"""Media housekeeping: orphaned files are reported (dry run by default) and removed
only when asked; anything a row, a live render's control folder or the assets folder
holds is kept, and so are files too young to be known orphans."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from restoration.rendering.jobs import control_name
from restoration.services import media
from tests.factories import ClipFactory, RenderJobFactory, VariantFactory

pytestmark = pytest.mark.django_db


def age(name: str, seconds: float) -> None:
    path = default_storage.path(name)
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def layout():
    clip = ClipFactory(source=ContentFile(b"video", name="source.mp4"))
    variant = VariantFactory(clip=clip)
    job = RenderJobFactory(variant=variant)
    kept = [
        clip.source.name,
        variant.output.name,
        default_storage.save(control_name(job) + "lease", ContentFile(b"t")),
        default_storage.save("assets/luts/warm.cube", ContentFile(b"lut")),
    ]
    orphans = [
        default_storage.save("clips/deadbeef/source.mp4", ContentFile(b"killed upload")),
        default_storage.save("renders/variants/clip-9/.job-1.part.mp4", ContentFile(b"half")),
        default_storage.save("renders/control/job-999-abc/attempts", ContentFile(b"2")),
    ]
    young = default_storage.save("renders/variants/clip-9/being-written.mp4", ContentFile(b"new"))
    for name in kept + orphans:
        age(name, 7200)
    return kept, orphans, young


def test_reports_only_files_no_row_refers_to(layout):
    kept, orphans, young = layout
    found = [o.name for o in media.orphaned_files(min_age=3600)]
    assert found == sorted(orphans)
    assert young in [o.name for o in media.orphaned_files(min_age=0)]


def test_the_command_is_a_dry_run_unless_asked_to_delete(layout, capsys):
    kept, orphans, young = layout
    call_command("media")
    out = capsys.readouterr().out
    assert "3 orphaned files" in out and "dry run" in out
    assert all(name in out for name in orphans)
    assert all(default_storage.exists(name) for name in orphans)
    call_command("media", "--delete")
    assert "removed 3 orphaned files" in capsys.readouterr().out
    assert not any(default_storage.exists(name) for name in orphans)
    assert all(default_storage.exists(name) for name in [*kept, young])
    assert Path(default_storage.path(kept[0])).read_bytes() == b"video"
