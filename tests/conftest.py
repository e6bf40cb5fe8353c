"""Fixtures shared by every test package.

``../shared`` (data and model mirror) is found relative to the repository root; tests that
need it skip cleanly where it is absent. The model pack is built once per machine into
``.cache/models`` (or ``$JAGA_MODELS_DIR``) by the real installer and reused.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inference.pack.install import install
from inference.pack.installed import ModelPack, ModelState
from sync.store.key_sources import forget_taken_passphrases

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a clean skip of the calling test where it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data and models are not on this machine)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return shared_path()


@functools.cache
def _installed_pack() -> ModelPack:
    mirror = shared_path("models")
    pack = ModelPack(Path(os.environ.get("JAGA_MODELS_DIR", REPO / ".cache" / "models")))
    missing = [spec for spec in pack.manifest.models if pack.state(spec) is not ModelState.OK]
    if missing:
        install(pack, missing, mirror=mirror)
    return pack


@pytest.fixture(scope="session")
def model_pack() -> ModelPack:
    """The installed default pack, built from ../shared/models on first use."""
    return _installed_pack()


@pytest.fixture(scope="session")
def default_species_pack(model_pack: ModelPack) -> Path:
    """The default species pack where `jaga models install` puts it (built there if absent)."""
    from inference.fish.installed import INSTALLED_FOLDER, is_current
    from inference.pack.install import install_fish_default

    root = model_pack.root / INSTALLED_FOLDER
    if not is_current(root):
        install_fish_default(model_pack)
    return root


def installed_source(model_id: str, name: str) -> Path:
    """A model's checked source file from the installed pack's cache (parity references)."""
    return _installed_pack().source_path(model_id, name)


def installed_model(model_id: str) -> Path:
    """The checked ONNX file the real installer built."""
    return _installed_pack().model(model_id).path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a test marked ``slow`` run first, each kept whole and in its order.

    pytest-xdist hands tests out in this order: a long test collected last (the frozen build,
    at the end of the alphabet) ran while the other workers had finished, and the suite
    waited on one worker for it. Long ones first fill the gaps instead. A module moves whole
    so that its module-scoped fixtures (a hub, a trained pack) are still made once a worker.
    """
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: order kept


@dataclass(frozen=True)
class Collected:
    """What this process's collection did: the test modules it imported (or tried to), whether
    any failed, and the training-only packages imported by the time it finished."""

    modules: frozenset[Path]
    failed: bool
    training_imports: tuple[str, ...]


TRAINING_ONLY = ("torch", "timm", "torchvision")
COLLECTED = pytest.StashKey[Collected]()
_modules_collected: set[Path] = set()
_collection_failed: list[bool] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".py"):
        _modules_collected.add((REPO / path).resolve())
    if report.failed:
        _collection_failed.append(True)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Kept for tests/test_collection_imports.py: where this process collected the whole suite
    (as every run of the suite does, each xdist worker too), it reads this instead of
    collecting the suite again in an interpreter of its own (20 s of CPU)."""
    imported = {name.split(".")[0] for name in sys.modules}
    session.config.stash[COLLECTED] = Collected(
        frozenset(_modules_collected), bool(_collection_failed),
        tuple(sorted(imported & set(TRAINING_ONLY))),
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _no_passphrase_taken_by_an_earlier_test() -> Iterator[None]:
    """The passphrases a command took out of the environment are the process's
    (``sync.store.key_sources``): one test's are not the next one's."""
    yield
    forget_taken_passphrases()
