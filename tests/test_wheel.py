"""`pip install .` gives a complete site: the wheel holds every app (accounts included),
their migrations, templates and static files and the shipped weights, it builds without
setuptools deprecation warnings, and an installed copy, away from the checkout, passes
Django's checks and collects its static files.

Kept fast for CI: the wheel is built without build isolation and installed with
--no-deps into a fresh venv that sees the project venv's packages through a .pth line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MUST_HOLD = [
    "accounts/models.py", "accounts/migrations/0001_initial.py", "accounts/templates/registration/login.html",
    "config/settings.py", "config/manage.py", "config/api/__init__.py",
    "frontend/templates/frontend/base.html", "frontend/static/frontend/upload.js",
    "restoration/migrations/0003_builtin_presets.py", "restoration/curation/migrations/0001_initial.py",
    "voting/migrations/0001_initial.py", "gpu_worker/engine/weights/reel-sr-x2.safetensors",
    "gpu_worker/engine/weights/face_restore_v1.md",
    # the compiled translations (a wheel without them would serve English only)
    "config/locale/zh_Hans/LC_MESSAGES/django.mo", "config/locale/zh_Hant/LC_MESSAGES/djangojs.mo",
]


@pytest.mark.slow
def test_the_wheel_installs_a_complete_site(tmp_path):
    source = tmp_path / "src"  # a copy, so building leaves nothing in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "__pycache__", "*.egg-info", "build", "dist", "tests", "node_modules"))
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    # setuptools announces what a later release will refuse to build (the licence as a
    # TOML table was one): a fresh clone must still build after that release.
    assert "BuildBackendWarning" not in built.stderr and "DeprecationWarning" not in built.stderr, \
        built.stderr[-3000:]
    wheel = next(dist.glob("reel_arena-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in MUST_HOLD if n not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not any(n.startswith("tests/") for n in names)
    templates = {n for n in names if "/templates/" in n}
    statics = {n for n in names if "/static/" in n}
    for app in ("accounts", "frontend", "restoration", "voting", "restoration/curation"):
        assert any(n.startswith(f"{app}/templates/") for n in templates), app
    on_disk = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("**/static/**/*")
               if p.is_file() and ".venv" not in p.parts and "var" not in p.parts}
    assert on_disk <= statics, f"static files left out: {sorted(on_disk - statics)[:5]}"

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # The project venv's packages (Django, torch, …) are visible after the venv's own, as
    # --system-site-packages would make them (it cannot: the project venv is a venv
    # itself). A plain path line does not run the project venv's own .pth files, so
    # its editable install of this checkout stays out.
    own_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    (own_site / "project-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, timeout=300)
    site = tmp_path / "site"
    site.mkdir()
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([str(python), "-c", "import accounts, config; print(accounts.__file__, config.__file__)"],
                           cwd=site, env=env, capture_output=True, text=True, check=True).stdout
    assert all(str(env_dir) in f for f in where.split()), f"imported from outside the venv: {where}"
    check = subprocess.run([str(env_dir / "bin" / "reel-arena"), "check"], cwd=site, env=env,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    assert "no issues" in check.stdout
    collected = subprocess.run([str(env_dir / "bin" / "reel-arena"), "collectstatic", "--noinput"],
                               cwd=site, env=env, capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stderr[-3000:]
    # An installed site keeps its state under the directory it is started from.
    assert (site / "var" / "static" / "frontend" / "upload.js").is_file()
    assert (site / "var" / "static" / "ninja" / "swagger-ui-bundle.js").is_file()
    assert os.listdir(site / "var")
