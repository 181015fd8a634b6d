"""scripts/install on a bare Debian/Ubuntu: when `python -m venv` cannot work (no
ensurepip: Debian ships it in python3-venv), it installs python3-venv with apt as root.

Run against stand-ins for python, apt-get, apt-cache and id on PATH, in a copy of the
project's files: nothing is installed on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_PYTHON = """#!/bin/sh
# ensurepip exists only once "apt" has installed python3-venv
if [ "$1" = -c ]; then
  case "$2" in *ensurepip*) [ -f "$FAKE_STATE/venv-installed" ]; exit $?;; esac
  case "$2" in *version_info*) echo 3.11; exit 0;; esac
fi
if [ "$1" = -m ] && [ "$2" = venv ]; then
  [ -f "$FAKE_STATE/venv-installed" ] || { echo "ensurepip is not available" >&2; exit 1; }
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "$0 $*" >> "$FAKE_STATE/venv-calls"\\n' > "$3/bin/python"
  cp "$3/bin/python" "$3/bin/pip"; chmod +x "$3/bin/python" "$3/bin/pip"
  exit 0
fi
exit 1
"""
FAKE_APT_GET = """#!/bin/sh
echo "$*" >> "$FAKE_STATE/apt-calls"
case "$*" in *python3-venv*) touch "$FAKE_STATE/venv-installed";; esac
"""
FAKE_FC_LIST = """#!/bin/sh
echo "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc: Noto Sans CJK SC:style=Regular"
"""
FAKE_APT_CACHE = """#!/bin/sh
[ "$2" = python3.11-venv ]
"""


def make_tree(tmp_path: Path, *, root: bool, cjk_font: bool = True) -> tuple[Path, dict]:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install", project / "scripts" / "install")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in {"python3.11": FAKE_PYTHON, "apt-get": FAKE_APT_GET, "apt-cache": FAKE_APT_CACHE,
                       "id": f"#!/bin/sh\necho {0 if root else 1000}\n", "ffmpeg": "#!/bin/sh\n",
                       "fc-list": FAKE_FC_LIST if cjk_font else "#!/bin/sh\n"}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for tool in ("bash", "sh", "sha256sum", "cut", "rm", "touch", "mkdir", "cp", "chmod", "cat", "dirname",
                 "grep"):
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            os.symlink(found, bin_dir / tool)
    env = {"PATH": str(bin_dir), "FAKE_STATE": str(state), "HOME": str(tmp_path)}
    return project, env


def test_root_on_a_bare_debian_gets_python3_venv_then_the_venv(tmp_path):
    project, env = make_tree(tmp_path, root=True)
    done = subprocess.run(["bash", "scripts/install", "runtime"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    apt = (tmp_path / "state" / "apt-calls").read_text()
    assert "install -y -qq python3-venv python3.11-venv" in apt
    assert (project / ".venv" / "bin" / "python").exists()
    assert "install -q -e ." in (tmp_path / "state" / "venv-calls").read_text()


def test_without_root_it_says_what_to_install(tmp_path):
    project, env = make_tree(tmp_path, root=False)
    done = subprocess.run(["bash", "scripts/install", "runtime"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "missing system packages (python3-venv python3.11-venv)" in done.stderr
    assert not (tmp_path / "state" / "apt-calls").exists()


def test_without_a_cjk_font_it_installs_fonts_noto_cjk(tmp_path):
    # Both profiles: the site's plots need it, not only the tests.
    project, env = make_tree(tmp_path, root=True, cjk_font=False)
    done = subprocess.run(["bash", "scripts/install", "runtime"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    apt = (tmp_path / "state" / "apt-calls").read_text()
    assert "install -y -qq fonts-noto-cjk python3-venv python3.11-venv" in apt


def test_a_cjk_font_already_there_is_not_installed_again(tmp_path):
    project, env = make_tree(tmp_path, root=True, cjk_font=True)
    subprocess.run(["bash", "scripts/install", "runtime"], cwd=project, env=env,
                   capture_output=True, text=True, timeout=60)
    assert "fonts-noto-cjk" not in (tmp_path / "state" / "apt-calls").read_text()
