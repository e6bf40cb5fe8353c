"""The yes/no questions the app puts to the officer before an answer that is hard to take
back. Each controller is given the function that asks (``Question``), so that the tests
answer it as the officer would; the app's own asks with a message box whose default is No,
so an Enter pressed by habit changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

Question = Callable[[QWidget, str, str], bool]  # (parent, title, question) -> said Yes


def ask_yes_no(parent: QWidget, title: str, question: str) -> bool:
    """Whether the officer answers Yes (No is the default answer)."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    answer = QMessageBox.question(parent, title, question, buttons, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
