"""Ctrl-C that a library swallowed, remembered so that the install still stops.

torch's ONNX exporter runs a version converter that falls back on any error, and the
``KeyboardInterrupt`` a Ctrl-C raises inside it is caught with the rest: the conversion
then finishes as if nothing happened (seen in a fresh CI environment, every time). While an
install runs, a SIGINT handler records the signal before raising, and the installer asks
``check()`` before it moves a built file into place.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class Interrupts:
    """Use as a context manager around work that must stop on Ctrl-C."""

    def __init__(self) -> None:
        self.seen = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():  # signals: main thread only
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if a Ctrl-C came, even one a library swallowed."""
        if self.seen:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.seen = True
        raise KeyboardInterrupt
