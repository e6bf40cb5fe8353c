"""What became of the catches the Catch panel records: the base of ``CatchController``.

``_write`` gives each record to the worker (in order, one store connection each), and its
outcome comes back here, on the GUI thread: written (the photo on screen, if it was that
one, is done), refused, recorded before, or written already. A record starts at once, not
after the jobs already given to the worker (a box still being classified, a review), so that
it is on disk beside the store (``CatchStore.record`` keeps it there first, with the key
taken at the store's last open, before it opens the store) however long those jobs take,
without waiting for a key to be derived; its outcome still comes back in its
turn, and the jobs given after it (the review list read again) run once it ended.
``CatchRecords`` keeps each one's state and ``CatchPanel`` shows it.

A photo recorded before with one of the same fish (the same box, or the whole photo) is
not recorded again silently: Record says so, naming those records, and only a second
Record of the same fish records it again (``jaga catch --again``).

A Record the store refused is kept (``CatchRecords``) and shown, naming its photo, until the
officer retries it (the same classified catch, written on the worker like any record) or
dismisses it (asked first: ``catch_records.dismiss_question``); closing the window with one
asks the officer first (``may_close``), and one still kept when the panel stops anyway is
logged (``CatchController.stop``). Every catch is
kept on disk beside the store (``CatchSpool``) from its Record until the store has it, so
that an app killed or a power cut while it is written or refused loses none: the next start
offers it again for Retry or Dismiss (``_show_pending``).

Apart from the controller, which owns the photo on screen and the buttons, because all
this asks of the photo is whether it is the one just recorded and whether Record may be
pressed again. The controller sets what the class declares: the panel, the records, the
review list, the metrics, the photo and boxes on screen (``_classified``, ``_answers``,
``_fish_to_record``) and its worker (``_submit``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from desktop.catch import CaughtFish
from desktop.catch_errors import RecordedBeforeError
from desktop.catch_jobs import Classified
from desktop.catch_panel import CatchPanel
from desktop.catch_photo import PhotoFile
from desktop.catch_records import CatchRecord, CatchRecords
from desktop.catch_report import observed_text
from desktop.catch_review_controller import CatchReviewController
from desktop.catch_store import CatchStore, Written
from desktop.catch_text import recorded_catch_text
from desktop.metrics import CatchMetrics
from desktop.questions import CloseQuestion
from sync.errors import CatchRecordedError
from sync.store import Crop

# A Retry of a kept catch whose earlier try the store had committed before the app stopped.
RECORDED_ALREADY = "recorded already, before the app stopped; not recorded again"


class CatchRecording(QObject):
    """The outcomes of the catches written; ``CatchController`` sets what is declared here."""

    panel: CatchPanel
    records: CatchRecords
    review: CatchReviewController
    metrics: CatchMetrics | None
    _confirm_close: CloseQuestion
    _classified: Classified | None
    _answers: dict[Crop, CaughtFish]
    _warned: tuple[PhotoFile, tuple[Crop | None, ...]] | None
    _fish_to_record: Callable[[], list[CaughtFish] | None]
    _submit: Callable[[Callable[[], object], Callable[[object], None], Callable[[str], None]], None]
    _submit_ahead: Callable[
        [Callable[[], object], Callable[[object], None], Callable[[str], None]], None
    ]

    def may_close(self, parent: QWidget) -> bool:
        """Whether the window may close: with catches the store refused still waiting for
        Retry, or still being written (the store may yet refuse them, and a refusal after
        the window closed would lose them unseen), only if the officer says so."""
        refused, writing = self.records.refused, self.records.writing
        if not refused and not writing:
            return True
        parts = []
        if refused:
            names = ", ".join(record.label for record in refused)
            parts.append(
                f"{len(refused)} catch{'es' if len(refused) > 1 else ''} not recorded: {names}"
            )
        if writing:
            names = ", ".join(record.label for record in writing)
            parts.append(
                f"{len(writing)} still being written, which the store may yet refuse: {names}"
            )
        question = (
            "; ".join(parts) + ". Close anyway and lose what is not recorded?"
            " (No: keep the window open; Retry writes a refused catch. A catch kept on disk"
            " is offered again at the next start.)"
        )
        return self._confirm_close(parent, question)

    def _write(self, store: CatchStore, records: Sequence[CatchRecord]) -> None:
        """Each record started now, ahead of the worker's jobs (one after the other, one
        store connection each), its outcome kept by ``self.records`` in its turn."""
        if not records:
            return
        self.panel.record.setEnabled(False)  # one write per click, however impatient
        for record in records:  # ...and no box edited meanwhile turns it back on (busy)
            self.records.start(record)
            work = functools.partial(store.record, record)
            on_done = functools.partial(self._recorded, record)
            self._submit_ahead(work, on_done, functools.partial(self._record_failed, record))
        self._show_records()
        self.review.refresh()

    def _recorded(self, record: CatchRecord, observations: object) -> None:
        if isinstance(observations, RecordedBeforeError):
            self._recorded_before(record, observations)
            return
        if isinstance(observations, CatchRecordedError):  # a Retry of a write that committed
            self.records.recorded(record, RECORDED_ALREADY)
            self._show_records()
            self._allow_record()
            return
        if self._warned is not None and self._warned[0] is record.photo:
            self._warned = None  # recorded: another Record of it is warned again
        written = observations if isinstance(observations, Written) else None  # it always is
        recorded = list(written.observations) if written is not None else []
        self.records.recorded(record, _written_text(written) if written is not None else "recorded")
        self._show_records()
        shown = self._classified
        if shown is not None and shown.file is record.photo:
            self._classified, self._answers = None, {}
            self.panel.show_recorded()
        else:  # another photo was opened meanwhile: leave that one recordable
            self._allow_record()
        if self.metrics is not None:
            for observation in recorded:
                self.metrics.count_record(confirmed=observation.confirmed_species is not None)

    def _recorded_before(self, record: CatchRecord, warning: RecordedBeforeError) -> None:
        """Nothing was written: say so, and let a second Record of these fish record them."""
        self.records.recorded_before(
            record, f"not recorded: {warning}. Press Record again to record it again"
        )
        self._warned = (record.photo, tuple(one.crop for one in record.fish))
        self._show_records()
        self._allow_record()

    def _show_pending(self, kept: object) -> None:
        if isinstance(kept, list) and kept:
            self.records.kept([record for record in kept if isinstance(record, CatchRecord)])
            self._show_records()

    def _pending_failed(self, message: str) -> None:
        self.records.not_written("catches kept from before", message)
        self._show_records()

    def _record_failed(self, record: CatchRecord, message: str) -> None:
        self.records.failed(record, message)
        self._show_records()
        self._allow_record()

    def _allow_record(self) -> None:
        self.panel.record.setEnabled(self._fish_to_record() is not None and not self.records.busy)

    def _show_records(self) -> None:
        self.panel.show_records(self.records.outcome())


def _written_text(written: Written) -> str:
    """What Record wrote and, as ``jaga catch`` says it, when the catch was dated where that
    is not plain: the photo's own time not used, or this device's clock looking wrong."""
    said = recorded_catch_text(written.observations)
    if written.observed.note is None:
        return said
    return f"{said}; observed {observed_text(written.observed)}"
