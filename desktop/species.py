"""The app's fish classifier, and switching it to the species packs that sync installs.

The classifier is built lazily, from the first pack there is: no ONNX session exists while
there is no pack. Loading a pack opens an ONNX session (on a GPU it may build a TensorRT
engine first), so every load runs on a worker thread of its own, one at a time and in order.
``SpeciesClassifier.switch_pack`` verifies the new pack and keeps the current one on any
error; the refusal is shown, never raised into the window.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.workers import BackgroundJobs, error_info
from inference.errors import InferenceError

if TYPE_CHECKING:  # ONNX Runtime, OpenCV and onnx load on the worker, with the first pack
    from inference.fish.classify import SpeciesClassifier

_log = logging.getLogger(__name__)
ClassifierBuilder = Callable[[Path], "SpeciesClassifier"]
PackFinder = Callable[[], Path | None]


@dataclass(frozen=True)
class PackState:
    active: str | None = None  # the version of the pack in use; None before the first
    refused: str | None = None  # why the last pack offered was refused, if it was


def startup_species_pack() -> Path | None:
    """The default pack, where ``jaga fish build-pack`` installed it (None if it did not)."""
    from inference.fish.installed import installed_default_pack

    try:
        return installed_default_pack()
    except InferenceError:
        return None


def build_classifier(root: Path) -> SpeciesClassifier:
    from inference.fish.classify import SpeciesClassifier

    return SpeciesClassifier.from_path(root)


class SpeciesPacks(QObject):
    changed = Signal(object)  # PackState, on the GUI thread

    def __init__(
        self, build: ClassifierBuilder = build_classifier, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._build = build
        self._jobs = BackgroundJobs(threads=1, parent=self)
        # Written by the jobs only, which run one at a time; the GUI thread only reads it.
        self._classifier: SpeciesClassifier | None = None
        self._state = PackState()

    @property
    def classifier(self) -> SpeciesClassifier | None:
        return self._classifier

    @property
    def state(self) -> PackState:
        return self._state

    def load(self, root: Path) -> None:
        """Use the pack at ``root`` once it is verified and loaded (on a worker thread)."""
        self._jobs.submit(
            functools.partial(self._switch, root),
            self._switched,
            functools.partial(self._refused, root),
        )

    def load_found(self, find: PackFinder) -> None:
        """Look for a pack on the worker thread (it may read files), and load it if found."""

        def find_and_switch() -> str | None:
            root = find()
            return None if root is None else self._switch(root)

        self._jobs.submit(find_and_switch, self._switched, functools.partial(self._refused, None))

    def wait(self, timeout_s: float) -> bool:
        return self._jobs.wait(timeout_s)

    def _switch(self, root: Path) -> str:
        """Runs on the worker; returns the version now in use."""
        if self._classifier is None:
            self._classifier = self._build(root)
            return self._classifier.pack.version
        return self._classifier.switch_pack(root).version

    def _switched(self, version: object) -> None:
        if version is not None:  # None: no pack was found at start-up
            self._publish(PackState(str(version), None))

    def _refused(self, root: Path | None, error: object) -> None:
        if isinstance(error, InferenceError):  # its message names the pack and what is wrong
            _log.warning("species pack %s refused: %s", root, error)
            reason = str(error)
        else:  # not a bad pack but a bug: keep its traceback
            _log.error("loading species pack %s failed", root, exc_info=error_info(error))
            reason = f"{type(error).__name__}: {error}"
        self._publish(PackState(self._state.active, reason))

    def _publish(self, state: PackState) -> None:
        self._state = state
        self.changed.emit(state)
