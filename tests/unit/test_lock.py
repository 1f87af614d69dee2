"""The locks (requirements.lock for the image, requirements-dev.lock for `make venv`)
satisfy pyproject.toml, pin every package with its hashes, agree with each other, and are
closed: every requirement of a locked package is locked too. `make lock` regenerates them."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME_LOCK = REPO / "requirements.lock"
DEV_LOCK = REPO / "requirements-dev.lock"
TOOLS = REPO / "hack/requirements-tools.in"
#: What the locks are resolved for (hack/lock.sh): Debian bookworm's CPython 3.11 on Linux.
TARGET = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: int


def read_lock(path: Path) -> dict[str, Pin]:
    """name -> pin; a requirement spans its line and the continuation lines after it."""
    pins: dict[str, Pin] = {}
    name = ""
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            assert name not in pins, f"{name} pinned twice in {path.name}"
            pins[name] = Pin(Version(match[2].rstrip("\\").strip()), 0)
        if name and (count := len(HASH.findall(line))):
            pins[name] = Pin(pins[name].version, pins[name].hashes + count)
    return pins


def applies(requirement: Requirement, extra: str = "") -> bool:
    if requirement.marker is None:
        return True
    return requirement.marker.evaluate({**TARGET, "extra": extra})


def unsatisfied(requirements: list[str], pins: dict[str, Pin]) -> list[str]:
    missing = []
    for text in requirements:
        requirement = Requirement(text)
        if not applies(requirement):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None or not requirement.specifier.contains(pin.version, prereleases=True):
            missing.append(f"{text} (locked: {pin.version if pin else 'nothing'})")
    return missing


def tools() -> list[str]:
    lines = (line.split("#")[0].strip() for line in TOOLS.read_text().splitlines())
    return [line for line in lines if line]


RUNTIME = read_lock(RUNTIME_LOCK)
DEV = read_lock(DEV_LOCK)
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def test_the_runtime_lock_satisfies_the_dependencies() -> None:
    assert unsatisfied(PYPROJECT["project"]["dependencies"], RUNTIME) == []


def test_the_dev_lock_satisfies_dependencies_extras_and_the_build_backend() -> None:
    wanted = [
        *PYPROJECT["project"]["dependencies"],
        *EXTRAS["test"],
        *EXTRAS["dev"],
        *PYPROJECT["build-system"]["requires"],  # `make venv` installs without isolation
        *tools(),
    ]
    assert unsatisfied(wanted, DEV) == []


def test_every_pin_has_hashes() -> None:
    for path, pins in ((RUNTIME_LOCK, RUNTIME), (DEV_LOCK, DEV)):
        assert pins, f"{path.name} pins nothing"
        unhashed = [name for name, pin in pins.items() if pin.hashes == 0]
        assert unhashed == [], f"{path.name}: no --hash for {unhashed}"


def test_the_dev_lock_has_the_runtime_pins() -> None:
    """The tests run on exactly what the image installs."""
    differ = {
        name: (str(pin.version), str(DEV[name].version) if name in DEV else None)
        for name, pin in RUNTIME.items()
        if name not in DEV or DEV[name].version != pin.version
    }
    assert differ == {}


def test_the_image_installs_nothing_for_development() -> None:
    for tool in ("pytest", "mypy", "ruff", "uv", "pip", "setuptools", "wheel"):
        assert tool not in RUNTIME, f"{tool} in requirements.lock"


def installed_requirements(name: str, version: Version) -> list[str]:
    """What the installed distribution requires (from its metadata), on the lock's target."""
    dist = metadata.distribution(name)
    if Version(dist.version) != version:
        pytest.fail(f"{name} {dist.version} is installed but {version} locked: run `make venv`")
    found = []
    for text in dist.requires or []:
        requirement = Requirement(text)
        if applies(requirement):  # the lock requests no extras
            found.append(str(requirement))
    return found


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_the_lock_is_closed(lock: Path) -> None:
    """Every requirement of every locked package is locked too (read from the metadata of
    the virtualenv `make venv` installed from the dev lock), so `pip install
    --require-hashes` never needs a package the lock lacks."""
    pins = read_lock(lock)
    missing = {}
    for name, pin in pins.items():
        needs = installed_requirements(name, pin.version)
        if gaps := unsatisfied(needs, pins):
            missing[name] = gaps
    assert missing == {}


def test_make_venv_and_the_image_install_from_the_locks_with_hashes() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "--require-hashes --only-binary=:all: -r requirements-dev.lock" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    for recipe in ("Dockerfile", "hack/build-image.sh"):
        text = (REPO / recipe).read_text()
        assert "requirements.lock" in text, recipe
        assert "--require-hashes" in text, recipe
