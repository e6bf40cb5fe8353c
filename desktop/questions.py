"""The dialogs the app opens for the officer: the photo to open, and the yes/no questions
it puts before an answer that is hard to take back. Each controller is given the function
that asks (``PhotoChooser``, ``CloseQuestion``, ``Question``), so that the tests answer it as
the officer would; the app's own asks with a message box whose default is No, so an Enter
pressed by habit changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

PhotoChooser = Callable[[QWidget], Path | None]
CloseQuestion = Callable[[QWidget, str], bool]  # (window, question) -> close anyway
Question = Callable[[QWidget, str, str], bool]  # (parent, title, question) -> said Yes


def question_box(parent: QWidget | None, title: str, question: str) -> QMessageBox:
    """A Yes/No message box whose default is No. Its words are plain text: a question quotes
    what the officer typed or a file's name, which a box left at ``AutoText`` would draw as
    markup (``<img src=...>``) instead of showing (as every label: ``desktop.labels``)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(question)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box


def ask_yes_no(parent: QWidget, title: str, question: str) -> bool:
    """Whether the officer answers Yes (No is the default answer)."""
    return question_box(parent, title, question).exec() == QMessageBox.StandardButton.Yes


def ask_for_photo(parent: QWidget) -> Path | None:
    """A photo file chosen by the officer. Taking one with a camera is a later step: this
    machine has no camera to build and test it against, so a photo comes from a file."""
    name, _ = QFileDialog.getOpenFileName(
        parent, "Open a fish photo", "", "Photos (*.jpg *.jpeg *.png *.webp);;All files (*)"
    )
    return Path(name) if name else None


def ask_to_close(parent: QWidget, question: str) -> bool:
    """Whether the officer closes the window anyway (No is the default answer)."""
    return ask_yes_no(parent, "Catches not recorded", question)
