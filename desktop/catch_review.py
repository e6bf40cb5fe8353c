"""The review list: the catches recorded on this device flagged for review, newest first
(the fish its officers saw), and a way to confirm one: name its species, or answer "Not a
fish" for a photo of a hand or the deck (no species; never used for training). Ticking "the
whole site's" lists the catches pulled from the hub (other boats') too, marked so.

A view only: it is told ``Flagged`` values and messages (on the GUI thread) and shows them;
``CatchReviewController`` connects its buttons and runs the store work on a worker.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.catch_store import Flagged
from desktop.catch_text import review_line
from desktop.labels import plain_label
from sync.protocol import NAME_MAX_LENGTH
from sync.store import FishObservation

PROBLEM_STYLE = "color: #b00020;"
_OBSERVATION = Qt.ItemDataRole.UserRole


class ReviewList(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Flagged for review on this device", parent)
        self.setObjectName("catchReview")
        self.items = QListWidget()
        self.items.setObjectName("reviewItems")
        self.items.setMinimumHeight(90)
        self.items.setWordWrap(True)
        self.species = QComboBox()
        self.species.setObjectName("reviewSpecies")
        self.species.setEditable(True)  # a species the pack does not know can be typed
        self.species.setMinimumContentsLength(24)
        line = self.species.lineEdit()
        if line is not None:
            line.setPlaceholderText("select a catch above")
            line.setMaxLength(NAME_MAX_LENGTH)  # what the hub takes (the store refuses more)
        self.confirm = QPushButton("Confirm species")
        self.confirm.setObjectName("reviewConfirm")
        self.not_a_fish = QPushButton("Not a fish")
        self.not_a_fish.setObjectName("reviewNotAFish")
        self.not_a_fish.setToolTip(
            "The photo shows no fish (a hand, the deck): it leaves the list with no species"
            " and is never used for training"
        )
        self.refresh = QPushButton("Refresh")
        self.refresh.setObjectName("reviewRefresh")
        self.site = QCheckBox("The whole site's (pulled from the hub too)")
        self.site.setObjectName("reviewSite")
        self.summary = plain_label("", "reviewSummary")  # how many wait
        # the last confirmation, or why the list cannot be shown
        self.message = plain_label("", "reviewMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.items.currentItemChanged.connect(self._selected)
        self.confirm.setEnabled(False)
        self.not_a_fish.setEnabled(False)
        self._lay_out()

    def show_flagged(self, flagged: Flagged) -> None:
        """Fill the list anew. A refresh comes unasked too (a sync pulled changes): the
        catch selected stays selected, with the species typed for it, while it is listed."""
        kept = self.selected()
        with QSignalBlocker(self.items):  # no selection change clears what was typed
            self.items.clear()
            for observation in flagged.observations:
                self.items.addItem(_item(observation))
            row = _row_of(self.items, kept.observation_uid) if kept is not None else None
            if row is not None:
                self.items.setCurrentRow(row)
        self._show_summary(flagged)
        if row is None:
            self._selected(self.items.currentItem())

    def _show_summary(self, flagged: Flagged) -> None:
        count, where = len(flagged.observations), " on this site" if flagged.site else ""
        if not count:
            self.summary.setText(f"none{where}: nothing waits for a review")
        else:
            more = f"more than {count}{where}: the newest {count} are shown"
            self.summary.setText(more if flagged.more else f"{count} waiting{where}, newest first")

    def selected(self) -> FishObservation | None:
        item = self.items.currentItem()
        observation = item.data(_OBSERVATION) if item is not None else None
        return observation if isinstance(observation, FishObservation) else None

    def chosen_species(self) -> str:
        return self.species.currentText().strip()

    def show_message(self, text: str, *, problem: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(PROBLEM_STYLE if problem else "")

    def _selected(self, item: QListWidgetItem | None) -> None:
        """Offer the selected observation's candidates, best first."""
        observation = self.selected() if item is not None else None
        self.species.clear()
        if observation is not None:
            self.species.addItems([score.species for score in observation.predictions])
        self.confirm.setEnabled(observation is not None)
        self.not_a_fish.setEnabled(observation is not None)

    def _lay_out(self) -> None:
        row = QHBoxLayout()
        row.addWidget(QLabel("Species"))
        row.addWidget(self.species, 1)
        row.addWidget(self.confirm)
        row.addWidget(self.not_a_fish)
        row.addWidget(self.refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.site)
        layout.addWidget(self.items, 1)
        layout.addLayout(row)
        layout.addWidget(self.message)


def _item(observation: FishObservation) -> QListWidgetItem:
    item = QListWidgetItem(review_line(observation))
    item.setToolTip(item.text())
    item.setData(_OBSERVATION, observation)
    return item


def _row_of(items: QListWidget, observation_uid: str) -> int | None:
    for row in range(items.count()):
        observation = items.item(row).data(_OBSERVATION)
        if (
            isinstance(observation, FishObservation)
            and observation.observation_uid == observation_uid
        ):
            return row
    return None
