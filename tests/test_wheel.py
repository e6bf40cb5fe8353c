"""The wheel holds every file the installed code reads beside its modules.

The hub is installed from the wheel (packaging/systemd/README.md: ``pip install 'jaga[hub] @
file://...'``), not from a checkout: a template or an asset that only a checkout has works in
every test and fails on the first server. The code finds the assets at
``Path(__file__).parents[2] / "assets"``, which in an installed wheel is ``assets/`` beside
the packages, so the wheel must put them there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from inference.fish.installed import DEFAULT_ASSETS
from inference.pack.install import CARDS_DIR
from inference.pack.manifest import DEFAULT_MANIFEST

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "main.py", "inference", "sync", "desktop", "assets")


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The paths in a wheel built from a copy of the sources (the build writes beside them),
    with this venv's setuptools: no download, but pyproject's build requirement must hold."""
    pytest.importorskip("setuptools", minversion="77")
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("jaga-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def in_repo(folder: Path) -> list[str]:
    return sorted(
        path.relative_to(REPO).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def test_the_wheel_holds_every_template_of_the_hub(wheel_files: set[str]) -> None:
    templates = in_repo(REPO / "sync" / "hub" / "templates")
    missing = set(templates) - wheel_files
    assert templates
    assert not missing, f"not in the wheel: {sorted(missing)}"


def test_the_wheel_holds_the_assets_where_the_code_looks_for_them(wheel_files: set[str]) -> None:
    assets = [DEFAULT_MANIFEST.relative_to(REPO).as_posix()]
    assets += in_repo(CARDS_DIR) + in_repo(DEFAULT_ASSETS)
    assert all(path.startswith("assets/") for path in assets)  # parents[2] / "assets"
    missing = set(assets) - wheel_files
    assert not missing, f"not in the wheel: {sorted(missing)}"
