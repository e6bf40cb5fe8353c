"""The kiosk screen shows words it did not write as they are: a display name an operator
typed, a badge anyone at the door types into the badge field (told back in a notice), a
store's error. A ``QLabel`` takes text that looks like markup as rich text, so
``<img src=...>`` or ``<span style=...>`` in any of them drew what it said (a local image,
text styled as a greeting), instead of the characters themselves."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from desktop.kiosk.prompts import Prompt, Tone
from desktop.kiosk_panel import KioskPanel

HOSTILE = ("Nobody enrolled here has the id "
           "'<span style=\"font-size:60pt\">Welcome, Director</span>'")  # fmt: skip


def shown(panel: KioskPanel) -> tuple[QLabel, QLabel]:
    panel.show_prompt(Prompt(HOSTILE, Tone.REFUSED))
    panel.show_state(HOSTILE, problem=True)
    return panel.prompt, panel.state


@pytest.mark.usefixtures("qapp")
def test_words_from_outside_are_shown_as_typed_never_as_markup() -> None:
    typed = KioskPanel()  # the same panel, told to show every character as it is
    for label in (typed.prompt, typed.state):
        label.setTextFormat(Qt.TextFormat.PlainText)
    panel = KioskPanel()
    for label, as_typed in zip(shown(panel), shown(typed), strict=True):
        assert label.text() == HOSTILE
        assert label.sizeHint() == as_typed.sizeHint(), label.objectName()
    QApplication.processEvents()
