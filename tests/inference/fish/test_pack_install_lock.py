"""`jaga fish train` and `jaga fish combine` into the models folder (``--out
<models>/fish-default``) wait for a running `jaga models install` before they put the pack in
place, and only then: the training itself runs while the install does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inference.fish.installed import INSTALLED_FOLDER
from inference.fish.pack import SpeciesPack, load_pack
from inference.pack.installed import ModelPack
from tests.conftest import REPO
from tests.inference.fish.conftest import HOLDOUT
from tests.inference.pack.helpers import HOLD_INSTALL_LOCK, pack_of_one
from tests.inference.pack.test_install_lock import (
    WAITING,
    finish,
    output_until_waiting,
    wait_until_reached,
)

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]
BACKBONE = "efficientnet_lite0"  # the smaller backbone, as the training tests use


@pytest.fixture
def models(model_pack: ModelPack, tmp_path: Path) -> Path:
    """A models folder holding only the small backbone (copied, with its record)."""
    return pack_of_one(model_pack, BACKBONE, tmp_path / "models").root


def run_while_an_install_runs(models: Path, command: list[str], tmp_path: Path) -> str:
    """``jaga COMMAND`` while another process holds ``models``' install lock; what it printed
    before it waited (checked: it waited, and put nothing beside the pack meanwhile)."""
    gate = tmp_path / "gate"
    install = subprocess.Popen(
        [sys.executable, "-c", HOLD_INSTALL_LOCK, str(models), str(gate)], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_until_reached(gate, install)
    run = subprocess.Popen(
        [sys.executable, "main.py", *command], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    early = output_until_waiting(run)
    written_meanwhile = sorted(p.name for p in models.glob(f"*{INSTALLED_FOLDER}*"))
    gate.touch()
    finish(install)
    later = finish(run)
    assert WAITING in early, f"it did not wait for the install: {early}"
    assert written_meanwhile == []
    assert WAITING not in later
    load_pack(models / INSTALLED_FOLDER)
    return early


def test_train_into_the_models_folder_waits_for_a_running_install_only_to_write(
    models: Path, fish_slice: Path, tmp_path: Path
) -> None:
    out = models / INSTALLED_FOLDER
    early = run_while_an_install_runs(
        models,
        ["fish", "train", "--data", str(fish_slice), "--out", str(out), "--holdout", HOLDOUT,
         "--models-dir", str(models), "--backbone", BACKBONE, "--epochs", "2", "--views", "0",
         "--validation-fraction", "0.34", "--no-int8", "--cache", str(tmp_path / "cache"),
         "--threads", "2"],
        tmp_path,
    )  # fmt: skip
    # Trained while the install ran: the lock was asked for only to put the pack in place.
    assert early.index("training the head") < early.index(WAITING)


def test_combine_into_the_models_folder_waits_for_a_running_install(
    models: Path, trained_pack: SpeciesPack, fish_slice: Path, tmp_path: Path
) -> None:
    out = models / INSTALLED_FOLDER
    run_while_an_install_runs(
        models,
        ["fish", "combine", str(trained_pack.root), str(trained_pack.root),
         "--data", str(fish_slice), "--out", str(out), "--no-int8"],
        tmp_path,
    )  # fmt: skip
