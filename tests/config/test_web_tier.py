"""The web tier never imports torch: every web process would pay its start-up time and
hundreds of MB for nothing (only GPU workers render). Checked in a fresh interpreter,
as a web process starts: settings, the URL conf, the ASGI application, every view
module the URLs name, every migration and the services the views and migrations use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib, json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
import config.asgi, config.urls
from django.db.migrations.loader import MigrationLoader
from django.urls import URLPattern, get_resolver

def views(patterns):
    for p in patterns:
        if isinstance(p, URLPattern):
            yield p.callback.__module__
        else:
            yield from views(p.url_patterns)

modules = sorted(set(views(get_resolver().url_patterns)))
for name in modules:
    importlib.import_module(name)
MigrationLoader(None, ignore_no_migrations=True)  # imports every app's migrations
# What the built-in presets migration and the preset pages call:
import gpu_worker.engine.presets, gpu_worker.engine.spec, gpu_worker.engine.schema
import restoration.services.presets, restoration.rendering.sweeps, restoration.curation.services.film_look
print(json.dumps({"torch": "torch" in sys.modules, "views": modules}))
"""


@pytest.mark.slow
def test_starting_the_web_tier_does_not_import_torch(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "REEL_ARENA_VAR_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "config.api" in result["views"] or any(v.startswith("ninja") for v in result["views"])
    assert "restoration.curation.views" in result["views"]
    assert result["torch"] is False
