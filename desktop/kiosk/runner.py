"""A live kiosk: capture and inference each on their own thread, joined by a one-slot
mailbox, so a slow frame drops the frames behind it instead of queueing them
(:class:`~inference.face.live.LatestFrameMailbox`).

The inference thread does everything that touches the models or the store: it builds the
session (models loaded and warmed up, the store opened: a SQLCipher connection belongs to
the thread that opened it), says ``ready``, processes the newest frame whenever one is
waiting, and when stopped decides and records the tracks still open before it closes the
store. What it sees goes to a :class:`KioskListener`, called on that thread: a Qt listener
forwards each call to the GUI thread through a queued signal.

``stop`` ends both threads between frames and waits for them, within a bound: a frame in
flight is finished and recorded, never cut.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from desktop.kiosk.session import KioskFrame, KioskSession
from inference.face.eval_video import Image
from inference.face.live import LatestFrameMailbox
from sync.store import AccessEvent

_log = logging.getLogger(__name__)
# How often the inference thread looks at the stop flag while no frame comes.
_POLL_S = 0.2

Frames = Iterator[tuple[float, Image]]
OpenSession = Callable[[], AbstractContextManager[KioskSession]]


class KioskListener(Protocol):
    def ready(self, session: KioskSession) -> None: ...

    def frame(self, image: Image, frame: KioskFrame) -> None: ...

    def finished(self, events: tuple[AccessEvent, ...]) -> None:
        """The stream ended (or was stopped): the open tracks' events."""
        ...

    def failed(self, error: BaseException) -> None: ...


class KioskRunner:
    """One camera's capture and inference threads."""

    def __init__(
        self, frames: Callable[[], Frames], open_session: OpenSession, listener: KioskListener
    ) -> None:
        self._frames = frames
        self._open_session = open_session
        self._listener = listener
        self._mailbox: LatestFrameMailbox[tuple[float, Image]] = LatestFrameMailbox()
        self._stopping = threading.Event()
        self._badges: LatestFrameMailbox[str] = LatestFrameMailbox()  # the last one presented
        self._threads = [
            threading.Thread(target=self._capture, name="jaga-kiosk-capture", daemon=True),
            threading.Thread(target=self._infer, name="jaga-kiosk-inference", daemon=True),
        ]

    @property
    def dropped(self) -> int:
        """Frames the camera gave that inference was too busy to take."""
        return self._mailbox.dropped

    def present_badge(self, external_id: str) -> None:
        """From any thread: the next attempt is 1:1 against this badge (applied by the
        inference thread between frames; a newer badge replaces one not yet applied)."""
        self._badges.put(external_id)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Stop between frames; False if a thread still ran after ``timeout_s`` in all."""
        self._stopping.set()
        self._mailbox.close()
        return self.wait(timeout_s)

    def wait(self, timeout_s: float) -> bool:
        """Wait for the stream to end (a file's last frame, a stop, a failure)."""
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _capture(self) -> None:
        try:
            for item in self._frames():
                if self._stopping.is_set():
                    return
                self._mailbox.put(item)
        except Exception as error:  # a camera that went away: said, and the stream ends
            self._listener.failed(error)
        finally:
            self._mailbox.close()

    def _infer(self) -> None:
        try:
            with self._open_session() as session:
                if not self._stopping.is_set():  # not after a failure or a stop meanwhile
                    self._listener.ready(session)
                self._serve(session)
        except Exception as error:
            _log.debug("kiosk inference stopped", exc_info=error)
            self._listener.failed(error)
        finally:  # nobody takes frames any more: the camera stops too
            self._stopping.set()
            self._mailbox.close()

    def _serve(self, session: KioskSession) -> None:
        try:
            while not self._stopping.is_set():
                item = self._mailbox.take(_POLL_S)
                if item is None:
                    if self._mailbox.closed:
                        break
                    continue
                time_s, image = item
                badge = self._badges.take(0)
                if badge is not None:
                    session.present_badge(badge)
                self._listener.frame(image, session.process(image, time_s))
        finally:  # whoever stood there was decided; record them before the store closes
            self._listener.finished(session.finish())
