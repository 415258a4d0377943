"""The pinned set: requirements.lock satisfies pyproject.toml, the suite runs on it, and the
image installs it before the source. Docker cannot run here, so the Dockerfile is read."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line)
        assert match, f"requirements.lock: not an exact pin: {line!r}"
        pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [Requirement(line) for line in lines]


def test_the_lock_pins_every_declared_dependency_within_its_range():
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in the lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject's "
            f"{requirement.specifier}: run `make lock`"
        )


def test_torch_version_is_set_in_pyproject_only():
    (torch,) = [r for r in declared() if r.name == "torch"]
    assert str(torch.specifier).startswith("=="), "pyproject.toml pins torch's version"
    pinned = Version(str(torch.specifier)[2:])
    assert locked()["torch"].release == pinned.release
    for path in ("Makefile", "Dockerfile", ".ci/run"):
        assert not re.search(r"torch\s*==", (ROOT / path).read_text()), path


@pytest.mark.parametrize(
    "name",
    ["torch", "transformers", "sentence-transformers", "alt-profanity-check", "scikit-learn"],
)
def test_the_suite_runs_on_the_locked_versions(name):
    """The shipped weights depend on these packages' exact behaviour."""
    try:
        installed = Version(version(name))
    except PackageNotFoundError:  # pragma: no cover - the environment is broken
        pytest.fail(f"{name} is not installed: `make install`")
    assert installed == locked()[canonicalize_name(name)], f"{name}: `make install` again"


def test_the_image_installs_the_lock_before_the_source_and_runs_unprivileged():
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    steps = [line.split()[0] for line in lines if line.split()[0].isupper()]
    assert steps[0] == "FROM"
    copies = [line for line in lines if line.startswith("COPY ")]
    assert copies[0] == "COPY requirements.lock ./", "dependencies get a layer of their own"
    lock_install = next(i for i, line in enumerate(lines) if "-r requirements.lock" in line)
    first_source = next(i for i, line in enumerate(lines) if line.startswith("COPY moderation"))
    assert lock_install < first_source
    assert any("--no-deps" in line for line in lines[first_source:])
    users = [line for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    assert lines.index(users[-1]) < next(
        i for i, line in enumerate(lines) if line.startswith("CMD")
    )
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", "tests"} <= set(ignored)


def test_pre_commit_runs_what_make_lint_runs():
    from ruamel.yaml import YAML

    config = YAML(typ="safe").load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = " ".join(h["entry"] for repo in config["repos"] for h in repo["hooks"])
    makefile = (ROOT / "Makefile").read_text()
    for tool in ("ruff check", "ruff format --check", "mypy moderation workers"):
        assert tool in entries and tool in makefile, tool
    assert "make lint" in (ROOT / ".ci" / "run").read_text()
