"""The review list: observations on this device flagged for review, and a way to confirm one.

A view only: it is told ``Flagged`` values and messages (on the GUI thread) and shows them;
``CatchController`` connects its buttons and runs the store work on a worker.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
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
        self.refresh = QPushButton("Refresh")
        self.refresh.setObjectName("reviewRefresh")
        self.summary = QLabel("")  # how many wait
        self.summary.setObjectName("reviewSummary")
        self.message = QLabel("")  # the last confirmation, or why the list cannot be shown
        self.message.setObjectName("reviewMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.items.currentItemChanged.connect(self._selected)
        self.confirm.setEnabled(False)
        self._lay_out()

    def show_flagged(self, flagged: Flagged) -> None:
        self.items.clear()
        for observation in flagged.observations:
            item = QListWidgetItem(review_line(observation))
            item.setToolTip(item.text())
            item.setData(_OBSERVATION, observation)
            self.items.addItem(item)
        count = len(flagged.observations)
        if not count:
            self.summary.setText("none: nothing waits for a review")
        else:
            more = f"more than {count}: the oldest {count} are shown" if flagged.more else ""
            self.summary.setText(more or f"{count} waiting, oldest first")
        self._selected(self.items.currentItem())

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

    def _lay_out(self) -> None:
        row = QHBoxLayout()
        row.addWidget(QLabel("Species"))
        row.addWidget(self.species, 1)
        row.addWidget(self.confirm)
        row.addWidget(self.refresh)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.items, 1)
        layout.addLayout(row)
        layout.addWidget(self.message)
