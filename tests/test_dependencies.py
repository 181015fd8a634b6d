"""Every runtime dependency in pyproject.toml is used by the code that runs (imported,
or named as a module in settings/commands, e.g. "whitenoise.middleware…"); packages
only the tests use belong in the dev extra."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_PACKAGES = ("accounts", "config", "frontend", "restoration", "voting", "gpu_worker")
# Needed without being named by our code, each for a stated reason:
INDIRECT = {
    "torchvision": "spandrel imports it; pinned beside torch as a matching pair",
    "psycopg": "Django's PostgreSQL backend, chosen by DATABASE_URL",
    "otio-cmx3600-adapter": "OpenTimelineIO loads it as the plugin behind its cmx_3600 adapter "
                            "(EDL export in gpu_worker.engine.interchange)",
}
MODULE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {normalise(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}


def named_modules() -> set[str]:
    """Top-level modules imported by, or named in strings of, the runtime code."""
    names: set[str] = set()
    for package in RUNTIME_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and MODULE_PATH.match(node.value):
                    names.add(node.value.split(".")[0])
    return names


def test_every_runtime_dependency_is_used_at_run_time():
    by_module = packages_distributions()
    used = {normalise(dist) for module in named_modules() for dist in by_module.get(module, [])}
    unused = runtime_dependencies() - used - set(INDIRECT)
    assert not unused, f"runtime dependencies nothing at run time uses: {sorted(unused)}"


def test_test_only_packages_are_not_runtime_dependencies():
    assert not {"tqdm", "choix", "pytest"} & runtime_dependencies()


def test_the_ffmpeg_module_is_ffmpeg_python():
    """cvvdp also declares the PyPI package "ffmpeg", whose module has the same name;
    installed after ffmpeg-python it replaces it (scripts/install and the Dockerfile
    take it out again)."""
    import ffmpeg

    assert callable(getattr(ffmpeg, "input", None)) and callable(getattr(ffmpeg, "probe", None))
