"""The app's fish classifier, and switching it to the species packs that sync installs.

The classifier is built lazily, from the first pack there is: no ONNX session exists while
there is no pack. Loading a pack opens an ONNX session (on a GPU it may build a TensorRT
engine first), so every load runs on a worker thread of its own, one at a time and in order.
``SpeciesClassifier.switch_pack`` verifies the new pack and keeps the current one on any
error; the refusal is shown, never raised into the window. At start-up the packs a sync
installed are tried newest first, then the one the app ships with, so a pack that fails
verification never leaves the officer without a classifier while another works. Closing
the window waits for no load (it writes nothing); what one ends with after is dropped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.workers import BackgroundJobs, Callback, error_info
from inference.errors import InferenceError

if TYPE_CHECKING:  # ONNX Runtime, OpenCV and onnx load on the worker, with the first pack
    from inference.fish.classify import SpeciesClassifier

_log = logging.getLogger(__name__)
ClassifierBuilder = Callable[[Path], "SpeciesClassifier"]
PackFinder = Callable[[], Path | None]
PackCandidates = Callable[[], Iterable[Path]]


@dataclass(frozen=True)
class PackState:
    active: str | None = None  # the version of the pack in use; None before the first
    refused: str | None = None  # why the last pack offered was refused, if it was
    root: Path | None = None  # the folder of the pack in use


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
        self._stopped = False

    @property
    def classifier(self) -> SpeciesClassifier | None:
        return self._classifier

    @property
    def state(self) -> PackState:
        return self._state

    @property
    def loading(self) -> bool:
        """Whether a load given has not been answered yet."""
        return self._jobs.pending > 0

    def load(self, root: Path) -> None:
        """Use the pack at ``root`` once it is verified and loaded (on a worker thread)."""
        self._submit(
            functools.partial(self._switch, root),
            functools.partial(self._switched, root),
            functools.partial(self._refused, root),
        )

    def load_first(self, candidates: PackCandidates) -> None:
        """Use the first of ``candidates`` (listed on the worker, best first) that verifies
        and loads. Those refused before it are logged and shown beside the pack in use: a
        refused pack must not leave the officer without a classifier while an older one
        works."""

        def first_that_loads() -> PackState:
            refusals: list[str] = []
            for root in candidates():
                if self._stopped:  # the window closed: start no other load
                    break
                try:
                    return PackState(self._switch(root), "; ".join(refusals) or None, root)
                except Exception as error:  # a failing SD card's OSError too: try the next
                    refusals.append(_refusal(root, error))
            return replace(self._in_use(), refused="; ".join(refusals) or None)

        refused = functools.partial(self._refused, None)
        self._submit(first_that_loads, self._publish_state, refused)

    def wait(self, timeout_s: float) -> bool:
        return self._jobs.wait(timeout_s)

    def stop(self) -> None:
        """Start no load and drop the outcome of those still running (the window closed).
        Nothing waits for them: a load writes nothing, and building a TensorRT engine for
        a pack can take minutes on a Jetson."""
        self._stopped = True

    def _submit(self, work: Callable[[], object], on_done: Callback, on_failed: Callback) -> None:
        def unless_stopped(callback: Callback) -> Callback:
            return lambda outcome: None if self._stopped else callback(outcome)

        if not self._stopped:
            self._jobs.submit(work, unless_stopped(on_done), unless_stopped(on_failed))

    def _switch(self, root: Path) -> str:
        """Runs on the worker; returns the version now in use."""
        if self._classifier is None:
            self._classifier = self._build(root)
            return self._classifier.pack.version
        return self._classifier.switch_pack(root).version

    def _in_use(self) -> PackState:
        """Runs on the worker: the pack in use, kept when every pack offered is refused."""
        if self._classifier is None:
            return PackState()
        return PackState(self._classifier.pack.version, root=self._classifier.pack.root)

    def _switched(self, root: Path, version: object) -> None:
        self._publish(PackState(str(version), None, root))

    def _refused(self, root: Path | None, error: object) -> None:
        self._publish(replace(self._state, refused=_refusal(root, error)))

    def _publish_state(self, state: object) -> None:
        if isinstance(state, PackState):
            self._publish(state)

    def _publish(self, state: PackState) -> None:
        self._state = state
        self.changed.emit(state)


def _refusal(root: Path | None, error: object) -> str:
    """Why ``root`` was not loaded, logged. A bad pack's error names the pack and what is
    wrong; anything else (an unreadable file, a bug) keeps its type and traceback."""
    if isinstance(error, InferenceError):
        _log.warning("species pack %s refused: %s", root, error)
        return str(error)
    _log.error("loading species pack %s failed", root, exc_info=error_info(error))
    return f"{type(error).__name__}: {error}"
