"""The Catch panel in a real window, offscreen: open a photo (the dialog replaced by a path),
see the species, record it, confirm a flagged one from the review list.

The species pack, the classifier, the store, the worker threads and the widgets are real;
only the file dialog is replaced.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import cv2
import pytest
from PySide6.QtWidgets import QApplication, QWidget

from desktop.app import MainWindow, open_window
from desktop.catch import classify_catch
from desktop.catch_canvas import THUMBNAIL_SIDE
from desktop.catch_controller import CatchController
from desktop.catch_jobs import classify_file
from desktop.catch_panel import NO_PACK
from desktop.catch_photo import read_catch_photo
from desktop.catch_store import CatchStore
from desktop.settings import LOCKED_MESSAGE, AppSettings
from inference.fish.classify import SpeciesClassifier
from inference.fish.images import UInt8Image, read_image
from inference.fish.types import FishPrediction
from inference.pack.installed import ModelPack
from inference.runtime import ThreadBudget
from inference.runtime.providers import CPU, plan_providers
from sync.corrections import CorrectionsExport
from sync.store import Crop, FishObservation, Passphrase, Store, StoreConfig
from sync.store.corrections import export_corrections
from sync.store.hub_keys import hub_key
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.qtwait import wait_until
from tests.desktop.test_catch import (
    BELOW_REVIEW,
    CONFIDENT,
    UNKNOWN,
    side_by_side,
    write_image,
)
from tests.sync.client.test_held_records_follow import HUB_A, moved_to_b, registered_with
from tests.sync.conftest import FAST
from tests.sync.test_store_review_cli import pulled_from_the_hub

pytestmark = pytest.mark.needs_shared
SCREENSHOT_ENV = "JAGA_SCREENSHOT_DIR"  # where to keep a picture of the panel, if set


class ThreadNotingClassifier(SpeciesClassifier):
    """The real classifier, noting the threads it classified on."""

    threads: ClassVar[list[threading.Thread]] = []

    def classify(self, images: Sequence[UInt8Image], top_k: int = 5) -> list[FishPrediction]:
        self.threads.append(threading.current_thread())
        return super().classify(images, top_k)


@pytest.fixture(scope="module")
def classifier(default_species_pack: Path) -> SpeciesClassifier:
    return ThreadNotingClassifier.from_path(
        default_species_pack, plan=plan_providers([CPU]), threads=ThreadBudget(1)
    )


class Photos:
    """Stands in for the file dialog: answers the path a test sets."""

    def __init__(self) -> None:
        self.next: Path | None = None

    def __call__(self, _parent: QWidget) -> Path | None:
        return self.next


class Closing:
    """Stands in for the question on closing: answers ``answer``, keeps each question."""

    def __init__(self) -> None:
        self.answer = True
        self.questions: list[str] = []

    def __call__(self, _parent: QWidget, question: str) -> bool:
        self.questions.append(question)
        return self.answer


class Asking:
    """Stands in for the app's yes/no questions (``desktop.questions.ask_yes_no``): answers
    ``answer``, keeps each (title, question) asked."""

    def __init__(self) -> None:
        self.answer = True
        self.asked: list[tuple[str, str]] = []

    def __call__(self, _parent: QWidget, title: str, question: str) -> bool:
        self.asked.append((title, question))
        return self.answer


@dataclass
class Rig:
    """The real parts a window is opened on: a store, the classifier, its pack, the photos."""

    store: Path
    classifier: SpeciesClassifier
    pack: Path
    f4k: Path
    scratch: Path
    photos: Photos = field(default_factory=Photos)
    closing: Closing = field(default_factory=Closing)
    asking: Asking = field(default_factory=Asking)

    def open(
        self,
        *,
        with_pack: bool = True,
        env: dict[str, str] | None = None,
        config: StoreConfig = FAST,
    ) -> MainWindow:
        settings = AppSettings(
            self.store, None, {PASSPHRASE_ENV: PASSPHRASE} if env is None else env, 3600, config
        )
        pack = self.pack if with_pack else None
        window = open_window(
            settings, ModelPack(self.scratch / "no-model-pack"),
            build=lambda _root: self.classifier, find_pack=lambda: pack, choose_photo=self.photos,
            confirm_close=self.closing, ask=self.asking,
        )  # fmt: skip
        if with_pack:
            wait_until(lambda: catch_of(window).panel.pack.text() != NO_PACK, "the pack", 60)
        return window

    def open_photo(self, window: MainWindow, path: Path | str) -> None:
        self.photos.next = self.f4k / path  # an absolute path stays as it is
        panel = catch_of(window).panel
        panel.open_photo.click()
        wait_until(lambda: panel.species.text() != "classifying…", f"the answer for {path}")


@pytest.fixture
def rig(
    qapp: QApplication, store_path: Path, classifier: SpeciesClassifier, f4k: Path, tmp_path: Path
) -> Rig:
    del qapp  # created before any widget
    return Rig(store_path, classifier, classifier.pack.root, f4k, tmp_path)


@pytest.fixture
def window(rig: Rig) -> Iterator[MainWindow]:
    opened = rig.open()
    try:
        yield opened
    finally:
        opened.close()


def catch_of(window: MainWindow) -> CatchController:
    assert window.catch is not None
    return window.catch


def record(window: MainWindow) -> str:
    """Record the photo shown: what the panel says of it, after the photo's name (a record
    the store refused: the whole line)."""
    controller = catch_of(window)
    name = Path(controller.panel.photo_name.text()).name
    controller.panel.record.click()
    wait_until(lambda: not controller.records.busy, "the record")
    said = controller.panel.record_message.text()
    if said.startswith(f"NOT RECORDED {name}: "):
        return said
    assert said.startswith(f"{name}: "), said
    return said.removeprefix(f"{name}: ")


def in_store(path: Path) -> Store:
    return Store.open(path, Passphrase(PASSPHRASE), config=FAST)


def only_observation(store: Store) -> FishObservation:
    (uid,) = store.database.query("SELECT observation_uid FROM fish_observations")
    return store.observations.get(uid[0])


def test_a_photo_is_classified_off_the_gui_thread_and_shown_as_the_classifier_says(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    ThreadNotingClassifier.threads.clear()
    rig.open_photo(window, CONFIDENT)
    assert ThreadNotingClassifier.threads
    assert threading.main_thread() not in ThreadNotingClassifier.threads
    (expected,) = rig.classifier.classify_files([rig.f4k / CONFIDENT])
    assert panel.species.text() == expected.top_k[0].species.name == "Amphiprion clarkii"
    assert panel.confidence.text() == f"{expected.confidence * 100:.1f} % (calibrated)"
    assert panel.status.text() == "identified"
    top3 = [f"{s.species.name} {s.probability * 100:.1f} %" for s in expected.top_k[:3]]
    assert panel.candidates.text().splitlines() == top3
    assert panel.made_by.text() == expected.pack_version == panel.pack.text()
    assert not panel.photo.pixmap().isNull()
    assert panel.record.isEnabled()


def test_a_large_photo_is_scaled_down_for_its_preview_on_the_worker(
    window: MainWindow, rig: Rig
) -> None:
    """Scaling a 16000 x 16000 photo for the preview took 3 s on the GUI thread: the worker
    that reads and classifies the photo now scales it down to the thumbnail too."""
    large = write_image(
        rig.scratch / "large.png", cv2.resize(read_image(rig.f4k / CONFIDENT), (3000, 2000))
    )
    classified = classify_file(rig.classifier, large, FAST)
    assert classified.preview.shape == (160, THUMBNAIL_SIDE, 3)
    assert classified.photo.size == (3000, 2000)
    rig.open_photo(window, large)
    shown = catch_of(window).panel.photo.pixmap()
    assert (shown.width(), shown.height()) == (THUMBNAIL_SIDE, 160)


def test_record_writes_the_observation_and_a_confident_one_is_not_flagged(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    panel.officer.setText("Ana Lima")
    panel.vessel.setText("KM Harapan")
    panel.count.setValue(4)
    panel.length_cm.setText("9.5")
    rig.open_photo(window, CONFIDENT)
    message = record(window)
    assert message.startswith("recorded ") and "not flagged for review" in message
    assert not panel.record.isEnabled()  # one record per photo
    with in_store(rig.store) as store:
        stored = only_observation(store)
    assert stored.observation_uid in message
    assert stored.predictions[0].species == "Amphiprion clarkii" and not stored.needs_review
    assert (stored.officer, stored.vessel, stored.count, stored.length_cm) == (
        "Ana Lima", "KM Harapan", 4, 9.5,
    )  # fmt: skip
    wait_until(lambda: "none" in panel.review.summary.text(), "the review list")
    assert panel.review.items.count() == 0


def test_a_flagged_catch_is_listed_for_review_and_confirming_clears_it(
    window: MainWindow, rig: Rig
) -> None:
    panel, review = catch_of(window).panel, catch_of(window).panel.review
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, BELOW_REVIEW)
    assert "needs review" in panel.status.text()
    assert "flagged for review" in record(window)
    wait_until(lambda: review.items.count() == 1, "the flagged catch in the review list")
    item = review.items.item(0)
    assert "Dascyllus reticulatus" in item.text() and "Ana Lima" in item.text()
    _keep_screenshot(window, rig.scratch)
    review.items.setCurrentRow(0)
    assert review.species.itemText(0) == "Dascyllus reticulatus"  # its candidates, best first
    line = review.species.lineEdit()
    assert line is not None and line.maxLength() == 200  # no longer than the hub takes
    review.species.setEditText("fish_03")  # typed as the folder id: the pack's name is kept
    review.confirm.click()
    wait_until(lambda: review.message.text().startswith("confirmed"), "the confirmation")
    wait_until(lambda: review.items.count() == 0, "the emptied review list")
    with in_store(rig.store) as store:
        assert store.observations.review_queue() == []
        confirmed = only_observation(store)
    assert confirmed.confirmed_species == "Chromis chrysura"
    assert confirmed.reviewed_by == "Ana Lima"


def test_a_flagged_catch_with_no_fish_is_answered_not_a_fish_as_the_cli_answers_it(
    window: MainWindow, rig: Rig
) -> None:
    """A photo of a hand or the deck: the officer can say it shows no fish (no species to
    name), which stores what ``jaga store confirm UID --not-a-fish`` stores. It leaves the
    queue and the export for training writes no label for it."""
    panel, review = catch_of(window).panel, catch_of(window).panel.review
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, BELOW_REVIEW)
    assert "flagged for review" in record(window)
    wait_until(lambda: review.items.count() == 1, "the flagged catch in the review list")
    panel.officer.clear()
    assert not review.not_a_fish.isEnabled()  # nothing selected yet
    review.items.setCurrentRow(0)
    assert review.not_a_fish.isEnabled() and review.not_a_fish.text() == "Not a fish"
    review.not_a_fish.click()  # no officer typed yet: nothing is stored
    wait_until(lambda: "enter the officer" in review.message.text(), "the refusal")
    assert review.message.styleSheet() != ""  # a problem, in red
    panel.officer.setText("Ana Lima")
    _keep_screenshot(window, rig.scratch, "review-not-a-fish.png")
    review.not_a_fish.click()
    assert [title for title, _ in rig.asking.asked] == ["Not a fish"]  # asked, and said Yes
    wait_until(lambda: review.message.text().startswith("answered"), "the answer")
    assert ": not a fish (reviewed by Ana Lima)" in review.message.text()
    assert "will not be used for training" in review.message.text()
    assert review.message.styleSheet() == ""  # an answer, not a problem
    wait_until(lambda: review.items.count() == 0, "the emptied review list")
    with in_store(rig.store) as store:
        assert store.observations.review_queue() == []
        answered = only_observation(store)
        export = CorrectionsExport(rig.scratch / "export")
        report = export_corrections(store.database, export)
    assert answered.not_a_fish and answered.reviewed_by == "Ana Lima"
    assert answered.observation_uid in review.message.text()
    assert (report.summary.written, report.summary.retracted) == (0, 1)  # no label, ever


def test_not_a_fish_is_stored_only_once_the_officer_says_yes_to_the_catch_named(
    window: MainWindow, rig: Rig
) -> None:
    """A misclicked "Not a fish" took a catch out of the review queue and out of training
    with no question: it now asks first (No is the default), naming the catch and the
    species shown, and stores nothing on No."""
    panel, review = catch_of(window).panel, catch_of(window).panel.review
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, BELOW_REVIEW)
    assert "flagged for review" in record(window)
    wait_until(lambda: review.items.count() == 1, "the flagged catch in the review list")
    review.items.setCurrentRow(0)
    selected = review.selected()
    assert selected is not None
    rig.asking.answer = False
    review.not_a_fish.click()
    ((title, question),) = rig.asking.asked
    assert title == "Not a fish"
    assert selected.observation_uid in question and "Dascyllus reticulatus" in question
    assert "not a fish" in review.message.text() and "not answered" in review.message.text()
    # No job was given: the record and the list before it were done, so the store is still.
    with in_store(rig.store) as store:
        assert [o.observation_uid for o in store.observations.review_queue()] == [
            selected.observation_uid
        ]
        assert not only_observation(store).not_a_fish
    assert review.items.count() == 1


def test_the_list_is_this_devices_catches_and_the_sites_on_asking(rig: Rig, tmp_path: Path) -> None:
    """Another boat's flagged catch, pulled from the hub, is not this officer's to check
    against the fish: the list shows the device's own catches, newest first, and the whole
    site's (the pulled ones marked) only while "the whole site's" is ticked."""
    with in_store(rig.store) as store:
        pulled_from_the_hub(store, 1)  # caught in March
    window = rig.open()
    try:
        panel, review = catch_of(window).panel, catch_of(window).panel.review
        wait_until(lambda: "none" in review.summary.text(), "the empty list of this device's")
        panel.officer.setText("Ana Lima")
        rig.open_photo(window, BELOW_REVIEW)
        assert "flagged for review" in record(window)
        wait_until(lambda: review.items.count() == 1, "this device's flagged catch")
        assert review.summary.text() == "1 waiting, newest first"
        assert "pulled" not in review.items.item(0).text()
        review.site.setChecked(True)
        wait_until(lambda: review.items.count() == 2, "the site's flagged catches")
        newer, older = (review.items.item(row).text() for row in range(2))
        assert "Ana Lima" in newer and older.endswith("(pulled from the hub)")
        assert review.summary.text() == "2 waiting on this site, newest first"
        review.site.setChecked(False)
        wait_until(lambda: review.items.count() == 1, "this device's again")
        assert "Ana Lima" in review.items.item(0).text()
    finally:
        window.close()


def test_an_unknown_fish_is_recorded_and_listed_as_unknown(window: MainWindow, rig: Rig) -> None:
    panel, review = catch_of(window).panel, catch_of(window).panel.review
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, UNKNOWN)
    assert panel.status.text().startswith("unknown:")
    assert "flagged for review" in record(window)
    wait_until(lambda: review.items.count() == 1, "the flagged catch in the review list")
    assert "unknown species (best candidate " in review.items.item(0).text()
    with in_store(rig.store) as store:
        assert only_observation(store).status == "unknown"  # kept, and sent, with the record


def test_confirming_on_the_spot_records_it_unflagged(window: MainWindow, rig: Rig) -> None:
    panel = catch_of(window).panel
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, BELOW_REVIEW)
    panel.confirmed.setCurrentIndex(0)  # the best candidate, chosen by the officer
    message = record(window)
    assert message.startswith("recorded and confirmed ") and "as Dascyllus reticulatus" in message
    with in_store(rig.store) as store:
        assert store.observations.review_queue() == []
        stored = only_observation(store)
    assert (stored.confirmed_species, stored.reviewed_by) == ("Dascyllus reticulatus", "Ana Lima")
    assert not stored.needs_review


def test_a_species_the_pack_does_not_list_is_recorded_only_as_a_new_one(
    window: MainWindow, rig: Rig
) -> None:
    """An old folder id typed on the spot was recorded as a species of its own, which the
    hub's admin refuses unless "New species" is ticked: the panel asks, naming close ones."""
    panel = catch_of(window).panel
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, BELOW_REVIEW)
    panel.confirmed.setEditText("fish_4")
    rig.asking.answer = False
    said = record(window)
    ((title, question),) = rig.asking.asked
    assert title == "New species" and "Amphiprion clarkii (fish_04)" in question
    refusal = question.split(". Is it")[0]
    assert said == f"not recorded: {refusal}" and "'fish_4' is not a species" in refusal
    with in_store(rig.store) as store:
        assert store.observations.count() == 0
    rig.asking.answer = True
    assert record(window).startswith("recorded and confirmed ")
    with in_store(rig.store) as store:
        assert only_observation(store).confirmed_species == "fish_4"


def test_a_reviewed_species_the_pack_does_not_list_is_confirmed_only_as_a_new_one(
    window: MainWindow, rig: Rig
) -> None:
    panel, review = catch_of(window).panel, catch_of(window).panel.review
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, BELOW_REVIEW)
    assert "flagged for review" in record(window)
    wait_until(lambda: review.items.count() == 1, "the flagged catch in the review list")
    review.items.setCurrentRow(0)
    review.species.setEditText("Dascyllus reticulata")  # a typo
    rig.asking.answer = False
    review.confirm.click()
    ((title, question),) = rig.asking.asked
    assert title == "New species" and "close: Dascyllus reticulatus" in question
    assert "'Dascyllus reticulata' is not a species of the pack" in review.message.text()
    assert review.message.styleSheet() != ""  # a problem, in red; no job was given
    with in_store(rig.store) as store:
        assert len(store.observations.review_queue()) == 1
    rig.asking.answer = True
    review.confirm.click()
    wait_until(lambda: review.message.text().startswith("confirmed"), "the confirmation")
    with in_store(rig.store) as store:
        assert only_observation(store).confirmed_species == "Dascyllus reticulata"


def test_a_name_that_would_show_as_another_is_refused_before_anything_is_asked(
    window: MainWindow, rig: Rig
) -> None:
    """A right-to-left override in a new species or a vessel would show the review queue and
    the exports another name than the one stored: refused on the spot, naming it escaped,
    before the officer is asked whether it is a new species."""
    panel = catch_of(window).panel
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, BELOW_REVIEW)
    panel.confirmed.setEditText("Gadus \u202eauhrom")
    rig.asking.answer = True
    said = record(window)
    assert rig.asking.asked == []
    assert "a species name holds no control character or bidirectional override" in said
    assert "('\\u202e')" in said
    panel.confirmed.setEditText("")
    panel.vessel.setText("KM \u2066Harapan")
    assert "the vessel holds no control character" in record(window)
    panel.vessel.setText("KM Harapan")
    panel.notes.setText("near the \u202efeer")  # the rest of the note shown reversed
    said = record(window)
    assert "a note holds no bidirectional embedding, override or isolate ('\\u202e')" in said
    with in_store(rig.store) as store:
        assert store.observations.count() == 0


def test_without_an_officer_nothing_is_recorded(window: MainWindow, rig: Rig) -> None:
    rig.open_photo(window, CONFIDENT)
    assert "officer must not be empty" in record(window)
    assert catch_of(window).panel.record.isEnabled()  # fix the name, then Record again
    with in_store(rig.store) as store:
        assert store.observations.count() == 0


def test_a_corrupt_photo_is_explained_and_cannot_be_recorded(window: MainWindow, rig: Rig) -> None:
    corrupt = rig.scratch / "fish.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    rig.open_photo(window, corrupt)
    panel = catch_of(window).panel
    assert f"{corrupt} is not a readable image" in panel.status.text()
    assert not panel.record.isEnabled()


def test_without_a_pack_the_panel_says_how_to_get_one(rig: Rig) -> None:
    window = rig.open(with_pack=False)
    try:
        panel = catch_of(window).panel
        rig.open_photo(window, CONFIDENT)
        assert panel.status.text() == NO_PACK and "jaga models install" in NO_PACK
        assert not panel.record.isEnabled()
    finally:
        window.close()


def test_without_a_key_the_panel_classifies_but_says_how_to_unlock_the_store(rig: Rig) -> None:
    window = rig.open(env={})
    try:
        panel = catch_of(window).panel
        assert panel.review.message.text() == LOCKED_MESSAGE
        panel.officer.setText("Ana Lima")
        rig.open_photo(window, CONFIDENT)
        assert panel.species.text() == "Amphiprion clarkii"
        assert record(window) == f"not recorded: {LOCKED_MESSAGE}"
    finally:
        window.close()
    with in_store(rig.store) as store:
        assert store.observations.count() == 0


def test_a_wrong_key_is_shown_and_nothing_is_written(rig: Rig) -> None:
    window = rig.open(env={PASSPHRASE_ENV: "not the passphrase"})
    try:
        panel = catch_of(window).panel
        wait_until(lambda: "wrong passphrase" in panel.review.message.text(), "the refusal")
        panel.officer.setText("Ana Lima")
        rig.open_photo(window, CONFIDENT)
        said = record(window)
        assert said.startswith("NOT RECORDED ") and ": wrong passphrase" in said
    finally:
        window.close()
    with in_store(rig.store) as store:
        assert store.observations.count() == 0


def drag_over(window: MainWindow, fish: Crop) -> Crop:
    """Drag over where ``fish`` is shown on the preview, as an officer would; the box the
    preview maps that drag to, added through the controller (no mouse is needed)."""
    preview = catch_of(window).panel.photo.preview
    assert preview is not None
    x, y, width, height = preview.to_widget(fish)
    dragged = preview.crop_between((x, y), (x + width, y + height))
    assert dragged is not None
    catch_of(window).add_box(dragged)
    return dragged


def classify_boxes(window: MainWindow) -> None:
    panel = catch_of(window).panel
    panel.classify_boxes.click()
    wait_until(panel.record.isEnabled, "the boxes' answers")


def test_two_fish_dragged_on_one_photo_are_classified_together_and_recorded_apart(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    panel.officer.setText("Ana Lima")
    path, true_boxes = side_by_side(rig.f4k, rig.scratch, CONFIDENT, BELOW_REVIEW)
    rig.open_photo(window, path)
    assert panel.fish.count() == 1 and panel.fish.item(0).text().startswith("whole photo: ")
    boxes = [drag_over(window, fish) for fish in true_boxes]
    for dragged, true in zip(boxes, true_boxes, strict=True):  # the preview is scaled: ±1 px
        pairs = zip(dragged.as_tuple(), true.as_tuple(), strict=True)
        assert all(abs(a - b) <= 1 for a, b in pairs)
    assert [panel.fish.item(i).text() for i in range(2)] == [
        f"fish {n}, box {box}: not classified yet" for n, box in enumerate(boxes, start=1)
    ]
    assert not panel.record.isEnabled() and panel.classify_boxes.isEnabled()
    ThreadNotingClassifier.threads.clear()
    classify_boxes(window)
    assert len(ThreadNotingClassifier.threads) == 1  # one batch, on the worker
    assert threading.main_thread() not in ThreadNotingClassifier.threads
    expected = classify_catch(rig.classifier, read_catch_photo(path), boxes)
    assert [panel.fish.item(i).text().split(": ")[1].split(" ")[0] for i in range(2)] == [
        "Amphiprion",
        "Dascyllus",
    ]
    QApplication.processEvents()  # lay the list out as the event loop would
    for row in range(2):  # each line whole: wrapped inside the list, not cut at its edge
        item = panel.fish.item(row)
        assert panel.fish.visualItemRect(item).width() <= panel.fish.viewport().width()
        assert item.toolTip() == item.text()
    panel.fish.setCurrentRow(1)  # the second fish: its own answer and its own confirmation
    second = expected[1].prediction
    assert panel.species.text() == second.top_k[0].species.name
    assert panel.candidates.text().splitlines()[0].startswith(second.top_k[0].species.name)
    panel.confirmed.setCurrentIndex(0)
    _keep_screenshot(window, rig.scratch, "catch_boxes.png")
    message = record(window)
    assert message.startswith("recorded 2 fish sharing one photo (0 flagged for review, 1 conf")
    with in_store(rig.store) as store:
        rows = store.database.query("SELECT observation_uid FROM fish_observations ORDER BY id")
        first, confirmed = (store.observations.get(row[0]) for row in rows)
        assert store.database.query("SELECT count(*) FROM photos")[0][0] == 1
    assert first.photo_uid == confirmed.photo_uid and (first.crop, confirmed.crop) == tuple(boxes)
    assert first.predictions[0].confidence == expected[0].prediction.top_k[0].probability
    assert first.confirmed_species is None and not first.needs_review
    assert (confirmed.confirmed_species, confirmed.reviewed_by) == (
        second.top_k[0].species.name,
        "Ana Lima",
    )
    assert not panel.record.isEnabled()  # one record per photo


def test_a_removed_box_leaves_the_others_answered_and_no_box_is_the_whole_photo(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    path, true_boxes = side_by_side(rig.f4k, rig.scratch, CONFIDENT, BELOW_REVIEW)
    rig.open_photo(window, path)
    whole = panel.fish.item(0).text()
    left, right = (drag_over(window, fish) for fish in true_boxes)
    classify_boxes(window)
    panel.fish.setCurrentRow(0)
    panel.remove_box.click()
    assert panel.photo.boxes == [right]
    assert panel.fish.count() == 1 and panel.fish.item(0).text().startswith("fish 1, box ")
    assert panel.record.isEnabled()  # the kept box keeps its answer: nothing to classify
    panel.remove_box.click()
    assert panel.photo.boxes == [] and panel.fish.item(0).text() == whole
    assert panel.record.isEnabled() and not panel.remove_box.isEnabled()
    catch_of(window).add_box(Crop(left.x, left.y, left.width - 1, left.height))  # a new box
    assert panel.fish.item(0).text().endswith(": not classified yet")  # waits for Classify
    assert not panel.record.isEnabled() and panel.classify_boxes.isEnabled()


def _keep_screenshot(window: MainWindow, scratch: Path, name: str = "catch.png") -> None:
    """A picture of the panel (kept where ``$JAGA_SCREENSHOT_DIR`` says, if set)."""
    folder = Path(os.environ.get(SCREENSHOT_ENV) or scratch)
    QApplication.processEvents()  # the layout's pending requests, as the event loop would
    picture = catch_of(window).panel.grab()
    assert not picture.isNull() and picture.width() > 400
    assert picture.save(str(folder / name))


def test_a_box_edited_while_recording_does_not_allow_a_second_record(
    window: MainWindow, rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removing a box while the record is written once turned Record back on: a second
    click wrote the catch again, two training images of one fish."""
    panel = catch_of(window).panel
    panel.officer.setText("Ana Lima")
    path, true_boxes = side_by_side(rig.f4k, rig.scratch, CONFIDENT, BELOW_REVIEW)
    rig.open_photo(window, path)
    for fish in true_boxes:
        drag_over(window, fish)
    classify_boxes(window)
    release, write = threading.Event(), CatchStore.record

    def slow_record(store: CatchStore, *args: object) -> object:
        assert release.wait(30)
        return write(store, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(CatchStore, "record", slow_record)
    panel.record.click()
    assert panel.record_message.text() == f"recording {path.name} (2 fish)…"
    panel.fish.setCurrentRow(0)
    panel.remove_box.click()  # the fish list changes while the write waits
    assert not panel.record.isEnabled()
    release.set()
    wait_until(lambda: "recorded 2 fish" in panel.record_message.text(), "the record")
    assert not panel.record.isEnabled()
    with in_store(rig.store) as store:
        assert store.observations.count() == 2


def test_an_answer_for_a_photo_no_longer_open_is_dropped(
    window: MainWindow, rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Photo A is still being classified when photo B, which cannot be read, is opened. A's
    answer must not become the catch on screen: the panel names B, so nothing is there to
    box or record."""
    from desktop import catch_controller

    controller, panel = catch_of(window), catch_of(window).panel
    release, classify = threading.Event(), classify_file

    def slow_classify(classifier: SpeciesClassifier, path: Path, *rest: object) -> object:
        if path == rig.f4k / CONFIDENT:
            assert release.wait(30)
        return classify(classifier, path, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(catch_controller, "classify_file", slow_classify)
    corrupt = rig.scratch / "b.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    rig.photos.next = rig.f4k / CONFIDENT
    panel.open_photo.click()
    rig.photos.next = corrupt
    panel.open_photo.click()
    release.set()
    wait_until(lambda: panel.species.text() != "classifying…", "B's answer")
    controller.stop()  # both jobs are done: A's answer has come back, and was dropped
    QApplication.processEvents()
    assert panel.photo_name.text() == str(corrupt)
    controller.add_box(Crop(0, 0, 10, 10))
    assert not panel.classify_boxes.isEnabled() and not panel.record.isEnabled()


def test_a_photo_recorded_before_is_not_recorded_again_without_a_second_record(
    window: MainWindow, rig: Rig
) -> None:
    panel = catch_of(window).panel
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, CONFIDENT)
    assert record(window).startswith("recorded ")
    with in_store(rig.store) as store:
        first = only_observation(store).observation_uid
    rig.open_photo(window, CONFIDENT)  # the same photo, opened again
    warning = record(window)
    assert warning.startswith("not recorded: ") and first in warning
    assert "Press Record again to record it again" in warning
    assert panel.record.isEnabled()
    with in_store(rig.store) as store:
        assert store.observations.count() == 1
    assert record(window).startswith("recorded ")  # the officer insists: a second catch
    with in_store(rig.store) as store:
        assert store.observations.count() == 2


def test_a_review_held_for_a_hub_left_since_says_so(window: MainWindow, rig: Rig) -> None:
    """A catch recorded while registered with hub A, reviewed after a move to hub B: the
    review is held for A (``sync.store.outbox_hub``), and the list says so rather than
    "queued for the hub", as ``jaga store confirm`` does."""
    panel, review = catch_of(window).panel, catch_of(window).panel.review
    with in_store(rig.store) as store:
        registered_with(store, HUB_A)
    panel.officer.setText("Ana Lima")
    rig.open_photo(window, BELOW_REVIEW)
    assert "flagged for review" in record(window)
    with in_store(rig.store) as store:
        moved_to_b(store)
    wait_until(lambda: review.items.count() == 1, "the flagged catch in the review list")
    review.items.setCurrentRow(0)
    review.species.setEditText("fish_03")
    review.confirm.click()
    wait_until(lambda: review.message.text().startswith("confirmed"), "the confirmation")
    said = review.message.text()
    assert f"held for hub {hub_key(HUB_A)}, whose catch it is" in said
    assert "queued for the hub" not in said
