"""Runs the review list (``ReviewList``) at the Catch panel's foot: reads the catches flagged
for review, and stores the officer's answer to the one selected, a species confirmed or
"Not a fish" (as ``jaga store confirm`` does; asked first), then reads the list again.

Its store work goes to the Catch panel's one worker (``CatchController`` hands over its
``submit``), so a list asked for after a Record is read after that catch is written, and
nothing arrives once the panel stopped. A refresh comes unasked too: when a sync pulled
changes (a hub reviewer may have confirmed a catch).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from PySide6.QtCore import QObject, Slot

from desktop.catch_errors import CatchError
from desktop.catch_review import ReviewList
from desktop.catch_store import CatchStore, Flagged, Reviewed
from desktop.catch_text import confirmed_text, not_a_fish_question, not_a_fish_text
from desktop.questions import Question, ask_yes_no
from desktop.settings import LOCKED_MESSAGE

# (work, on_done(result), on_failed(message)): ``work`` on the worker, answers on the GUI thread
SubmitJob = Callable[[Callable[[], object], Callable[[object], None], Callable[[str], None]], None]
OfficerName = Callable[[], str]  # the officer typed in the panel's details, stripped
# A typed species as the pack in use names it; ``CatchError`` for one it refuses.
SpeciesName = Callable[[str | None], str | None]


class CatchReviewController(QObject):
    def __init__(
        self,
        review: ReviewList,
        store: CatchStore | None,  # None: no key was given
        *,
        submit: SubmitJob,
        officer: OfficerName,
        species_name: SpeciesName,
        ask: Question = ask_yes_no,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.review = review
        self.store = store
        self._submit = submit
        self._officer = officer
        self._species_name = species_name
        self._ask = ask
        review.refresh.clicked.connect(self.refresh)
        review.site.toggled.connect(self.refresh)
        review.confirm.clicked.connect(self.confirm_selected)
        review.not_a_fish.clicked.connect(self.answer_not_a_fish)

    @Slot()
    def refresh(self) -> None:
        if self.store is None:
            self.review.show_message(LOCKED_MESSAGE, problem=True)
            return
        work = functools.partial(self.store.flagged, site=self.review.site.isChecked())
        self._submit(work, self.show_flagged, self.show_problem)

    @Slot()
    def confirm_selected(self) -> None:
        review = self.review
        observation, typed, officer = review.selected(), review.chosen_species(), self._officer()
        if observation is None or self.store is None:
            return
        if not typed or not officer:
            review.show_message("enter the officer above and choose a species", problem=True)
            return
        try:
            species = self._species_name(typed)
        except CatchError as refused:  # one the pack does not list, not said to be new
            review.show_message(str(refused), problem=True)
            return
        if species is None:
            return
        uid = observation.observation_uid
        work = functools.partial(self.store.confirm, uid, species, officer)
        self._submit(work, self._show_answer, self.show_problem)
        self.refresh()

    @Slot()
    def answer_not_a_fish(self) -> None:
        """The selected catch's photo shows no fish (a hand, the deck): no species. Asked
        first: a misclick would take the catch out of the review list and out of training."""
        review = self.review
        observation, officer = review.selected(), self._officer()
        if observation is None or self.store is None:
            return
        if not officer:
            review.show_message("enter the officer above to answer not a fish", problem=True)
            return
        if not self._ask(review, "Not a fish", not_a_fish_question(observation)):
            review.show_message(f"{observation.observation_uid}: not answered not a fish")
            return
        work = functools.partial(self.store.answer_not_a_fish, observation.observation_uid, officer)
        self._submit(work, self._show_answer, self.show_problem)
        self.refresh()

    # --- results, on the GUI thread -----------------------------------------------------

    def show_flagged(self, flagged: object) -> None:
        # A list asked for before the box was ticked (or unticked) is not the one wanted.
        if isinstance(flagged, Flagged) and flagged.site == self.review.site.isChecked():
            self.review.show_flagged(flagged)

    def _show_answer(self, answer: object) -> None:
        if isinstance(answer, Reviewed):
            said = not_a_fish_text if answer.observation.not_a_fish else confirmed_text
            words = said(answer.observation, answer.held_for, answer.quarantined)
            self.review.show_message(words, problem=answer.quarantined is not None)

    def show_problem(self, message: str) -> None:
        self.review.show_message(message, problem=True)
