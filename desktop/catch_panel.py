"""The Catch panel: the officer's details, a photo, the species the pack sees, Record.

A view only: it shows what it is told (``PackState``, a classified photo, the fish in it, a
recorded catch, a problem), always on the GUI thread, and reads its fields into text;
``CatchController`` connects its buttons and does the work on a worker thread. The review
list (``ReviewList``) sits at its foot.

One photo may hold several fish: the officer drags a box over each on the preview
(``BoxCanvas``), and the fish list shows one row per box with its answer once classified
(the whole photo is the one row when there is no box). The result form and the "Confirm
species" box are about the fish selected in that list, so each fish is confirmed on its own.

Under Record, one line per catch says what became of it, naming its photo: being written,
recorded, or NOT RECORDED with why, in red, with Retry and Dismiss beside it (Dismiss asks first:
``CatchController.dismiss``). A new photo does not clear it: a refused catch stays listed
until the officer retries or dismisses it, and a recorded one until the next Record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop import catch_text
from desktop.catch_canvas import THUMBNAIL_SIDE, BoxCanvas, thumbnail
from desktop.catch_records import Outcome
from desktop.catch_review import PROBLEM_STYLE, ReviewList
from desktop.labels import plain_label
from desktop.species import PackState
from inference.fish.images import UInt8Image
from inference.fish.types import FishPrediction
from sync.store import Crop

NO_PACK = (
    "no species pack loaded yet; if this stays, run `jaga models install` (it builds the "
    "default pack) or sync with a hub that publishes one"
)
_FLAG_STYLE = "color: #8a5300; font-weight: bold;"
_REFUSED_STYLE = " font-weight: bold;"  # a catch not recorded: not to be read past
_NONE = "-"
UNCLASSIFIED = "not classified yet: press Classify boxes"
FishRow = tuple[Crop | None, FishPrediction | None]  # a fish's box and its answer, if any


@dataclass(frozen=True)
class DetailsText:
    """The detail fields as typed (``CatchController`` turns them into ``CatchDetails``)."""

    officer: str
    vessel: str
    trip: str
    haul: str
    count: int
    length_cm: str
    latitude: str
    longitude: str
    notes: str


def _line(name: str, placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    return edit


def _value(name: str, text: str = _NONE) -> QLabel:
    label = plain_label(text, name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _placeholder(combo: QComboBox, text: str) -> None:
    line = combo.lineEdit()  # an editable combo shows its line edit's placeholder
    if line is not None:
        line.setPlaceholderText(text)


class CatchPanel(QGroupBox):
    _rows: list[FishRow]  # the fish listed, in order
    _species: tuple[str, ...]  # the pack's names, offered for confirming
    _confirmed: dict[Crop | None, str]  # typed per fish, kept while it is listed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Catch", parent)
        self.setObjectName("catchPanel")
        self._make_details()
        self.open_photo = QPushButton("Open photo…")
        self.open_photo.setObjectName("catchOpenPhoto")
        self.photo_name = _value("catchPhotoName", "no photo yet")
        self.photo = BoxCanvas(THUMBNAIL_SIDE)
        self.photo.setObjectName("catchPhoto")
        self._make_fish_list()
        self._make_result()
        self.confirmed = QComboBox()
        self.confirmed.setObjectName("catchConfirmed")
        self.confirmed.setEditable(True)  # a species the pack does not know can be typed
        self.confirmed.setMinimumContentsLength(24)
        _placeholder(self.confirmed, "optional: the species you see")
        self.confirmed.setToolTip(
            "Confirming the species of the selected fish on the spot clears its review flag"
        )
        self.confirmed.currentTextChanged.connect(self._keep_confirmed)
        self.record = QPushButton("Record")
        self.record.setObjectName("catchRecord")
        self.record.setEnabled(False)
        self.record_message = _value("catchRecordMessage", "")
        self.retry = QPushButton("Retry")
        self.retry.setObjectName("catchRetry")
        self.retry.setToolTip("Record the catches not recorded again, as they were classified")
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.setObjectName("catchDismiss")
        self.dismiss.setToolTip(
            "Give up on the catches not recorded: asks first, then deletes them for good"
        )
        self.show_records(Outcome("", problem=False, refused=False))
        self.review = ReviewList()
        self._lay_out()

    # --- what the controller reads ----------------------------------------------------

    def details_text(self) -> DetailsText:
        return DetailsText(
            self.officer.text(), self.vessel.text(), self.trip.text(), self.haul.text(),
            self.count.value(), self.length_cm.text(), self.latitude.text(),
            self.longitude.text(), self.notes.text(),
        )  # fmt: skip

    def confirmed_species(self) -> str | None:
        """The species the officer confirms on the spot for the selected fish, or None."""
        return self.confirmed.currentText().strip() or None

    def confirmed_of_each(self) -> list[str | None]:
        """The species confirmed for each fish of the list, in its order (None: not)."""
        return [self._confirmed.get(crop, "").strip() or None for crop, _ in self._rows]

    # --- what the controller shows ------------------------------------------------------

    def show_pack(self, state: PackState) -> None:
        text = state.active or NO_PACK
        if state.refused:
            text += f"\nrefused: {state.refused}"
        self.pack.setText(text)
        self.pack.setStyleSheet(PROBLEM_STYLE if state.refused else "")

    def show_classifying(self, path: Path) -> None:
        self.photo_name.setText(str(path))
        self.photo.clear_photo()
        self._clear_result("classifying…")
        self.record.setEnabled(False)

    def show_result(
        self,
        preview: UInt8Image,
        photo_size: tuple[int, int],
        prediction: FishPrediction,
        species: Sequence[str],
    ) -> None:
        """The pack's answer for the whole photo (a new photo: no box yet), beside its
        ``preview`` (the photo scaled down, no larger than the thumbnail); ``species`` are
        the pack's names, offered for confirming."""
        self.photo.show_photo(thumbnail(preview), photo_size)  # says boxes_changed
        self.show_fish([(None, prediction)], species)

    def show_fish(self, rows: Sequence[FishRow], species: Sequence[str]) -> None:
        """One row per fish (its box, its answer or None when not classified yet); what was
        confirmed for a fish still listed is kept."""
        self._rows, self._species = list(rows), tuple(species)
        with QSignalBlocker(self.fish):
            self.fish.clear()
            for n, (crop, prediction) in enumerate(rows, start=1):
                line = catch_text.fish_line(n, crop, prediction)
                self.fish.addItem(line)
                self.fish.item(n - 1).setToolTip(line)
        self.remove_box.setEnabled(any(crop is not None for crop, _ in rows))
        self.fish.setCurrentRow(0)
        self._show_selected(0)
        self.show_boxes_message("")

    def show_problem(self, message: str) -> None:
        """A photo that could not be classified: why, and no result to record."""
        self._clear_result("-")
        self.status.setText(message)
        self.status.setStyleSheet(PROBLEM_STYLE)
        self.record.setEnabled(False)

    def show_boxes_message(self, text: str, *, problem: bool = False) -> None:
        """About the boxes of the photo shown: being classified, or why they could not be
        (the photo's own answer stays listed)."""
        self.boxes_message.setText(text)
        self.boxes_message.setStyleSheet(PROBLEM_STYLE if problem else "")
        self.boxes_message.setVisible(bool(text))  # no blank gap above Record

    def show_recorded(self) -> None:
        """The photo shown is recorded."""
        self.record.setEnabled(False)  # one record per photo: open the next one
        self.classify_boxes.setEnabled(False)

    def show_records(self, outcome: Outcome) -> None:
        """What became of each catch recorded; Retry and Dismiss while some were refused."""
        self.record_message.setText(outcome.text)
        style = PROBLEM_STYLE + _REFUSED_STYLE if outcome.refused else PROBLEM_STYLE
        self.record_message.setStyleSheet(style if outcome.problem else "")
        for button in (self.retry, self.dismiss):
            button.setVisible(outcome.refused)

    # --- building -----------------------------------------------------------------------

    def _make_details(self) -> None:
        self.officer = _line("catchOfficer", "required")
        self.vessel = _line("catchVessel")
        self.trip = _line("catchTrip")
        self.haul = _line("catchHaul")
        self.count = QSpinBox()
        self.count.setObjectName("catchCount")
        self.count.setRange(1, 1_000_000)  # the hub's limit
        self.length_cm = _line("catchLength", "cm")
        self.latitude = _line("catchLatitude", "decimal degrees")
        self.longitude = _line("catchLongitude", "decimal degrees")
        self.notes = _line("catchNotes")

    def _make_fish_list(self) -> None:
        self.fish = QListWidget()
        self.fish.setObjectName("catchFish")
        self.fish.setMaximumHeight(96)
        # A line names the box, the species and the review state: wrapped, not cut off at the
        # panel's edge (a handheld has no pointer to hover for a tooltip).
        self.fish.setWordWrap(True)
        self.fish.currentRowChanged.connect(self._show_selected)
        self.classify_boxes = QPushButton("Classify boxes")
        self.classify_boxes.setObjectName("catchClassifyBoxes")
        self.classify_boxes.setEnabled(False)
        self.classify_boxes.setToolTip("Classify each box on its own (drag over each fish)")
        self.remove_box = QPushButton("Remove box")
        self.remove_box.setObjectName("catchRemoveBox")
        self.remove_box.setEnabled(False)
        self.remove_box.clicked.connect(lambda: self.photo.remove_box(self.fish.currentRow()))
        self.fish_hint = plain_label(
            "Fish in this photo (several? drag a box over each on the photo, then Classify"
            " boxes; select one to see and confirm its species):"
        )
        self.fish_hint.setWordWrap(True)
        self.fish_hint.setObjectName("catchFishHint")
        self.boxes_message = _value("catchBoxesMessage", "")
        self.boxes_message.setVisible(False)
        self._rows = []
        self._species = ()
        self._confirmed = {}

    def _show_selected(self, row: int) -> None:
        """The selected fish's answer in the result form, and its species to confirm."""
        prediction = self._rows[row][1] if 0 <= row < len(self._rows) else None
        if prediction is None:
            self._show_answer(None)
            return
        self._show_answer(prediction)
        crop = self._rows[row][0]
        candidates = [score.species.name for score in prediction.top_k]
        with QSignalBlocker(self.confirmed):
            self.confirmed.clear()
            self.confirmed.addItems([*candidates, *sorted(set(self._species) - set(candidates))])
            self.confirmed.setCurrentIndex(-1)  # nothing confirmed until the officer says so
            self.confirmed.setEditText(self._confirmed.get(crop, ""))

    def _keep_confirmed(self, text: str) -> None:
        row = self.fish.currentRow()
        if 0 <= row < len(self._rows):
            self._confirmed[self._rows[row][0]] = text

    def _show_answer(self, prediction: FishPrediction | None) -> None:
        if prediction is None:
            for label in (self.confidence, self.status, self.candidates, self.made_by):
                label.setText(_NONE)
                label.setStyleSheet("")
            self.species.setText(UNCLASSIFIED if self._rows else _NONE)
            with QSignalBlocker(self.confirmed):
                self.confirmed.clear()
            return
        self.species.setText(catch_text.verdict_text(prediction))
        self.confidence.setText(catch_text.confidence_text(prediction))
        self.status.setText(catch_text.status_text(prediction))
        self.status.setStyleSheet(_FLAG_STYLE if prediction.needs_review else "")
        self.candidates.setText(catch_text.candidates_text(prediction, separator="\n"))
        self.made_by.setText(prediction.pack_version)

    def _make_result(self) -> None:
        self.species = _value("catchSpecies", "open a photo to classify it")
        font = QFont(self.species.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.species.setFont(font)
        self.confidence = _value("catchConfidence")
        self.status = _value("catchStatus")
        self.candidates = _value("catchCandidates")
        self.made_by = _value("catchMadeBy")
        self.pack = _value("catchPack", NO_PACK)

    def _clear_result(self, species: str) -> None:
        self._rows, self._confirmed = [], {}
        with QSignalBlocker(self.fish):
            self.fish.clear()
        self.remove_box.setEnabled(False)
        self.classify_boxes.setEnabled(False)
        for label in (self.confidence, self.status, self.candidates, self.made_by):
            label.setText(_NONE)
            label.setStyleSheet("")
        self.species.setText(species)
        with QSignalBlocker(self.confirmed):
            self.confirmed.clear()
        self.show_boxes_message("")

    def _lay_out(self) -> None:
        layout = QVBoxLayout(self)
        layout.addLayout(self._details_grid())
        opener = QHBoxLayout()
        opener.addWidget(self.open_photo)
        opener.addWidget(self.photo_name, 1)
        layout.addLayout(opener)
        result = QHBoxLayout()
        result.addWidget(self.photo, 0, Qt.AlignmentFlag.AlignTop)
        result.addLayout(self._result_form(), 1)
        layout.addLayout(result)
        layout.addWidget(self.fish_hint)
        fish_row = QHBoxLayout()
        fish_row.addWidget(self.fish, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.classify_boxes)
        buttons.addWidget(self.remove_box)
        buttons.addStretch(1)
        fish_row.addLayout(buttons)
        layout.addLayout(fish_row)
        layout.addWidget(self.boxes_message)
        recording = QHBoxLayout()
        recording.addWidget(QLabel("Confirm species"))
        recording.addWidget(self.confirmed, 1)
        recording.addWidget(self.record)
        layout.addLayout(recording)
        records = QHBoxLayout()
        records.addWidget(self.record_message, 1)
        records.addWidget(self.retry, 0, Qt.AlignmentFlag.AlignTop)
        records.addWidget(self.dismiss, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(records)
        layout.addWidget(self.review, 1)

    def _details_grid(self) -> QGridLayout:
        grid = QGridLayout()
        fields = (
            ("Officer", self.officer), ("Vessel", self.vessel),
            ("Trip", self.trip), ("Haul", self.haul),
            ("Count", self.count), ("Length", self.length_cm),
            ("Latitude", self.latitude), ("Longitude", self.longitude),
        )  # fmt: skip
        for index, (caption, widget) in enumerate(fields):
            row, column = divmod(index, 2)
            grid.addWidget(QLabel(caption), row, 2 * column)
            grid.addWidget(widget, row, 2 * column + 1)
        grid.addWidget(QLabel("Notes"), len(fields) // 2, 0)
        grid.addWidget(self.notes, len(fields) // 2, 1, 1, 3)
        return grid

    def _result_form(self) -> QFormLayout:
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        for caption, label in (
            ("Species", self.species),
            ("Confidence", self.confidence),
            ("Status", self.status),
            ("Top 3", self.candidates),
            ("Classified by", self.made_by),
            ("Pack in use", self.pack),
        ):
            form.addRow(caption, label)
        return form
