"""`jaga models install` on a device without the ``models`` extra (no torch, no onnx: a kiosk,
the frozen build): what needs no conversion works, what does says it needs the extra."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inference.fish.installed import INSTALLED_FOLDER
from inference.pack.installed import RECORD_NAME, ModelPack, ModelState
from tests.conftest import REPO

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]

BUILD_ONLY = ("torch", "torchvision", "timm", "onnx", "onnxscript", "tflite2onnx")


def jaga_without_models_extra(*args: str) -> subprocess.CompletedProcess[str]:
    """``jaga ARGS`` in a fresh interpreter where the ``models`` extra cannot be imported."""
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in BUILD_ONLY)
    code = f"import sys; {blocked}; from main import main; sys.exit(main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


@pytest.fixture
def complete_pack(model_pack: ModelPack, default_species_pack: Path, tmp_path: Path) -> Path:
    """A copy of the installed pack, species pack included; no sources (nothing to rebuild)."""
    root = tmp_path / "models"
    root.mkdir()
    for spec in model_pack.manifest.models:
        shutil.copyfile(model_pack.root / spec.file, root / spec.file)
    shutil.copyfile(model_pack.root / RECORD_NAME, root / RECORD_NAME)
    shutil.copytree(default_species_pack, root / INSTALLED_FOLDER)
    return root


def test_install_on_a_complete_pack_is_up_to_date(complete_pack: Path) -> None:
    result = jaga_without_models_extra("models", "install", "--dir", str(complete_pack))
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr
    outcomes = [line.split() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(outcomes) == 9, outcomes  # eight models and the species pack
    assert all(outcome[1:4] == ["up", "to", "date"] for outcome in outcomes), outcomes


def test_a_species_pack_to_rebuild_says_it_needs_the_models_extra(complete_pack: Path) -> None:
    card = complete_pack / INSTALLED_FOLDER / "card.md"
    card.write_text(card.read_text() + "altered\n")  # fails verification: rebuilt on install
    result = jaga_without_models_extra("models", "install", "--dir", str(complete_pack))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    (last,) = result.stderr.strip().splitlines()
    assert "needs the 'models' extra: pip install 'jaga[models]'" in last


def test_a_damaged_record_is_written_again_for_files_that_match_their_pins(
    complete_pack: Path,
) -> None:
    """A kiosk cannot rebuild a model; every file still hashes to its pinned sha256, so the
    install records them as they are instead of rebuilding them."""
    (complete_pack / RECORD_NAME).write_text("")  # damaged
    before = {p.name: p.stat().st_ino for p in complete_pack.glob("*.onnx")}
    result = jaga_without_models_extra("models", "install", "--dir", str(complete_pack))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "was unreadable: moved it to installed.json.bad-" in result.stdout
    assert {p.name: p.stat().st_ino for p in complete_pack.glob("*.onnx")} == before  # no rebuild
    pack = ModelPack(complete_pack)
    assert {pack.state(spec) for spec in pack.manifest.models} == {ModelState.OK}
    verify = jaga_without_models_extra("models", "verify", "--dir", str(complete_pack))
    assert (verify.returncode, verify.stdout) == (0, "all models verified\n")
