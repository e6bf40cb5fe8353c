"""The Qt application: one window with the handheld catch flow, the model pack's state and
the background sync.

This module is the composition root: it builds the window's parts from ``AppSettings`` and
wires them; the parts themselves (``CatchController``, ``SyncController``, their panels,
``SpeciesPacks``) know nothing of each other's construction. The catch panel and the sync
share one ``SpeciesPacks``: a pack a sync installs is the one the next photo is classified
with. They share the window's ``DeviceMetrics`` too (none unless ``JAGA_METRICS_PORT`` is
set), which the window closes after both stopped; and a sync that pulled changes from the
hub refreshes the catch panel's review list (a hub reviewer may have confirmed a catch).

With ``--kiosk SOURCE`` the window is a kiosk instead: the Kiosk panel (``KioskController``)
takes the Catch panel's place, verifying faces from a camera against the store's gallery
and recording every decision, while the sync runs beside it as on a boat (it carries the
access events to the hub and brings erasures back, which the running kiosk picks up).
All model work goes through ``inference``, all records through ``sync``, and this package
is the only one that imports Qt.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from PySide6.QtCore import QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QHBoxLayout, QMainWindow, QVBoxLayout, QWidget

from desktop.catch_controller import CatchController
from desktop.catch_panel import CatchPanel
from desktop.gui_gc import GuiThreadCollector
from desktop.kiosk.assemble import KioskOptions
from desktop.kiosk_controller import FrameSource, KioskController
from desktop.kiosk_panel import KioskPanel
from desktop.labels import plain_label
from desktop.metrics import ClassifierProbe, DeviceMetrics, LoadedClassifier, start_device_metrics
from desktop.pack_status import pack_summary, unchecked_summary
from desktop.questions import (
    CloseQuestion,
    PhotoChooser,
    Question,
    ask_for_photo,
    ask_to_close,
    ask_yes_no,
)
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
from desktop.workers import BackgroundJobs, Deadline
from inference.pack.installed import ModelPack
from sync.client.backoff import Backoff
from sync.client.service import ClientFactory

# For smoke tests of a build only (packaging/smoke_frozen.sh): the app quits by itself, as a
# user closing it would, after this many seconds. Unset on a kiosk.
QUIT_AFTER_ENV = "JAGA_APP_QUIT_AFTER_S"
# How long closing waits for the sync and the catch jobs, in all: a sync request in flight
# ends within the client's read timeout (30 s). jaga-kiosk.service's TimeoutStopSec is longer.
SHUTDOWN_BOUND_S = 30.0
# How often the GUI thread runs Python while idle, so a stop signal's handler runs (below).
SIGNAL_CHECK_MS = 200
_log = logging.getLogger(__name__)


def classifier_probe(species: SpeciesPacks) -> ClassifierProbe:
    """The classifier in use, for the metrics thread: the loader swaps the reference whole,
    so reading it there is safe."""

    def loaded() -> LoadedClassifier | None:
        classifier = species.classifier
        if classifier is None:
            return None
        return LoadedClassifier(classifier.pack.version, classifier.provider)

    return loaded


class MainWindow(QMainWindow):
    def __init__(
        self,
        pack: ModelPack,
        sync: SyncController | None = None,
        catch: CatchController | None = None,
        metrics: DeviceMetrics | None = None,
        species: SpeciesPacks | None = None,
        *,
        kiosk: KioskController | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Jaga")
        self.sync = sync
        self.catch = catch
        self.kiosk = kiosk
        self.metrics = metrics
        self.species = species
        self._shut_down = False
        self.status = plain_label(unchecked_summary(pack), "packStatus")
        self.pack_check = BackgroundJobs(parent=self)  # hashing ~90 MB: not on the GUI thread
        self.pack_check.submit(
            functools.partial(pack_summary, pack), self._show_pack, self._show_pack
        )
        side = QVBoxLayout()  # the device's state beside the officer's work
        side.addWidget(self.status)
        if sync is not None:
            side.addWidget(sync.panel)
        side.addStretch(1)
        layout = QHBoxLayout()
        for work in (catch, kiosk):
            if work is not None:
                layout.addWidget(work.panel, 3)
        layout.addLayout(side, 2)
        body = QWidget()
        body.setLayout(layout)
        self.setCentralWidget(body)

    def _show_pack(self, summary: object) -> None:
        # A file the check could not read (a failing SD card's OSError) is said as it is.
        self.status.setText(str(summary) if isinstance(summary, str) else f"not ready: {summary}")

    def shutdown(self) -> None:
        """Hide the window, stop the sync and the catch jobs within ``SHUTDOWN_BOUND_S`` in
        all, then close the metrics they report to. Runs once, on whichever comes first of
        the window closing and the application quitting. No sync thread or catch job
        outlives its window (a record in flight commits or rolls back whole); a species pack
        load is left behind, since it writes nothing."""
        if self._shut_down:
            return
        self._shut_down = True
        _log.info("shutting down: the sync and the catch jobs get %.0f s in all", SHUTDOWN_BOUND_S)
        self._hide_now()
        deadline = Deadline.after(SHUTDOWN_BOUND_S)
        if self.species is not None:
            self.species.stop()
        if self.kiosk is not None:  # first: the person in front of it is recorded, and its
            self.kiosk.stop(deadline.remaining_s())  # frame in flight takes a fraction of a second
        if self.sync is not None:  # first: it ends after its request in flight, while a
            self.sync.stop(deadline.remaining_s())  # catch job in flight runs on meanwhile
        if self.catch is not None:
            self.catch.stop(deadline.remaining_s())
        if self.metrics is not None:
            self.metrics.close()

    def _hide_now(self) -> None:
        """The waits that follow block the GUI thread: a window left on screen would look
        frozen, so the display server is told to drop it before they start."""
        self.hide()
        QGuiApplication.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        # Catches the store refused are lost with the window: the officer is asked first
        # (an application quitting, e.g. on a stop signal, shuts down without asking).
        if not self._shut_down and self.catch is not None and not self.catch.may_close(self):
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)


def open_window(
    settings: AppSettings,
    pack: ModelPack,
    *,
    open_client: ClientFactory | None = None,
    backoff: Backoff | None = None,
    build: ClassifierBuilder = build_classifier,
    find_pack: PackFinder = startup_species_pack,
    choose_photo: PhotoChooser = ask_for_photo,
    confirm_close: CloseQuestion = ask_to_close,
    ask: Question = ask_yes_no,
    kiosk_frames: FrameSource | None = None,
) -> MainWindow:
    """Build, show and start the window (tests replace the hub client, the pack parts, the
    photo dialog, the question on closing, the other questions or the kiosk's camera)."""
    species = SpeciesPacks(build)
    metrics = start_device_metrics(settings, classifier_probe(species))
    controller = SyncController(
        settings, SyncPanel(settings.store_path), species, open_client=open_client,
        backoff=backoff, find_pack=find_pack, metrics=metrics.sync if metrics else None,
    )  # fmt: skip
    catch, kiosk = None, None
    if settings.kiosk_source is None:
        catch = CatchController(
            settings, CatchPanel(), species, choose_photo=choose_photo,
            confirm_close=confirm_close, ask=ask, metrics=metrics.catch if metrics else None,
        )  # fmt: skip
        controller.changes_pulled.connect(catch.review.refresh)
    else:
        options = KioskOptions(models_dir=pack.root, site=settings.site, device=settings.device)
        kiosk = KioskController(
            settings, KioskPanel(), settings.kiosk_source, options, frames=kiosk_frames,
            metrics=metrics.kiosk if metrics else None,
        )  # fmt: skip
    window = MainWindow(pack, controller, catch, metrics, species, kiosk=kiosk)
    for part in (species, controller, catch, kiosk):
        if part is not None:
            part.setParent(window)
    window.resize(1180, 760)
    window.show()
    controller.start()
    for work in (catch, kiosk):
        if work is not None:
            work.start()
    return window


def quit_after_s(env: Mapping[str, str]) -> float | None:
    """The seconds ``$JAGA_APP_QUIT_AFTER_S`` gives, None when it is unset or empty."""
    text = env.get(QUIT_AFTER_ENV, "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"${QUIT_AFTER_ENV} must be a positive number of seconds, not {text!r}")
    return seconds


def run_app(settings: AppSettings, qt_argv: Sequence[str] | None = None) -> int:
    try:
        quit_after = quit_after_s(settings.env)
    except ValueError as error:  # refused before any window opens or any store is touched
        print(f"jaga: error: {error}", file=sys.stderr)
        return 2
    app = QApplication(list(qt_argv if qt_argv is not None else sys.argv[:1]))
    # Qt objects in reference cycles freed on the GUI thread only; left so until the process
    # ends (the shutdown's threads still run after the event loop, and exit collects anyway).
    collector = GuiThreadCollector(app)
    collector.start()
    # Before the window opens (its store's key derivation, the metrics server): a stop then
    # is a quit as later, not the signal's default death.
    quit_on_stop_signals(app)
    window = open_window(settings, ModelPack())
    app.aboutToQuit.connect(window.shutdown)  # a quit that closes no window stops all too
    if quit_after is not None:
        QTimer.singleShot(round(quit_after * 1000), app.quit)
    code = app.exec()
    settings.forget_secrets()  # the passphrase overwritten: nothing opens the store from here
    if window.species is not None and window.species.loading:
        _leave_now(code)
    return code


def quit_on_stop_signals(app: QApplication) -> None:
    """SIGTERM (how systemd stops the kiosk) and SIGINT (Ctrl-C) quit the app as closing
    its window does, so the shutdown runs instead of the process dying mid-Record. Python
    runs a signal's handler only when the GUI thread next runs Python code, which Qt's event
    loop, waiting in C++, may not do for minutes: a timer makes it do so. The quit is posted,
    not called: a signal while the window is still opening comes before the event loop
    runs, when Qt's ``quit`` does nothing; posted, it is the loop's first event."""

    def quit_now(number: int, _frame: object) -> None:
        _log.info("%s: quitting", signal.Signals(number).name)
        QTimer.singleShot(0, app.quit)

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, quit_now)
    waker = QTimer(app)
    waker.timeout.connect(lambda: None)
    waker.start(SIGNAL_CHECK_MS)


def _leave_now(code: int) -> NoReturn:
    """End the process at once, after its shutdown. A species pack load still running
    would hold the exit (its thread pool waits for it when destroyed) for as long as a
    TensorRT engine build takes, minutes on a Jetson; it writes nothing. Whatever else
    outlived the shutdown bound is cut as at a power loss, which the store's transactions
    make safe."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
