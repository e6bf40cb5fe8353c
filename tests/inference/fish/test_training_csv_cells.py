"""The CSVs ``jaga fish export-training-set`` writes (``species.csv``, ``groups.csv``, and
``added-corrections.csv`` beside them) are opened in spreadsheets as the corrections export
is: every cell quoted, and a cell a spreadsheet would run as a formula written as text."""

from __future__ import annotations

import csv
from pathlib import Path

from inference.fish.added_record import RECORD_CSV, Recorded, read_record, write_record
from inference.fish.corrections import export_training_set
from inference.fish.csv_files import FORMULA_STARTS
from inference.fish.dataset import load_dataset
from inference.fish.merge import add_training_set
from tests.inference.fish.test_corrections_order import MONDAY, TUESDAY, _export, _photo

FORMULAS = ["=HYPERLINK(x)", "+1", "-2", "@SUM(A1)", "\tx", "\rx"]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _raw_cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def _every_cell_quoted(path: Path) -> bool:
    """Each line is ``"…","…"``: as many quoted cells as the reader finds (no cell here
    holds a quote or a line break)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    lines = _lines(path)
    return len(lines) == len(rows) and all(
        line.startswith('"') and line.endswith('"') and line.count('"') == 2 * len(row)
        for line, row in zip(lines, rows, strict=True)
    )


def test_the_training_sets_csvs_quote_every_cell(tmp_path: Path) -> None:
    _photo(tmp_path / "mon" / "p1.png", 1)
    _photo(tmp_path / "mon" / "p2.png", 2)
    monday = _export(tmp_path / "mon", ["p1.png,Gadus morhua,obs-1", "p2.png,0012,obs-2"], MONDAY)
    out = tmp_path / "set"
    export_training_set(monday, out)
    for written in ("species.csv", "groups.csv", RECORD_CSV):
        assert _every_cell_quoted(out / written), (written, _lines(out / written))
    assert sorted(s.name for s in load_dataset(out).species) == ["0012", "Gadus morhua"]


def test_rows_added_to_a_training_folder_quote_every_cell(tmp_path: Path) -> None:
    """``--add-to`` adds its rows to the user's own CSV, whose own lines stay as written."""
    data = tmp_path / "data"
    _photo(data / "b" / "own.png", 5)
    own = {"species.csv": ["folder,species", "b,B"], "groups.csv": ["file,group", "b/own.png,t"]}
    for name, own_lines in own.items():
        (data / name).write_text("\n".join(own_lines) + "\n")
    _photo(tmp_path / "mon" / "p1.png", 1)
    add_training_set(_export(tmp_path / "mon", ["p1.png,A,obs-1"], MONDAY), data)
    for written in ("species.csv", "groups.csv"):
        lines = _lines(data / written)
        assert lines[:2] == own[written]
        added = lines[2:]
        assert added, written
        assert all(line.startswith('"') and line.endswith('"') for line in added), lines


def test_the_added_record_writes_a_formula_as_text_and_reads_it_back(tmp_path: Path) -> None:
    """A file or observation a spreadsheet would run (a hand-made export's uid, a species
    folder) is written with an apostrophe first, and read back exactly."""
    rows = [Recorded(f"{formula}/a.png", f"{formula}obs", "ab" * 32) for formula in FORMULAS] + [
        Recorded("b/'Ula.png", "'=obs", "cd" * 32),
        Recorded("", "'plain", ""),
    ]
    write_record(tmp_path, rows)
    written = tmp_path / RECORD_CSV
    starts = [cell for cell in _raw_cells(written) if cell.startswith(FORMULA_STARTS)]
    assert starts == [], starts
    assert sorted(read_record(tmp_path)) == sorted(rows)


def test_a_retraction_of_an_observation_named_like_a_formula_takes_its_photo_back(
    tmp_path: Path,
) -> None:
    _photo(tmp_path / "mon" / "p1.png", 1)
    _photo(tmp_path / "mon" / "p2.png", 2)
    monday = _export(tmp_path / "mon", ["p1.png,A,=obs-1", "p2.png,B,obs-2"], MONDAY)
    data = tmp_path / "data"
    export_training_set(monday, data)
    assert [c for c in _raw_cells(data / RECORD_CSV) if c.startswith(FORMULA_STARTS)] == []
    added = add_training_set(_export(tmp_path / "tue", [",,=obs-1,not_a_fish"], TUESDAY), data)
    assert [file.split("/")[0] for file in added.removed] == ["a"]
