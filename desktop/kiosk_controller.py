"""Runs the Kiosk panel: a camera (or a video) through the live kiosk, on its own threads.

``KioskRunner`` does the work on its capture and inference threads and reports to this
controller there; each report is re-emitted as a queued signal, so the panel is only ever
touched on the GUI thread. The frames shown are the frames processed: a picture waits for
its faces' boxes instead of running ahead of them.

Without a store key the panel says how to give one and nothing starts. A camera that
cannot be opened, a store that does not open, a model pack that is not installed: each is
shown on the panel (the kiosk cannot work, and says so) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop.kiosk.assemble import KioskOptions, open_kiosk
from desktop.kiosk.errors import KioskError
from desktop.kiosk.prompts import PromptHold, frame_prompt, notice_prompt
from desktop.kiosk.runner import KioskRunner
from desktop.kiosk.session import KioskFrame, KioskSession
from desktop.kiosk.sources import source_frames
from desktop.kiosk_metrics import KioskMetrics
from desktop.kiosk_panel import KioskPanel
from desktop.settings import LOCKED_MESSAGE, AppSettings, key_source
from desktop.workers import error_info
from inference.errors import InferenceError
from inference.face.assemble import providers
from sync.errors import SyncError
from sync.store import AccessEvent

_log = logging.getLogger(__name__)
# The screen faces the public: it says what is wrong, the log says who.
OVERLAP_SHOWN = ("two people enrolled here pass as each other at this threshold: calibrate "
                 "it before relying on this kiosk (the log names them)")  # fmt: skip
Frames = Iterator[tuple[float, np.ndarray]]
FrameSource = Callable[[], Frames]
OpenSession = Callable[[], AbstractContextManager[KioskSession]]


def model_providers(found: Mapping[str, object]) -> dict[str, str]:
    """Where each stage actually runs, the liveness pair model by model."""
    flat: dict[str, str] = {}
    for stage, provider in found.items():
        if isinstance(provider, Mapping):
            flat.update({str(model): str(name) for model, name in provider.items()})
        else:
            flat[stage] = str(provider)
    return flat


class KioskController(QObject):
    _ready = Signal(str, object)
    _frame = Signal(object, object)
    _finished = Signal(object)
    _failed = Signal(object)

    def __init__(
        self,
        settings: AppSettings,
        panel: KioskPanel,
        source: str,
        options: KioskOptions,
        *,
        frames: FrameSource | None = None,
        metrics: KioskMetrics | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.panel = panel
        self._source = source
        self._options = options
        self._frames = frames or (lambda: source_frames(source))
        self._hold = PromptHold()
        self._metrics = metrics
        self._runner: KioskRunner | None = None
        self._stop_asked = False
        self._failure_shown = False
        queued = Qt.ConnectionType.QueuedConnection
        self._ready.connect(self._show_ready, queued)
        self._frame.connect(self._show_frame, queued)
        self._finished.connect(self._show_finished, queued)
        self._failed.connect(self._show_failure, queued)
        panel.badge.returnPressed.connect(self._badge_entered)

    def start(self) -> None:
        key = key_source(self.settings)
        if key is None:
            self.panel.show_state(LOCKED_MESSAGE, problem=True)
            return
        settings, options = self.settings, self._options

        def open_session() -> AbstractContextManager[KioskSession]:
            return open_kiosk(settings.store_path, key, options, settings.env,
                              settings.store_config)  # fmt: skip

        self._runner = KioskRunner(self._frames, open_session, self)
        self._runner.start()

    def stop(self, timeout_s: float) -> bool:
        """Stop both threads between frames (open tracks are recorded); False if one still
        ran after ``timeout_s``."""
        self._stop_asked = True
        return self._runner.stop(timeout_s) if self._runner is not None else True

    # --- KioskListener: called on the runner's threads; only emits --------------------

    def ready(self, session: KioskSession) -> None:
        templates = len(session.pipeline.stages.gallery or ())
        models = model_providers(providers(session.pipeline.stages))
        on = ", ".join(f"{model} on {provider}" for model, provider in models.items())
        text = f"ready: {session.pipeline.mode}, {templates} templates; {on}"
        if session.warning is not None:  # said on screen without names; the log has them
            _log.warning("kiosk: %s", session.warning)
            text = f"{text}\nWARNING: {OVERLAP_SHOWN}"
        self._ready.emit(text, models)

    def frame(self, image: np.ndarray, frame: KioskFrame) -> None:
        self._frame.emit(image, frame)

    def finished(self, events: tuple[AccessEvent, ...]) -> None:
        self._finished.emit(events)

    def failed(self, error: BaseException) -> None:
        self._failed.emit(error)

    # --- on the GUI thread ----------------------------------------------------------------

    @Slot()
    def _badge_entered(self) -> None:
        """A badge read (typed, or a reader acting as a keyboard): the next attempt is 1:1."""
        badge = self.panel.badge.text().strip()
        self.panel.badge.clear()  # the field is ready for the next person at once
        if badge and self._runner is not None:
            self._runner.present_badge(badge)

    @Slot(str, object)
    def _show_ready(self, text: str, models: dict[str, str]) -> None:
        _log.info("kiosk %s (source %s)", text, self._source)
        self.panel.show_state(text, problem="WARNING" in text)
        if self._metrics is not None:
            self._metrics.set_models(models)

    @Slot(object, object)
    def _show_frame(self, image: np.ndarray, frame: KioskFrame) -> None:
        self.panel.show_picture(image, frame.result.faces)
        prompt = frame_prompt(frame.result, frame.names, frame.badge)
        if frame.notice is not None:
            prompt = notice_prompt(frame.notice)
        self.panel.show_prompt(self._hold.show(prompt))
        self.panel.add_events(frame.events, frame.names)
        if self._metrics is not None:
            dropped = self._runner.dropped if self._runner is not None else 0
            self._metrics.observe_frame(frame.result.stage_ms, dropped)
            self._metrics.count_events(frame.events)

    @Slot(object)
    def _show_finished(self, events: tuple[AccessEvent, ...]) -> None:
        self.panel.add_events(events, {})
        if self._metrics is not None:
            self._metrics.count_events(events)
        if not (self._stop_asked or self._failure_shown):  # a video's end; a camera's never
            self.panel.show_state(f"the picture ended ({self._source})", problem=True)

    @Slot(object)
    def _show_failure(self, error: object) -> None:
        if isinstance(error, KioskError | InferenceError | SyncError):  # said, not a bug
            _log.warning("kiosk stopped: %s", error)
        else:
            _log.error("kiosk stopped: %s", error, exc_info=error_info(error))
        self._failure_shown = True
        self.panel.show_state(f"the kiosk cannot work: {error}", problem=True)
