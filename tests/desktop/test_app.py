from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from desktop.app import MainWindow
from desktop.pack_status import pack_summary
from inference.pack.installed import ModelPack
from tests.desktop.qtwait import wait_until


def test_main_window_shows_each_model_state(tmp_path: Path) -> None:
    app = QApplication.instance() or QApplication([])
    window = MainWindow(ModelPack(tmp_path / "empty-pack"))
    window.show()
    app.processEvents()
    text = window.status.text()
    assert "yunet_n: missing" in text
    assert "not ready: run  jaga models install" in text
    window.close()


def test_an_unreadable_pack_record_is_said_in_the_window(tmp_path: Path) -> None:
    root = tmp_path / "damaged-pack"
    root.mkdir()
    (root / "installed.json").write_text("{not json", encoding="utf-8")
    app = QApplication.instance() or QApplication([])
    window = MainWindow(ModelPack(root))  # before, PackError escaped and no window opened
    window.show()
    app.processEvents()
    text = window.status.text()
    assert f"not ready: {root / 'installed.json'} is unreadable" in text
    assert "run: jaga models install" in text
    window.close()


def _pack_copy(model_pack: ModelPack, default_species_pack: Path, root: Path) -> ModelPack:
    """A copy of the installed pack (models, record, species pack) that a test may damage."""
    root.mkdir()
    shutil.copy2(model_pack.root / "installed.json", root)
    for spec in model_pack.manifest.models:
        shutil.copy2(model_pack.root / spec.file, root / spec.file)
    shutil.copytree(default_species_pack, root / default_species_pack.name)
    return ModelPack(root, model_pack.manifest)


def test_the_summary_of_a_whole_pack_says_ready_with_its_species_pack(
    model_pack: ModelPack, default_species_pack: Path, tmp_path: Path
) -> None:
    text = pack_summary(_pack_copy(model_pack, default_species_pack, tmp_path / "pack"))
    assert "minifasnet_v2: ok" in text
    assert "fish-default: ok" in text
    assert text.endswith("\nready")


def test_the_summary_checks_checksums_and_the_species_pack(
    model_pack: ModelPack, default_species_pack: Path, tmp_path: Path
) -> None:
    pack = _pack_copy(model_pack, default_species_pack, tmp_path / "pack")
    model = pack.root / pack.manifest.model("minifasnet_v2").file
    model.write_bytes(model.read_bytes()[:100_000])  # truncated after install
    shutil.rmtree(pack.root / default_species_pack.name)  # and no species pack at all
    text = pack_summary(pack)
    assert "minifasnet_v2: modified" in text  # before: "minifasnet_v2: ok"
    assert "fish-default: missing" in text  # before: the species pack was not listed
    assert "\nready" not in text


def test_the_window_shows_the_checked_state_of_a_damaged_pack(
    model_pack: ModelPack, default_species_pack: Path, tmp_path: Path
) -> None:
    pack = _pack_copy(model_pack, default_species_pack, tmp_path / "pack")
    model = pack.root / pack.manifest.model("minifasnet_v2").file
    model.write_bytes(model.read_bytes()[:100_000])
    app = QApplication.instance() or QApplication([])
    window = MainWindow(pack)
    window.show()
    app.processEvents()
    assert "\nready" not in window.status.text()  # before: "minifasnet_v2: ok ... ready"
    wait_until(lambda: "minifasnet_v2: modified" in window.status.text(), "the checked state")
    assert window.status.text().endswith("not ready: run  jaga models install")
    window.close()
