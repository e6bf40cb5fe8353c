"""Dismiss asks before it deletes the catches the store refused, naming what is lost.

Found in session 35 (dismiss): one click on Dismiss deleted the refused catches for good,
out of the list and out of the spool on disk, no question asked: an officer days from a
network who mis-tapped lost observations that cannot be taken again. Closing the window
with refused catches asked first; Dismiss now does too, default No, naming how many catches
(and fish) and their species. Real windows offscreen on a real store and spool; the
question is answered as the officer would, by the suite's ``Asking`` (and once by the real
message box, with the Enter an officer presses by habit).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.app import MainWindow
from desktop.catch import record_catches
from desktop.questions import question_box
from tests.desktop.qtwait import wait_until
from tests.desktop.test_catch import BELOW_REVIEW, CONFIDENT, side_by_side
from tests.desktop.test_catch_panel import Asking, Rig, catch_of, in_store
from tests.desktop.test_catch_record_failures import held, observed, refused_record, settle
from tests.desktop.test_catch_spool import kept, restarted, rig, start, stop, wait_offered, window

pytestmark = pytest.mark.needs_shared
A, B = Path(CONFIDENT).name, Path(BELOW_REVIEW).name
__all__ = ["restarted", "rig", "window"]  # the spool tests' fixtures, used by name


def dismiss_questions(rig: Rig) -> list[str]:
    return [question for title, question in rig.asking.asked if "Dismiss" in title]


def test_a_dismiss_answered_no_keeps_the_catch_listed_and_on_disk(
    window: MainWindow, rig: Rig, restarted: list[MainWindow]
) -> None:
    refused_record(window, rig)
    panel = catch_of(window).panel
    rig.asking.answer = False  # a mis-tap: the officer says No
    panel.dismiss.click()
    said = panel.record_message.text()
    stop(window, rig)  # waits for the jobs given: a deletion asked for has run
    assert kept(rig) == [A], "the spool entry went after a Dismiss answered No"
    assert said.startswith(f"NOT RECORDED {A}: "), said
    assert panel.retry.isVisibleTo(panel) and panel.dismiss.isVisibleTo(panel)
    again = start(rig, restarted)
    assert wait_offered(again).startswith(f"NOT RECORDED {A}: ")
    assert [record.name for record in catch_of(again).records.refused] == [A]


def test_a_dismiss_answered_yes_deletes_the_catch_for_good(
    window: MainWindow, rig: Rig, restarted: list[MainWindow]
) -> None:
    refused_record(window, rig)
    panel = catch_of(window).panel
    rig.asking.answer = True
    panel.dismiss.click()
    assert panel.record_message.text() == f"dismissed, not recorded: {A}"
    assert not panel.retry.isVisibleTo(panel) and not panel.dismiss.isVisibleTo(panel)
    stop(window, rig)
    assert len(dismiss_questions(rig)) == 1, rig.asking.asked
    assert kept(rig) == []
    assert not catch_of(start(rig, restarted)).records.refused
    assert observed(rig.store) == []


def test_the_dismiss_question_names_how_many_catches_and_their_species(
    window: MainWindow, rig: Rig
) -> None:
    refused_record(window, rig)
    rig.open_photo(window, BELOW_REVIEW)
    with held(rig.store):
        catch_of(window).panel.record.click()
        settle(window)
    rig.asking.answer = False
    catch_of(window).panel.dismiss.click()
    (question,) = dismiss_questions(rig)
    assert "2 catches" in question, question
    for name, species in ((A, "Amphiprion clarkii"), (B, "Dascyllus reticulatus")):
        assert f"{name}: {species}" in question, question
    assert [record.name for record in catch_of(window).records.refused] == [A, B]


def test_dismissing_a_catch_the_store_holds_in_part_names_only_the_fish_it_lacks(
    window: MainWindow, rig: Rig, restarted: list[MainWindow]
) -> None:
    """A kept catch of two fish whose first the store holds (as a sync pulling back part
    of it leaves it; written here directly): a Dismiss loses only the second, and says so."""
    controller = catch_of(window)
    path, boxes = side_by_side(rig.f4k, rig.scratch, CONFIDENT, BELOW_REVIEW)
    rig.open_photo(window, path)
    for box in boxes:
        controller.add_box(box)
    controller.panel.classify_boxes.click()
    wait_until(controller.panel.record.isEnabled, "the boxes' answers")
    with held(rig.store):
        controller.panel.record.click()
        settle(window)
    (catch,) = controller.records.refused
    stop(window, rig)
    with in_store(rig.store) as store:
        record_catches(
            store.observations, catch.photo, catch.fish[:1], catch.details,
            confirmed_species=catch.confirmed[:1], clock=store.clock,
            recorded_at=catch.pressed_at, photo_uid=catch.uid,
            observation_uids=catch.observation_uids[:1],
        )  # fmt: skip
    again = start(rig, restarted)
    wait_offered(again)
    rig.asking.answer = False
    catch_of(again).panel.dismiss.click()
    (question,) = dismiss_questions(rig)
    assert "1 of 2 fish" in question and "Dascyllus reticulatus" in question, question
    assert "Amphiprion clarkii" not in question, question  # held by the store: not lost


class KeyOnTheBox(Asking):
    """The app's own question box, answered with one key: the Enter an officer presses by
    habit, or Escape."""

    def __init__(self, key: Qt.Key) -> None:
        super().__init__()
        self.key = key

    def __call__(self, parent: QWidget, title: str, question: str) -> bool:
        self.asked.append((title, question))
        box = question_box(parent, title, question)
        QTimer.singleShot(0, lambda: QTest.keyClick(box, self.key))
        return box.exec() == QMessageBox.StandardButton.Yes


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Escape], ids=["enter", "escape"])
def test_enter_or_escape_on_the_dismiss_question_keeps_the_catch(
    key: Qt.Key, rig: Rig, restarted: list[MainWindow]
) -> None:
    rig.asking = KeyOnTheBox(key)
    window = start(rig, restarted)
    refused_record(window, rig)
    catch_of(window).panel.dismiss.click()
    assert [title for title, _ in rig.asking.asked if "Dismiss" in title], rig.asking.asked
    assert [record.name for record in catch_of(window).records.refused] == [A]
    stop(window, rig)
    assert kept(rig) == [A]


class RefusedMeanwhile(Asking):
    """Says ``answer`` once ``meanwhile`` ran: what happens while the question is open (the
    box's own event loop delivers the worker's outcomes, another refusal among them)."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], None] = lambda: None

    def __call__(self, parent: QWidget, title: str, question: str) -> bool:
        self.meanwhile()
        return super().__call__(parent, title, question)


def test_a_catch_refused_while_the_question_is_open_is_not_dismissed_unasked(
    rig: Rig, restarted: list[MainWindow]
) -> None:
    rig.asking = asking = RefusedMeanwhile()
    window = start(rig, restarted)
    refused_record(window, rig)
    rig.open_photo(window, BELOW_REVIEW)

    def refuse_b() -> None:
        with held(rig.store):
            catch_of(window).panel.record.click()
            settle(window)

    asking.meanwhile = refuse_b
    catch_of(window).panel.dismiss.click()  # answered Yes, naming A only
    (question,) = dismiss_questions(rig)
    assert A in question and B not in question, question
    assert [record.name for record in catch_of(window).records.refused] == [B]
    stop(window, rig)
    assert kept(rig) == [B], "a catch the officer was not asked about was dismissed"
