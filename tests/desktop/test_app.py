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
