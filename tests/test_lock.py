"""The checked-in locks (requirements/*.txt) agree with pyproject.toml, with each other and with this venv.

scripts/install.sh installs only from these locks, so a fresh machine gets exactly what CI got; these
tests catch a pyproject.toml edit without ``./scripts/lock.sh``, and a venv that drifted from the lock.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(name: str) -> dict[str, str]:
    """{package: version} of a lock, for the pins whose environment marker holds here."""
    found: dict[str, str] = {}
    lines = (LOCKS / name).read_text().splitlines()
    for number, line in enumerate(lines):
        match = _PIN.match(line)
        if not match:
            continue
        package, version, marker = match.groups()
        assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{name}: {package} has no hash"
        if marker is None or Marker(marker).evaluate():
            found[canonicalize_name(package)] = version
    return found


def project() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": data["dependencies"], **data["optional-dependencies"]}


def lock_names() -> list[str]:
    return sorted(p.name for p in LOCKS.glob("*.txt"))


@pytest.mark.parametrize("extra", [e for e in project() if e])
def test_every_extra_has_a_lock_that_satisfies_pyproject(extra: str) -> None:
    locked = pins(f"{extra}.txt")
    wanted = [*project()[""], *project()[extra]]
    for text in wanted:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        if name == "curbside":  # dev names the project's own extras: their packages are checked as theirs
            continue
        assert name in locked, f"{extra}.txt lacks {name}: run ./scripts/lock.sh"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{extra}.txt pins {name}=={locked[name]}, but pyproject.toml asks for {text}: run ./scripts/lock.sh"
        )


@pytest.mark.parametrize("name", lock_names())
def test_every_lock_pins_what_the_dev_lock_pins(name: str) -> None:
    dev = pins("dev.txt")
    for package, version in pins(name).items():
        if package in dev:
            assert dev[package] == version, f"{name} pins {package}=={version}, dev.txt {dev[package]}"


def test_this_venv_holds_exactly_the_dev_lock() -> None:
    # The suite runs in the venv scripts/test.sh installed from requirements/dev.txt: a package at any
    # other version means the venv was not built from the lock (or the lock was edited without reinstalling).
    drift = {}
    for package, version in pins("dev.txt").items():
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            drift[package] = f"locked {version}, installed {installed}"
    assert not drift, f"run ./scripts/install.sh dev: {drift}"
