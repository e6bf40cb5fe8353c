"""The CSVs of a training folder (``groups.csv``, ``species.csv``) edited by ``--add-to``:
rows added or dropped with the rest of a hand-made or Excel file's text (byte order mark,
line ends, column order) left as it was, each file written aside and renamed in through
the add's journal, which notes the bytes it wrote."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path

from inference.fish.add_journal import Journal
from inference.fish.csv_files import read_csv, spreadsheet_cell, spreadsheet_text


def append_rows(
    path: Path, columns: tuple[str, str], rows: list[tuple[str, str]], journal: Journal
) -> None:
    """Add rows to a hand-made or Excel CSV, its text (byte order mark, line ends, column
    order) left as it was."""
    header, _ = read_csv(path)
    order = [header.index(column) for column in columns]
    width = max(order) + 1
    cells = [[""] * width for _ in rows]
    for row, values in zip(cells, rows, strict=True):
        for index, value in zip(order, values, strict=True):
            row[index] = value
    text = path.read_bytes().decode("utf-8")
    ending = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith(("\n", "\r")):
        text += ending
    write_csv(path, text + csv_text(cells, ending), journal)


def drop_rows(path: Path, column: str, dropped: Callable[[str], bool], journal: Journal) -> None:
    """Remove the rows whose ``column`` cell ``dropped`` picks from a hand-made or Excel
    CSV, the rest of its text (byte order mark, line ends) left as it was. Its rows are one
    line each: ``load_dataset`` has read it, and a path or folder holds no line break."""
    header, _ = read_csv(path)
    index = header.index(column)
    lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if not dropped(_cell(line, index))]
    write_csv(path, "".join(kept), journal)


def _cell(line: str, index: int) -> str:
    cells = next(csv.reader([line]), [])
    return spreadsheet_text(cells[index]).strip() if index < len(cells) else ""


def csv_text(rows: Sequence[Sequence[str]], ending: str = "\n") -> str:
    """The rows as CSV text, every cell quoted and one a spreadsheet would run written as
    text (``csv_files``: ``load_dataset`` reads it back exactly)."""
    buffer = io.StringIO()
    cells = ([spreadsheet_cell(cell) for cell in row] for row in rows)
    csv.writer(buffer, lineterminator=ending, quoting=csv.QUOTE_ALL).writerows(cells)
    return buffer.getvalue()


def write_csv(path: Path, text: str, journal: Journal) -> None:
    """Written aside, flushed, and renamed into place: a power cut leaves it before or after."""
    temporary = path.with_name(f".{path.name}.adding")
    temporary.write_bytes(text.encode("utf-8"))
    journal.replace(temporary, path)
