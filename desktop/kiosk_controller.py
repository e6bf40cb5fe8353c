"""Runs the Kiosk panel: a camera (or a video) through the live kiosk, on its own threads.

``KioskRunner`` does the work on its capture and inference threads and reports to this
controller there; each report is re-emitted as a queued signal, so the panel is only ever
touched on the GUI thread. The frames shown are the frames processed: a picture waits for
its faces' boxes instead of running ahead of them.

Without a store key the panel says how to give one and nothing starts; nor does it for a video
that cannot play (no frame it can read, a still photo): it is opened, or refused, before the
models load, as ``jaga kiosk run`` refuses it. A camera that cannot be opened or stops giving
frames, and a store that a full disk or another process keeps from opening, are tried again
(:mod:`desktop.kiosk.runner`): meanwhile the prompt says the kiosk is unavailable, the state
line says why (a full disk: which, and to free some space on it; and what decisions still wait
for the store, those in memory only), and the next frame shows it is back. A store that does
not open otherwise (a wrong key), a model pack that is not installed, a video that fails: each
is shown on the panel and logged. A kiosk that cannot work says so: the state line says why,
for the operator; the prompt says it is out of service (not "Look at the camera"), the picture
is cleared and the badge field is off. A frame in flight when it failed is recorded, not
shown. A failure is logged as the runner reports it, before a stop returns: an app quitting
runs no queued slot, and a stop with decisions unwritten must reach the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, SignalInstance, Slot

from desktop.kiosk.assemble import KioskOpener, KioskOptions
from desktop.kiosk.errors import KioskError
from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.journal import set_aside_note
from desktop.kiosk.prompts import (
    CAMERA_RESTART,
    OUT_OF_SERVICE,
    UNAVAILABLE,
    PromptHold,
)
from desktop.kiosk.runner import KioskRunner, Outage, close_frames
from desktop.kiosk.session import KioskSession
from desktop.kiosk.sources import CAMERA_PREFIX, source_frames
from desktop.kiosk_metrics import KioskMetrics
from desktop.kiosk_panel import KioskPanel
from desktop.settings import LOCKED_MESSAGE, AppSettings, key_source
from desktop.workers import error_info
from inference.errors import InferenceError
from inference.face.assemble import providers
from sync import plural
from sync.errors import SyncError
from sync.store import AccessEvent

_log = logging.getLogger(__name__)
# The screen faces the public: it says what is wrong, the log says who.
OVERLAP_SHOWN = ("people enrolled here pass as each other at this threshold: calibrate it "
                 "before relying on this kiosk (the log names them)")  # fmt: skip
Frames = Iterator[tuple[float, np.ndarray]]
FrameSource = Callable[[], Frames]
OpenSession = Callable[[], AbstractContextManager[KioskSession]]
RETRYING = {
    "camera": "the camera is unavailable: {reason}; trying again in {retry_s:.0f} s",
    "store": "the store cannot be opened: {reason}; trying again every {retry_s:.0f} s",
}
# A store (or its journal) a full disk keeps from opening: no retry mends it, space does.
DISK_FULL = (
    "the disk holding {folder} is full: {reason}; free some space on it (the kiosk starts by"
    " itself once there is room); trying again every {retry_s:.0f} s"
)


def model_providers(found: Mapping[str, object]) -> dict[str, str]:
    """Where each stage actually runs, the liveness pair model by model."""
    flat: dict[str, str] = {}
    for stage, provider in found.items():
        if isinstance(provider, Mapping):
            flat.update({str(model): str(name) for model, name in provider.items()})
        else:
            flat[stage] = str(provider)
    return flat


def _emit(signal: SignalInstance, *values: object) -> None:
    """Emit from a runner thread. A window closed while the models still loaded has deleted
    this controller by the time they are ready: nothing is left to tell."""
    try:
        signal.emit(*values)
    except RuntimeError:  # "Signal source has been deleted"
        _log.info("the kiosk's window closed before it could be told")


def _log_failure(what: str, error: object) -> None:
    if isinstance(error, KioskError | InferenceError | SyncError):  # said, not a bug
        _log.warning("%s: %s", what, error)
    else:
        _log.error("%s: %s", what, error, exc_info=error_info(error))


class KioskController(QObject):
    _ready = Signal(str, object, object)
    _frame = Signal(object, object)
    _finished = Signal(object)
    _failed = Signal(object)
    _unavailable = Signal(object)

    def __init__(
        self,
        settings: AppSettings,
        panel: KioskPanel,
        source: str,
        options: KioskOptions,
        *,
        frames: FrameSource | None = None,
        metrics: KioskMetrics | None = None,
        open_session: OpenSession | None = None,
    ) -> None:
        """``frames`` and ``open_session`` stand in for the source's frames and for the
        models' load and the store's open (:class:`KioskOpener`); a test's."""
        super().__init__()
        self.settings = settings
        self.panel = panel
        self._source = source
        self._options = options
        self._frames = frames or (lambda: source_frames(source))
        self._open_session = open_session
        self._hold = PromptHold()
        self._metrics = metrics
        self._runner: KioskRunner | None = None
        self._video: Frames | None = None  # opened by start, before the models load
        self._stop_asked = False
        self._failure_shown = False
        self._failure_text = ""
        self._problem_shown = False
        self._outage_shown: Outage | None = None  # until a frame comes
        self._ready_text = ""
        self._names: dict[str, str] = {}  # person uid -> the name greeted, this run
        # Event uids an earlier run left waiting, which this one writes first (given at ready).
        self._earlier_run: frozenset[str] = frozenset()
        queued = Qt.ConnectionType.QueuedConnection
        self._ready.connect(self._show_ready, queued)
        self._frame.connect(self._show_frame, queued)
        self._finished.connect(self._show_finished, queued)
        self._failed.connect(self._show_failure, queued)
        self._unavailable.connect(self._show_unavailable, queued)
        panel.badge.returnPressed.connect(self._badge_entered)

    def start(self) -> None:
        key = key_source(self.settings)
        if key is None:
            self._stand_down(LOCKED_MESSAGE)
            return
        camera = self._source.startswith(CAMERA_PREFIX)
        frames = self._frames
        if not camera:  # a video is opened, or refused, before the models load (as by the CLI)
            try:
                video = self._frames()
            except Exception as error:  # a still photo, no frame: said as the runner says it
                self._show_failure(error, started=False)
                return

            def frames() -> Frames:  # a video is played once: the runner asks for it once
                return video

            self._video = video

        settings = self.settings
        open_session = self._open_session or KioskOpener(
            settings.store_path, key, self._options, settings.env, settings.store_config
        )
        self._runner = KioskRunner(frames, open_session, self, camera=camera)
        self._runner.start()

    def stop(self, timeout_s: float) -> bool:
        """Stop both threads between frames (open tracks are recorded); False if one still
        ran after ``timeout_s``."""
        self._stop_asked = True
        stopped = self._runner.stop(timeout_s) if self._runner is not None else True
        if not stopped:  # a model load (a TensorRT build) cannot be cut short
            _log.warning("the kiosk's threads still ran %.0f s after the stop", timeout_s)
        elif self._video is not None:  # not played if the stop came before the first read
            close_frames(self._video)
        return stopped

    # --- KioskListener: called on the runner's threads; only emits --------------------

    def ready(self, session: KioskSession) -> None:
        templates = len(session.pipeline.stages.gallery or ())
        models = model_providers(providers(session.pipeline.stages))
        on = ", ".join(f"{model} on {provider}" for model, provider in models.items())
        text = f"ready: {session.pipeline.mode}, {plural.counted(templates, 'template')}; {on}"
        if session.warning is not None:  # said on screen without names; the log has them
            _log.warning("kiosk: %s", session.warning)
            text = f"{text}\nWARNING: {OVERLAP_SHOWN}"
        if session.clock_warning is not None:  # no names: said on screen as in the log
            _log.warning("kiosk: %s", session.clock_warning)
            text = f"{text}\nWARNING: {session.clock_warning}"
        if session.journal_set_aside is not None:  # logged as it was set aside
            text = f"{text}\nWARNING: {set_aside_note(session.journal_set_aside)}"
        _emit(self._ready, text, models, session.earlier_run)

    def frame(self, image: np.ndarray, frame: KioskFrame) -> None:
        _emit(self._frame, image, frame)

    def finished(self, events: tuple[AccessEvent, ...]) -> None:
        _emit(self._finished, events)

    def failed(self, error: BaseException) -> None:
        # Logged here: an app quitting has left its event loop, and never shows the failure
        # of a stop (decisions a full disk or a busy store keeps in memory, lost with it).
        _log_failure("kiosk stopped", error)
        _emit(self._failed, error)

    def unavailable(self, outage: Outage) -> None:
        _emit(self._unavailable, outage)

    # --- on the GUI thread ----------------------------------------------------------------

    @Slot()
    def _badge_entered(self) -> None:
        """A badge read (typed, or a reader acting as a keyboard): the next attempt is 1:1."""
        badge = self.panel.badge.text().strip()
        self.panel.badge.clear()  # the field is ready for the next person at once
        if badge and self._runner is not None:
            self._runner.present_badge(badge)

    @Slot(str, object, object)
    def _show_ready(self, text: str, models: dict[str, str], earlier_run: frozenset[str]) -> None:
        _log.info("kiosk %s (source %s)", text, self._source)
        self._ready_text = text
        self._earlier_run = earlier_run  # before any frame: they come after, queued in order
        if self._failure_shown:  # the camera failed while the models loaded: that stays
            return
        self.panel.show_state(text, problem="WARNING" in text)
        if self._metrics is not None:
            self._metrics.set_models(models)

    @Slot(object, object)
    def _show_frame(self, image: np.ndarray, frame: KioskFrame) -> None:
        self._names.update(frame.names)  # the greeting keeps its name on later frames
        if not self._failure_shown:  # a frame in flight when it failed: out of service stays
            self.panel.show_picture(image, frame.result.faces)
            self.panel.show_prompt(self._hold.show(frame.prompt(self._names)))
        # Written events go by the names the session found as it wrote them, not by the
        # greeting's: someone erased since then has none, and is not listed by name.
        self.panel.add_events(frame.events, frame.names, self._earlier_run)
        self._show_problem(frame.problem)
        if self._metrics is not None:
            dropped = self._runner.dropped if self._runner is not None else 0
            self._metrics.observe_frame(frame.result, dropped)
            self._metrics.count_events(frame.events)

    def _show_problem(self, problem: str | None) -> None:
        """A problem while it lasts (decisions waiting for the store, a camera gone), then
        the state again."""
        if self._failure_shown:  # a frame in flight: its problem goes under the failure
            if problem is not None or self._problem_shown:
                said = self._failure_text if problem is None else f"{self._failure_text}\n{problem}"
                self.panel.show_state(said, problem=True)
        elif problem is not None:
            self.panel.show_state(problem, problem=True)
        elif self._problem_shown or self._outage_shown:
            self.panel.show_state(self._ready_text, problem="WARNING" in self._ready_text)
        if self._outage_shown is not None:
            _log.info("kiosk: the %s is back", self._outage_shown.part)
        self._problem_shown, self._outage_shown = problem is not None, None

    @Slot(object)
    def _show_unavailable(self, outage: Outage) -> None:
        """Nobody can be decided until it is back: the last answer goes, the state says why.
        Not once the kiosk cannot work: an outage said as the failure came (the store tried
        while the video failed) would cover "out of service" with "retrying" for good."""
        shown = self._outage_shown
        text = self._outage_text(outage)
        if shown is None or shown.reason != outage.reason:  # each try is not news
            _log.warning("kiosk: %s", text)
        self.panel.add_events(outage.events, outage.names, self._earlier_run)  # as a frame's
        if self._metrics is not None:
            self._metrics.count_events(outage.events)
        if self._failure_shown:
            return
        self._outage_shown = outage
        self._hold.clear()
        self.panel.show_prompt(CAMERA_RESTART if outage.restart else UNAVAILABLE[outage.part])
        self.panel.clear_picture(f"no picture: the {outage.part} is unavailable")
        if outage.problem is not None:  # decisions waiting: still so while nothing is decided
            text = f"{text}\n{outage.problem}"
        self.panel.show_state(text, problem=True)

    def _outage_text(self, outage: Outage) -> str:
        """Why the part is gone, for the operator, and what to do when that is theirs to do."""
        words = DISK_FULL if outage.disk_full else RETRYING[outage.part]
        folder = self.settings.store_path.parent
        return words.format(reason=outage.reason, retry_s=outage.retry_s, folder=folder)

    @Slot(object)
    def _show_finished(self, events: tuple[AccessEvent, ...]) -> None:
        self.panel.add_events(events, {}, self._earlier_run)
        if self._metrics is not None:
            self._metrics.count_events(events)
        if not (self._stop_asked or self._failure_shown):  # a video's end; a camera's never
            self.panel.show_state(f"the picture ended ({self._source})", problem=True)

    @Slot(object)
    def _show_failure(self, error: object, *, started: bool = True) -> None:
        """``started``: False for a source refused before the kiosk's threads ran, so the log
        does not say a kiosk that never ran stopped (one that ran logged it: :meth:`failed`)."""
        if not started:
            _log_failure("kiosk not started", error)
        self._failure_shown = True
        self._failure_text = f"the kiosk cannot work: {error}"
        self._stand_down(self._failure_text)

    def _stand_down(self, why: str) -> None:
        """The kiosk cannot work: the operator reads why; nobody is asked to look at a camera
        that shows nothing, or to present a badge that would go nowhere."""
        self.panel.show_state(why, problem=True)
        self._hold.clear()
        self.panel.show_prompt(OUT_OF_SERVICE)
        self.panel.clear_picture("no picture: the kiosk cannot work")
        self.panel.badge.setEnabled(False)
