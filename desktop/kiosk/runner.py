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
flight is finished and recorded, never cut; a camera read in flight is not waited for
(:func:`~desktop.kiosk.sources.reads_stopped_by`).

What goes away is tried again, and the listener is told meanwhile (:class:`Outage`), so a
kiosk left alone comes back by itself:

* a camera (``camera=True``) that cannot be opened or stops giving frames (a USB hiccup, a
  re-enumeration, a read stuck in its driver: a :class:`KioskError` from the source,
  :mod:`desktop.kiosk.sources`) is opened again after a back-off
  (``CAMERA_BACKOFF``: 1 s, doubling, at most 30 s apart), for as long as it takes (one
  whose reads stay stuck in its driver says only a restart frees it: ``Outage.restart``). The
  tracks open when it went are decided on what they have and recorded, as at a stop; with
  no frames nothing is decided in between, but decisions waiting for the store are still
  tried (a frame would try them), and the listener told of each change. A video file's
  error, like its end, ends the stream as before, and so does a ``camera:`` source that
  names no camera (:class:`~desktop.kiosk.sources.KioskSourceError`: a setting, which no
  retry mends);
* a store (or its journal beside it) that cannot be opened for lack of space (said so:
  ``Outage.disk_full``), or held by another process (a restore, a key change), is tried
  again every ``STORE_RETRY_S``; the models are not loaded again
  (:class:`~desktop.kiosk.assemble.KioskOpener`). Any other failure (a wrong key, a
  damaged store) still ends the kiosk: trying again would not help.

The process does not exit for systemd to restart it: a restart would do no more than
trying again does (open the camera and the store afresh), and would add a model load and a
blank screen each time.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from desktop.kiosk.errors import KioskError
from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.session import KioskSession
from desktop.kiosk.sources import CameraRestartError, KioskSourceError, reads_stopped_by
from desktop.kiosk.writer import WAITS
from inference.face.eval_video import Image
from inference.face.live import LatestFrameMailbox
from sync.client.backoff import Backoff
from sync.errors import StoreFullError
from sync.store import AccessEvent

_log = logging.getLogger(__name__)
# How often the inference thread looks at the stop flag while no frame comes.
_POLL_S = 0.2

# A camera gone is opened again after 1, 2, 4 ... s, at most 30 s apart.
CAMERA_BACKOFF = Backoff(base_s=1.0, cap_s=30.0)
STORE_RETRY_S = 5.0

Frames = Iterator[tuple[float, Image]]
Events = tuple[AccessEvent, ...]
OpenSession = Callable[[], AbstractContextManager[KioskSession]]
Pause = Callable[[float], object]


@dataclass(frozen=True)
class Outage:
    """The camera or the store went away (or never came): why, and when it is tried again."""

    part: Literal["camera", "store"]
    reason: str
    retry_s: float
    events: tuple[AccessEvent, ...] = ()
    """The events of the tracks that were open when the camera went."""
    names: Mapping[str, str] = field(default_factory=dict)
    """The names of the people those events verified, as found when they were written."""
    problem: str | None = None
    """What the operator must still see meanwhile (:attr:`KioskSession.problem`): decisions
    waiting for the store, those in memory only that a kill would lose."""
    restart: bool = False
    """Only a restart of the kiosk (or a replug) brings the camera back: its reads (or opens)
    are stuck in the driver (:class:`~desktop.kiosk.sources.CameraRestartError`). It is
    still tried."""
    disk_full: bool = False
    """The store (or its journal) cannot be opened for lack of space on its disk: freeing
    some brings it back."""


class KioskListener(Protocol):
    def ready(self, session: KioskSession) -> None: ...

    def frame(self, image: Image, frame: KioskFrame) -> None: ...

    def finished(self, events: tuple[AccessEvent, ...]) -> None:
        """The stream ended (or was stopped): the open tracks' events."""
        ...

    def failed(self, error: BaseException) -> None: ...

    def unavailable(self, outage: Outage) -> None:
        """The kiosk cannot decide until the part comes back; the next frame says it did."""
        ...


@contextmanager
def _closed_after(frames: Frames) -> Iterator[Frames]:
    """``frames``, closed when left however it is left: a video stopped part-way lets go of its
    file now, not when the last reference to its generator goes (the controller keeps one)."""
    try:
        yield frames
    finally:
        close_frames(frames)


def close_frames(frames: Frames) -> None:
    """Let go of what ``frames`` holds open (a generator's file or camera; closing twice is
    harmless), whether or not a frame was read."""
    close = getattr(frames, "close", None)
    if close is not None:
        close()


class KioskRunner:
    """One camera's capture and inference threads. ``camera``: the source is a camera, to be
    opened again when it fails; ``pause`` waits between tries (a test's returns at once)."""

    def __init__(
        self,
        frames: Callable[[], Frames],
        open_session: OpenSession,
        listener: KioskListener,
        *,
        camera: bool = False,
        pause: Pause | None = None,
    ) -> None:
        self._frames = frames
        self._open_session = open_session
        self._listener = listener
        self._camera = camera
        self._pause = pause or self._wait_or_stop
        self._outages: LatestFrameMailbox[Outage] = LatestFrameMailbox()  # the camera's
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

    def _wait_or_stop(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _capture(self) -> None:
        try:
            failures = 0
            while not self._stopping.is_set():
                try:
                    with reads_stopped_by(self._stopping), _closed_after(self._frames()) as frames:
                        for item in frames:  # a stop ends a read waiting
                            if self._stopping.is_set():
                                return
                            failures = 0
                            self._mailbox.put(item)
                    return  # a video's end (a camera's never)
                except KioskError as error:
                    if self._stopping.is_set():
                        return  # a read given up on for the stop: no outage to say
                    if not self._camera or isinstance(error, KioskSourceError):
                        raise  # a video's failure, or a setting no retry mends
                    failures += 1
                    retry_s = CAMERA_BACKOFF.ceiling_s(failures)
                    _log.debug("camera gone (try %d): %s", failures, error)
                    restart = isinstance(error, CameraRestartError)
                    self._outages.put(Outage("camera", str(error), retry_s, restart=restart))
                    self._pause(retry_s)
        except Exception as error:  # a video that failed: said, and the kiosk ends
            self._stopping.set()  # the store is not tried again for a kiosk that stopped
            self._listener.failed(error)
        finally:
            self._mailbox.close()

    def _infer(self) -> None:
        try:
            with ExitStack() as stack:
                session = self._open(stack)
                if session is None:  # stopped while the store could not be opened
                    return
                if not self._stopping.is_set():  # not after a failure or a stop meanwhile
                    self._listener.ready(session)
                self._serve(session)
        except Exception as error:
            _log.debug("kiosk inference stopped", exc_info=error)
            self._listener.failed(error)
        finally:  # nobody takes frames any more: the camera stops too
            self._stopping.set()
            self._mailbox.close()

    def _open(self, stack: ExitStack) -> KioskSession | None:
        """The session, once the store opens; None if stopped before."""
        while not self._stopping.is_set():
            try:
                return stack.enter_context(self._open_session())
            except WAITS as error:  # a full disk, another process: they pass
                _log.debug("kiosk store not opened", exc_info=error)
                full = isinstance(error, StoreFullError)
                self._listener.unavailable(Outage("store", str(error), STORE_RETRY_S,
                                                  disk_full=full))  # fmt: skip
                self._pause(STORE_RETRY_S)
        return None

    def _serve(self, session: KioskSession) -> None:
        told: Outage | None = None  # the camera's, until a frame comes
        try:
            while not self._stopping.is_set():
                item = self._mailbox.take(_POLL_S)
                outage = self._outages.take(0)
                if outage is not None:  # told here, after the frames before it
                    told = self._tell(outage, session, session.interrupt())
                    continue  # a frame from before it went: it would say it is back
                if item is None:
                    if self._mailbox.closed:
                        break
                    if told is not None:  # no frame tries the store: this does
                        told = self._write_waiting(told, session)
                    continue
                told = None
                time_s, image = item
                badge = self._badges.take(0)
                if badge is not None:
                    session.present_badge(badge)
                self._listener.frame(image, session.process(image, time_s))
        finally:  # whoever stood there was decided; record them before the store closes
            self._listener.finished(session.finish())

    def _tell(self, outage: Outage, session: KioskSession, events: Events) -> Outage:
        """Tell the listener of the outage, with the events just written and what waits."""
        names = session.names_of(events)
        told = dataclasses.replace(outage, events=events, names=names, problem=session.problem)
        self._listener.unavailable(told)
        return told

    def _write_waiting(self, told: Outage, session: KioskSession) -> Outage:
        """The decisions that wait are tried while the camera is out (every ``RETRY_S``, as a
        frame tries them): a store free again takes them, and a kill then loses none. The
        listener hears of it when what waits changed."""
        events = session.write_waiting()
        if not events and session.problem == told.problem:
            return told
        return self._tell(told, session, events)
