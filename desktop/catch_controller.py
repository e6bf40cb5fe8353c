"""Runs the Catch panel: open a photo, classify it, record it. The review list at its foot
has its own controller (``CatchReviewController``), given this panel's worker.

A photo is first classified whole, as one fish. When the officer marks several fish (a box
dragged over each on the preview), "Classify boxes" classifies the boxes not yet answered
in one batch on the worker, and Record writes the photo once and one observation per box,
each with the species confirmed for it (``record_catches``, one transaction). Removing a box
leaves the others' answers as they are: nothing needs classifying again.

Nothing slow runs on the GUI thread: reading and classifying a photo (``catch_jobs``), and
every store action (each opens the store on the worker and closes it, ``CatchStore``), go to
one worker thread, in the order they were asked for (a Record is written before the review
list that follows it is read). A Record alone starts at once, ahead of them, so that the
catch is on disk before any job given before it ends (``CatchRecording._write``). The
classifier is the one ``SpeciesPacks`` holds (built and switched on its own worker); a
classification uses the pack in use when it starts.

Given the window's ``CatchMetrics``, each classification shown is counted with the time its
stages took on the worker (reading the photo, the classifier call), and each catch recorded.

Without a species pack, or without a store key, the panel says why and what to do instead
of failing. A refusal the officer can act on (a corrupt photo, a wrong key, a full disk) is
shown, not raised; anything else is a bug, shown and logged with its traceback. What became
of each Record, refused ones kept included, is shown by ``catch_recording.CatchRecording``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QObject, Slot

from desktop.catch import CatchDetails, CaughtFish, parse_length, parse_position
from desktop.catch_errors import CatchError
from desktop.catch_jobs import BoxesClassified, Classified, classify_boxes, classify_file
from desktop.catch_panel import NO_PACK, CatchPanel, DetailsText, FishRow
from desktop.catch_photo import PhotoFile
from desktop.catch_recording import RECORDED_ALREADY, CatchRecording
from desktop.catch_records import CatchRecord, CatchRecords, dismiss_question
from desktop.catch_review_controller import CatchReviewController
from desktop.catch_store import AtStart, CatchStore
from desktop.metrics import CatchMetrics, StageTimes
from desktop.questions import (
    CloseQuestion,
    PhotoChooser,
    Question,
    ask_for_photo,
    ask_to_close,
    ask_yes_no,
)
from desktop.settings import LOCKED_MESSAGE, AppSettings
from desktop.species import SpeciesPacks
from desktop.species_names import UnknownSpeciesError, new_species_question, species_name
from desktop.workers import BackgroundJobs, error_info
from inference.errors import InferenceError
from sync.errors import SyncError
from sync.store import Crop, StoreConfig
from sync.store.pending_catches import spool_exists
from sync.store.records import new_uid

_log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 30.0
_KNOWN = (CatchError, InferenceError, SyncError)  # the officer's to act on: shown, not raised
DISMISS_TITLE = "Dismiss catches not recorded"

# RECORDED_ALREADY moved to catch_recording with the code that shows it: importable here still.
__all__ = ["RECORDED_ALREADY", "STOP_TIMEOUT_S", "CatchController", "details_of"]


def details_of(text: DetailsText) -> CatchDetails:
    return CatchDetails(
        officer=text.officer, vessel=text.vessel, trip=text.trip, haul=text.haul,
        count=text.count, length_cm=parse_length(text.length_cm),
        position=parse_position(text.latitude, text.longitude), notes=text.notes,
    )  # fmt: skip


class CatchController(CatchRecording):
    def __init__(
        self,
        settings: AppSettings,
        panel: CatchPanel,
        species: SpeciesPacks,
        *,
        choose_photo: PhotoChooser = ask_for_photo,
        confirm_close: CloseQuestion = ask_to_close,
        ask: Question = ask_yes_no,
        metrics: CatchMetrics | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._confirm_close = confirm_close
        self._ask = ask
        self.panel = panel
        self.species = species
        self.metrics = metrics
        self.store = CatchStore.of(settings)  # None: no key was given
        self._config = settings.store_config or StoreConfig()
        self._choose = choose_photo
        self._jobs = BackgroundJobs(threads=1, parent=self)
        self._classified: Classified | None = None  # the photo Record would write
        self._answers: dict[Crop, CaughtFish] = {}  # the boxes of that photo classified so far
        # Each photo opened gets the next number; a classification that finishes after
        # another photo was opened belongs to no photo on screen and is dropped.
        self._opened = 0
        self.records = CatchRecords()  # while one is written, Record stays off
        # The photo and fish Record was warned about (recorded before): a second Record of
        # exactly those records them again.
        self._warned: tuple[PhotoFile, tuple[Crop | None, ...]] | None = None
        self._stopped = False
        panel.open_photo.clicked.connect(self.choose_photo)
        panel.photo.boxes_changed.connect(self._show_fish)
        panel.classify_boxes.clicked.connect(self.classify_boxes)
        panel.record.clicked.connect(self.record)
        panel.retry.clicked.connect(self.retry)
        panel.dismiss.clicked.connect(self.dismiss)
        self.review = CatchReviewController(
            panel.review, self.store, submit=self._submit, officer=self._officer,
            species_name=self._species_name, ask=ask, parent=self,
        )  # fmt: skip
        species.changed.connect(panel.show_pack)

    def start(self) -> None:
        """The catches kept from before the app last stopped, if any, and the review list,
        read in one job (``CatchStore.at_start``: one open of the store, one key derived)."""
        if self.store is None:
            self.review.refresh()  # it says how to unlock the store
            return
        work = functools.partial(self.store.at_start, site=self.panel.review.site.isChecked())
        self._submit(work, self._show_start, self._start_failed)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Wait for the jobs given (a record in flight commits or rolls back whole)."""
        self._stopped = True
        self._jobs.wait(timeout_s)
        if self.store is not None:
            self.store.close()  # its spool key overwritten (a job still running opens the store)
        if refused := self.records.refused:
            names = ", ".join(record.name for record in refused)
            _log.warning("catch: stopped with %d catches not recorded: %s", len(refused), names)

    @Slot()
    def choose_photo(self) -> None:
        path = self._choose(self.panel)
        if path is not None:
            self.open_photo(path)

    def open_photo(self, path: Path) -> None:
        self._classified, self._answers = None, {}
        self._opened += 1
        self.panel.show_classifying(path)
        classifier = self.species.classifier
        if classifier is None:
            self.panel.show_problem(NO_PACK)
            return
        work = functools.partial(classify_file, classifier, path, self._config)
        opened = self._opened
        self._submit(
            work,
            lambda result: self._show_classified(result) if opened == self._opened else None,
            lambda message: self.panel.show_problem(message) if opened == self._opened else None,
        )

    def add_box(self, crop: Crop) -> None:
        """Mark a fish, as a drag on the preview does (``Preview.crop_between`` maps one)."""
        self.panel.photo.add_box(crop)

    @Slot()
    def classify_boxes(self) -> None:
        """The boxes not answered yet, in one batch on the worker."""
        classified = self._classified
        waiting = [box for box in self.panel.photo.boxes if box not in self._answers]
        if classified is None or not waiting:
            return
        classifier = self.species.classifier
        if classifier is None:
            self.panel.show_boxes_message(NO_PACK, problem=True)
            return
        self.panel.classify_boxes.setEnabled(False)
        self.panel.record.setEnabled(False)
        self.panel.show_boxes_message("classifying the boxes…")
        work = functools.partial(classify_boxes, classifier, classified.photo, waiting)
        self._submit(work, self._show_boxes, self._boxes_failed)

    @Slot()
    def record(self) -> None:
        classified = self._classified
        fish = self._fish_to_record()
        if classified is None or fish is None:
            return
        name = classified.photo.path.name
        if self.store is None:
            self.records.not_written(name, LOCKED_MESSAGE)
            self._show_records()
            return
        try:
            details = details_of(self.panel.details_text())
            confirmed = [self._species_name(typed) for typed in self.panel.confirmed_of_each()]
        except CatchError as error:  # checked here, before anything is written
            self.records.not_written(name, str(error))
            self._show_records()
            return
        crops = tuple(one.crop for one in fish)
        again = self._warned == (classified.file, crops)  # the second Record of those fish
        # Recorded as of now, when Record is pressed: a Retry hours later (even after the
        # clock was corrected back) records the same catch, dated as it would have been.
        pressed_at = datetime.now(UTC)
        # Recorded again while refused: the new record takes the refused one's place on disk.
        uid = next((r.uid for r in self.records.refused if r.photo is classified.file), None)
        record = CatchRecord(
            classified.file, tuple(fish), details, tuple(confirmed), again, pressed_at,
            uid or new_uid(),
        )  # fmt: skip
        self._write(self.store, [record])

    @Slot()
    def retry(self) -> None:
        """Write the refused catches again, as they were classified and detailed."""
        if self.store is not None:
            self._write(self.store, self.records.refused)

    @Slot()
    def dismiss(self) -> None:
        """Delete the refused catches for good, once the officer said Yes (No: the default)."""
        asked = self.records.refused
        if not asked or not self._ask(self.panel, DISMISS_TITLE, dismiss_question(asked)):
            return  # kept: listed, and in the spool, for Retry
        dropped = self.records.dismiss(asked)  # the question named them: not one since
        if dropped:
            _log.warning("catch: dismissed, not recorded: %s", ", ".join(r.name for r in dropped))
            if self.store is not None:  # nor offered again at the next start
                work = functools.partial(self.store.forget, dropped)
                not_forgotten = functools.partial(self._not_forgotten, dropped)
                self._submit(work, lambda _: None, not_forgotten)
        self._show_records()

    # --- results, on the GUI thread -----------------------------------------------------

    def _show_start(self, read: object) -> None:
        if not isinstance(read, AtStart):
            return
        if isinstance(read.kept, tuple):
            self._show_pending(list(read.kept))
        else:  # the spool did not open: the review list came all the same
            self._pending_failed(_explain(read.kept))
        self.review.show_flagged(read.flagged)

    def _start_failed(self, message: str) -> None:
        """The store did not open (a wrong key, a full disk): both say so, the kept catches
        only where a spool holds some, as a read of the spool alone did."""
        self.review.show_problem(message)
        if self.store is not None and spool_exists(self.store.path):
            self._pending_failed(message)

    def _not_forgotten(self, dropped: list[CatchRecord], message: str) -> None:
        """Dismissed, but the spool could not delete them (a full disk, held by another
        process): they are offered again at the next start, and the officer is told so."""
        self.records.not_forgotten(dropped, message)
        self._show_records()

    def _show_classified(self, result: object) -> None:
        if not isinstance(result, Classified):
            return
        self._classified, self._answers = result, {}
        self.panel.show_result(result.preview, result.photo.size, result.prediction, result.species)
        self.panel.record.setEnabled(not self.records.busy)
        if self.metrics is not None:
            self.metrics.observe_classification([result.prediction], result.times)

    def _show_boxes(self, result: object) -> None:
        if not isinstance(result, BoxesClassified):
            return
        if self.metrics is not None:  # counted even if the photo changed meanwhile: it ran
            predictions = [fish.prediction for fish in result.fish]
            self.metrics.observe_classification(predictions, StageTimes(None, result.classify_s))
        if self._classified is None:
            return  # recorded, or another photo opened, while the boxes were classified
        self._answers.update({f.crop: f for f in result.fish if f.crop})
        self._show_fish()

    def _boxes_failed(self, message: str) -> None:
        self._show_fish()
        self.panel.show_boxes_message(f"the boxes were not classified: {message}", problem=True)

    @Slot()
    def _show_fish(self) -> None:
        """The fish list after a photo, a box or an answer came or went."""
        classified = self._classified
        if classified is None:
            return
        rows = self._rows(classified)
        self.panel.show_fish(rows, classified.species)
        waiting = any(prediction is None for _, prediction in rows)
        self.panel.classify_boxes.setEnabled(waiting)
        self.panel.record.setEnabled(not waiting and not self.records.busy)

    def _rows(self, classified: Classified) -> list[FishRow]:
        boxes = self.panel.photo.boxes
        if not boxes:  # the whole photo is the one fish
            return [(None, classified.prediction)]
        return [(box, self._answers[box].prediction if box in self._answers else None)
                for box in boxes]  # fmt: skip

    def _fish_to_record(self) -> list[CaughtFish] | None:
        """The fish Record writes, or None while there is none or a box waits for its answer."""
        classified = self._classified
        if classified is None:
            return None
        boxes = self.panel.photo.boxes
        if not boxes:
            return [CaughtFish(None, classified.prediction)]
        if any(box not in self._answers for box in boxes):
            return None
        return [self._answers[box] for box in boxes]

    # --- plumbing -------------------------------------------------------------------------

    def _officer(self) -> str:
        return self.panel.details_text().officer.strip()

    def _species_name(self, typed: str | None) -> str | None:
        """The pack's display name for a typed species (as ``jaga catch --confirm`` does);
        one the pack does not list is kept as typed only if the officer says it is a new
        species, else refused (``UnknownSpeciesError``), as the hub's admin refuses it."""
        classifier = self.species.classifier
        if not typed or classifier is None:
            return typed or None
        known = classifier.pack.species
        try:
            return species_name(typed, known)
        except UnknownSpeciesError as refused:
            if not self._ask(self.panel, "New species", new_species_question(refused)):
                raise
        return species_name(typed, known, new_species=True)

    def _submit(
        self,
        work: Callable[[], object],
        on_done: Callable[[object], None],
        on_failed: Callable[[str], None],
        *,
        ahead: bool = False,
    ) -> None:
        def done(result: object) -> None:
            if not self._stopped:
                on_done(result)

        def failed(error: object) -> None:
            if not self._stopped:
                on_failed(_explain(error))

        (self._jobs.submit_ahead if ahead else self._jobs.submit)(work, done, failed)

    def _submit_ahead(
        self,
        work: Callable[[], object],
        on_done: Callable[[object], None],
        on_failed: Callable[[str], None],
    ) -> None:
        """As ``_submit``, but started at once (``BackgroundJobs.submit_ahead``)."""
        self._submit(work, on_done, on_failed, ahead=True)


def _explain(error: object) -> str:
    """A refusal's own message; for a bug, its type too, and its traceback in the log."""
    if isinstance(error, _KNOWN):
        _log.warning("catch: %s", error)
        return str(error)
    _log.error("the catch panel's job failed", exc_info=error_info(error))
    return f"{type(error).__name__}: {error}"
