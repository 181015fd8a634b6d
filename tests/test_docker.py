"""The Dockerfile and docker-compose.yml, checked as text and YAML: Docker cannot run
on the development machine, so this is what can be verified without it (the images
were not built here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def instructions(name: str) -> list[str]:
    text = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_the_image_runs_in_production_mode_as_a_user():
    env = " ".join(instructions("ENV"))
    assert re.search(r"\bDEBUG=0\b", env)
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")


def test_torch_and_torchvision_are_the_pair_scripts_install_uses():
    install = (ROOT / "scripts" / "install").read_text()
    pins = dict(re.findall(r'"(torch|torchvision)==([\d.]+)"', install))
    assert pins == {"torch": "2.14.1", "torchvision": "0.29.1"}
    spec = next(a for a in instructions("ARG") if a.startswith("TORCH_SPEC="))
    assert f"torch=={pins['torch']}" in spec and f"torchvision=={pins['torchvision']}" in spec


def test_a_health_check_asks_the_web_server():
    (check,) = instructions("HEALTHCHECK")
    assert "/healthz" in check and "8000" in check


def test_every_package_the_wheel_ships_is_copied_into_the_image():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {c.split()[0] for c in instructions("COPY")}
    assert set(packages) <= copied, set(packages) - copied
    assert all((ROOT / p).is_dir() for p in packages)


def test_static_files_are_in_the_image_and_served_by_every_web_container():
    runs = " ".join(instructions("RUN"))
    assert "collectstatic --noinput" in runs
    # collected before switching user and before the CMD: the image itself holds them
    assert DOCKERFILE.index("collectstatic") < DOCKERFILE.index("\nUSER ")
    services = COMPOSE["services"]
    assert "collectstatic" not in str(services["migrate"]["command"])
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_waits_for_healthy_services():
    services = COMPOSE["services"]
    assert {"db", "redis", "migrate", "web", "worker", "gpu-worker"} <= set(services)
    assert "healthcheck" in services["db"] and "healthcheck" in services["redis"]
    app = COMPOSE["x-app"]
    assert app["environment"]["DEBUG"] == "0"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["worker"]["healthcheck"] == {"disable": True}


def test_compose_runs_one_beat_scheduler_for_the_lease_sweeps():
    beat = COMPOSE["services"]["beat"]
    assert beat["command"].startswith("celery -A config beat")
