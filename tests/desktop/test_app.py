from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from desktop.app import MainWindow
from inference.pack.installed import ModelPack


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
