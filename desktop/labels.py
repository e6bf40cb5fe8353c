"""Labels that show their words as they are.

A ``QLabel`` left at its default (``AutoText``) takes text that looks like HTML as rich text,
and much of what the panels show comes from outside: a photo's file name, a hub's error, a
species or person's name, a store's error, a badge typed at a kiosk. ``<img src=...>`` or
``<span style=...>`` in any of them would draw an image or restyled words, not the
characters. Every label whose text can change is made here."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def plain_label(text: str = "", name: str = "") -> QLabel:
    """A label showing ``text`` (and whatever it is set to later) as plain text."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)  # before any text: never parsed as markup
    label.setText(text)
    if name:
        label.setObjectName(name)
    return label
