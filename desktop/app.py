"""The Qt application shell: one window that says which models run on which provider.

The kiosk and handheld views land here as their issues do; this shell already follows the
rule they will follow: all model work goes through ``inference``, all records through
``sync``, and this package is the only one that imports Qt.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

from inference.pack.installed import ModelPack, ModelState


def pack_summary(pack: ModelPack) -> str:
    """One line per model: id and checksum state (read without loading any model)."""
    lines = [f"Model pack {pack.manifest.version} in {pack.root}"]
    for spec in pack.manifest.models:
        lines.append(f"  {spec.id}: {pack.state(spec, hash_file=False)}")
    ready = all(pack.state(s, hash_file=False) is ModelState.OK for s in pack.manifest.models)
    lines.append("ready" if ready else "not ready: run  jaga models install")
    return "\n".join(lines)


class MainWindow(QMainWindow):
    def __init__(self, pack: ModelPack) -> None:
        super().__init__()
        self.setWindowTitle("Jaga")
        self.status = QLabel(pack_summary(pack))
        self.status.setObjectName("packStatus")
        layout = QVBoxLayout()
        layout.addWidget(self.status)
        body = QWidget()
        body.setLayout(layout)
        self.setCentralWidget(body)


def run_app(argv: Sequence[str]) -> int:
    app = QApplication(list(argv))
    window = MainWindow(ModelPack())
    window.show()
    return app.exec()
