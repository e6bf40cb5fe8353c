"""Every label of the app's panels shows its text as it is, never as markup.

A ``QLabel`` left at its default (``AutoText``) takes text that looks like HTML as rich text.
Much of what the panels show comes from outside: a photo's file name, a hub's error, a
species or person's name, a store's error, a badge typed at a kiosk. ``<img src=...>`` or
``<span style=...>`` in any of them would draw an image or restyled words instead of the
characters (the kiosk's labels were fixed for this alone; this holds every panel to it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget

from desktop.app import MainWindow
from desktop.catch_panel import CatchPanel
from desktop.catch_review import ReviewList
from desktop.kiosk_panel import KioskPanel
from desktop.questions import question_box
from desktop.sync_panel import SyncPanel
from inference.pack.installed import ModelPack

HOSTILE = '<span style="font-size:60pt">hub says: all synced</span>'


def _panels(tmp_path: Path) -> list[QWidget]:
    return [
        SyncPanel(tmp_path / "jaga.db"),
        CatchPanel(),
        ReviewList(),
        KioskPanel(),
        MainWindow(ModelPack(tmp_path / "empty-pack")),
    ]


@pytest.mark.usefixtures("qapp")
def test_no_label_of_any_panel_takes_its_text_for_markup(tmp_path: Path) -> None:
    """Each label a panel names (those it sets text on; a form's captions are fixed words)."""
    for panel in _panels(tmp_path):
        rich = [
            label.objectName()
            for label in panel.findChildren(QLabel)
            if label.objectName() and label.textFormat() != Qt.TextFormat.PlainText
        ]
        assert rich == [], type(panel).__name__
        panel.close()


def test_a_hubs_words_in_the_sync_panel_are_shown_as_sent(
    qapp: QApplication, tmp_path: Path
) -> None:
    """Each value label lays out the words as plain text would: ``<span style=...>`` is not
    taken as a style (sixty-point words) but shown as the characters it is."""
    panel = SyncPanel(tmp_path / "jaga.db")
    for label in panel.findChildren(QLabel):
        if not label.objectName():  # a form's caption: fixed words
            continue
        label.setText(HOSTILE)
        shown = label.sizeHint()
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setText(HOSTILE)
        assert shown == label.sizeHint(), label.objectName()
    qapp.processEvents()
    panel.close()


@pytest.mark.usefixtures("qapp")
def test_a_question_quoting_typed_words_shows_them_as_typed_and_defaults_to_no() -> None:
    box = question_box(None, "New species", f"'{HOSTILE}' is not a species of the pack")
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    box.close()
