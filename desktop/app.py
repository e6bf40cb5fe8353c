"""The Qt application: one window with the model pack's state and the background sync.

This module is the composition root: it builds the window's parts from ``AppSettings`` and
wires them; the parts themselves (``SyncController``, ``SyncPanel``, ``SpeciesPacks``) know
nothing of each other's construction. The kiosk and handheld views land here as their issues
do; the shell already follows the rule they will follow: all model work goes through
``inference``, all records through ``sync``, and this package is the only one that imports Qt.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

from desktop.settings import AppSettings
from desktop.species import (
    ClassifierBuilder,
    PackFinder,
    SpeciesPacks,
    build_classifier,
    startup_species_pack,
)
from desktop.sync_controller import SyncController
from desktop.sync_panel import SyncPanel
from inference.pack.installed import ModelPack, ModelState
from sync.client.backoff import Backoff
from sync.client.service import ClientFactory


def pack_summary(pack: ModelPack) -> str:
    """One line per model: id and checksum state (read without loading any model)."""
    lines = [f"Model pack {pack.manifest.version} in {pack.root}"]
    for spec in pack.manifest.models:
        lines.append(f"  {spec.id}: {pack.state(spec, hash_file=False)}")
    ready = all(pack.state(s, hash_file=False) is ModelState.OK for s in pack.manifest.models)
    lines.append("ready" if ready else "not ready: run  jaga models install")
    return "\n".join(lines)


class MainWindow(QMainWindow):
    def __init__(self, pack: ModelPack, sync: SyncController | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Jaga")
        self.sync = sync
        self.status = QLabel(pack_summary(pack))
        self.status.setObjectName("packStatus")
        layout = QVBoxLayout()
        layout.addWidget(self.status)
        if sync is not None:
            layout.addWidget(sync.panel)
        layout.addStretch(1)
        body = QWidget()
        body.setLayout(layout)
        self.setCentralWidget(body)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        # Stopped here, not at interpreter exit: no sync thread outlives its window.
        if self.sync is not None:
            self.sync.stop()
        super().closeEvent(event)


def open_window(
    settings: AppSettings,
    pack: ModelPack,
    *,
    open_client: ClientFactory | None = None,
    backoff: Backoff | None = None,
    build: ClassifierBuilder = build_classifier,
    find_pack: PackFinder = startup_species_pack,
) -> MainWindow:
    """Build, show and start the window (tests replace the hub client or the pack parts)."""
    species = SpeciesPacks(build)
    panel = SyncPanel(settings.store_path)
    controller = SyncController(
        settings, panel, species, open_client=open_client, backoff=backoff, find_pack=find_pack
    )
    window = MainWindow(pack, controller)
    species.setParent(window)
    controller.setParent(window)
    window.resize(760, 440)
    window.show()
    controller.start()
    return window


def run_app(settings: AppSettings, qt_argv: Sequence[str] | None = None) -> int:
    app = QApplication(list(qt_argv if qt_argv is not None else sys.argv[:1]))
    window = open_window(settings, ModelPack())
    if window.sync is not None:  # a quit that closes no window stops the service too
        app.aboutToQuit.connect(window.sync.stop)
    return app.exec()
