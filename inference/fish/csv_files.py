"""The CSVs people write by hand or in Excel beside photos: ``species.csv``, ``groups.csv``
and the corrections exports.

A comma inside a name that is not in double quotes (``b,Bream, sea``) splits it into two
cells, and a reader that passed over the second would keep ``Bream`` without a word. So a
non-blank cell beyond the header, or under a blank heading, is refused naming its line
(Excel pads a header with commas and saves blank rows as commas: blank cells there carry
nothing and are read). A heading given twice is refused too: one of its cells would be lost.
What a file does with headings it does not read is its caller's rule.

A corrections export writes a cell that a spreadsheet would run as a formula with an
apostrophe first (``sync.spreadsheet_text``, which inference cannot import: the CSV is the
contract); :func:`spreadsheet_text` takes it off. The training set's ``species.csv`` and
``groups.csv`` that ``jaga fish export-training-set`` writes (or ``--add-to`` adds rows to)
hold the same names, so they are written by the same rule (:func:`spreadsheet_cell`, kept
equal to sync's by tests/inference/fish/test_corrections.py) and read by it. A hand-written
cell is read as written unless it begins with an apostrophe followed by one of those
characters or another apostrophe (``'Ula'ula`` reads as itself; ``''Ula`` as ``'Ula``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inference.fish.errors import DatasetError
from inference.regular_file import open_text_file

# What a spreadsheet runs as a formula at a cell's start, and the writer's escape before it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def spreadsheet_cell(text: str) -> str:
    """``text`` as a cell that no spreadsheet runs, which :func:`spreadsheet_text` reads
    back exactly: an apostrophe before one that begins with a formula's first character or
    with an apostrophe (``sync.spreadsheet_text.spreadsheet_cell``)."""
    if text.startswith((*FORMULA_STARTS, ESCAPE)):
        return ESCAPE + text
    return text


def spreadsheet_text(cell: str) -> str:
    """A cell of a corrections export as the text it was written from: one apostrophe taken
    off a cell that begins with one followed by a formula's first character or another
    apostrophe (the writer escapes exactly those), and nothing taken off any other cell."""
    if cell.startswith(ESCAPE) and cell[1:].startswith((*FORMULA_STARTS, ESCAPE)):
        return cell[1:]
    return cell


@dataclass(frozen=True)
class CsvRow:
    """A row's cells by heading (a missing cell reads ""), and the line it ends on."""

    line: int
    cells: dict[str, str]


def read_csv(path: Path, what: str = "a CSV file") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and each row with the line it ends on; blank lines are skipped. Only a
    regular file is read (``DatasetError`` naming it as not ``what`` otherwise)."""
    try:
        with open_text_file(  # Excel writes a BOM
            path, what, DatasetError, encoding="utf-8-sig", newline=""
        ) as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            rows = [(reader.line_num, cells) for cells in reader if cells]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return header, rows


def by_heading(
    path: Path, header: Sequence[str], rows: list[tuple[int, list[str]]]
) -> list[CsvRow]:
    """Each row's cells under their headings, once none is a cell a comma in a name made."""
    named = [heading for heading in header if heading.strip()]
    twice = sorted({heading for heading in named if named.count(heading) > 1})
    if twice:
        raise DatasetError(f"{path} has the column {', '.join(twice)} twice: one of each")
    return [CsvRow(line, _cells(path, line, header, cells)) for line, cells in rows]


def _cells(path: Path, line: int, header: Sequence[str], cells: list[str]) -> dict[str, str]:
    for column, cell in enumerate(cells, start=1):
        if not cell.strip() or (column <= len(header) and header[column - 1].strip()):
            continue
        where = "which has no heading"
        if column > len(header):
            where = f"past the header's {len(header)} columns"
        raise DatasetError(
            f"{path}, line {line}: {cell!r} in column {column}, {where}; a name that holds a "
            "comma must be in double quotes"
        )
    padded = [*cells, *[""] * (len(header) - len(cells))]
    return {heading: cell for heading, cell in zip(header, padded, strict=False) if heading.strip()}
