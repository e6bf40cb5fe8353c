"""Cells of the CSVs Jaga writes for people, written so that a spreadsheet shows them as text.

OWASP's CSV injection (formula injection): a cell that begins with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return is run as a formula by Excel, LibreOffice and Google Sheets when
an officer opens the file (``=HYPERLINK(...)`` sends the row's data away, ``=cmd|...`` asks to
start a program). Species, reviewers, vessels, trips, notes and reasons are typed by people
on any device of a site, or pushed by one, so such a cell is written with an apostrophe
first, which spreadsheets take as "this is text" (OWASP's advice). Escaping where the file is
written, not refusing the characters where a name is typed, also covers what is already
stored, what other devices and older releases sent, and a hub's reviewer names.

The escape is undone exactly where Jaga reads its own CSVs back (``corrections.csv``, read
by ``jaga fish export-training-set``: ``inference.fish.csv_files.spreadsheet_text``, which
cannot import this): a text that begins with an apostrophe is escaped too, and the reader
takes one apostrophe off a cell that begins with an apostrophe followed by one of those
characters or another apostrophe, and only then. A cell written before the escape
(``'Ula'ula``) reads as it did; only one an older release wrote beginning ``'=`` or ``''``
reads one apostrophe shorter.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def spreadsheet_cell(text: str) -> str:
    """``text`` as a cell that no spreadsheet runs, read back exactly (see the module)."""
    if text.startswith((*FORMULA_STARTS, ESCAPE)):
        return ESCAPE + text
    return text
