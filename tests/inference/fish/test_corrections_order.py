"""Exports read in the order they were written, whatever order they are given in, and
byte-identical photos under two photo ids settled as one photo."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.fish.added_record import read_record
from inference.fish.corrections import export_training_set
from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError
from inference.fish.merge import add_training_set

HEADER = (
    "file,confirmed_species,group,observation_uid,crop_x,crop_y,crop_w,crop_h,not_a_fish,"
    "conflicting,photo_sha256,exported_at,exported_from\n"
)
MONDAY, TUESDAY = "2026-11-30T08:00:00.000000Z", "2026-12-01T08:00:00.000000Z"


def _photo(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (60, 80, 3), np.uint8))
    return path


def _export(folder: Path, rows: list[str], at: str = "", source: str = "hub") -> Path:
    """``rows``: ``file,species,observation`` for a label, ``,,observation,why[,sha256]``
    for a retraction (``why``: not_a_fish or conflicting)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [HEADER.rstrip("\n")]
    for row in rows:
        file, species, uid, *rest = row.split(",")
        why, sha256 = [*rest, "", ""][:2]
        flags = f"{int(why == 'not_a_fish') or ''},{int(why == 'conflicting') or ''}"
        lines.append(f"{file},{species},g,{uid},,,,,{flags},{sha256},{at},{source if at else ''}")
    (folder / "corrections.csv").write_text("\n".join(lines) + "\n")
    return folder / "corrections.csv"


def _species(out: Path) -> list[str]:
    return sorted(sample.species_id for sample in load_dataset(out).samples)


@pytest.fixture
def two_days(tmp_path: Path) -> tuple[Path, Path]:
    """Monday labels obs-1 and obs-2; by Tuesday obs-1 was answered not a fish."""
    _photo(tmp_path / "mon" / "p1.png", 1)
    _photo(tmp_path / "mon" / "p2.png", 2)
    monday = _export(tmp_path / "mon", ["p1.png,A,obs-1", "p2.png,B,obs-2"], MONDAY)
    tuesday = _export(tmp_path / "tue", [",,obs-1,not_a_fish"], TUESDAY)
    return monday, tuesday


def test_exports_given_newest_first_are_read_oldest_first(
    two_days: tuple[Path, Path], tmp_path: Path
) -> None:
    monday, tuesday = two_days
    assert export_training_set([tuesday, monday], tmp_path / "set") == 1
    assert _species(tmp_path / "set") == ["b"]


def test_a_device_export_never_outranks_the_hubs_whatever_its_clock(tmp_path: Path) -> None:
    """A device whose clock runs a year ahead exported obs-1 as A; the hub, which holds every
    synced answer, has since taken it back: the hub's retraction stands."""
    _photo(tmp_path / "dev" / "p1.png", 1)
    device = _export(tmp_path / "dev", ["p1.png,A,obs-1"], "2027-12-01T00:00:00Z", "device")
    _photo(tmp_path / "hub" / "p2.png", 2)
    hub = _export(tmp_path / "hub", ["p2.png,B,obs-2", ",,obs-1,not_a_fish"], MONDAY)
    assert export_training_set([hub, device], tmp_path / "set") == 1
    assert _species(tmp_path / "set") == ["b"]


def test_exports_without_a_time_read_in_the_order_given_with_a_note(
    two_days: tuple[Path, Path], tmp_path: Path
) -> None:
    monday, tuesday = two_days
    old = _export(tmp_path / "old", [",,obs-2,not_a_fish"])  # before the column: oldest
    notes: list[str] = []
    assert export_training_set([monday, old, tuesday], tmp_path / "set", say=notes.append) == 1
    assert _species(tmp_path / "set") == ["b"]  # old came before monday, which names obs-2
    assert any(str(old) in note and "order given" in note for note in notes)


def test_an_older_export_added_after_a_retraction_does_not_put_the_photo_back(
    two_days: tuple[Path, Path], tmp_path: Path
) -> None:
    monday, tuesday = two_days
    data = tmp_path / "data"
    for i in range(2):
        _photo(data / "b" / f"own{i}.png", 10 + i)
    add_training_set(tuesday, data)
    assert [row.observation for row in read_record(data) if not row.file] == ["obs-1"]
    notes: list[str] = []
    added = add_training_set(monday, data, say=notes.append)
    assert added.new == 1
    assert notes == [
        "1 not added: an export written later, added before, took them back (added-corrections.csv)"
    ]
    assert _species(data) == ["b", "b", "b"]
    # and a later export naming it again does bring it back
    _photo(tmp_path / "wed" / "p1.png", 1)
    wednesday = _export(tmp_path / "wed", ["p1.png,A,obs-1"], "2026-12-02T08:00:00Z")
    assert add_training_set(wednesday, data).new == 1
    assert _species(data) == ["a", "b", "b", "b"]


def test_an_older_retraction_added_after_a_newer_label_takes_nothing_back(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    for i in range(2):
        _photo(data / "b" / f"own{i}.png", 10 + i)
    _photo(tmp_path / "wed" / "p1.png", 1)
    add_training_set(_export(tmp_path / "wed", ["p1.png,A,obs-1"], TUESDAY), data)
    old = _export(tmp_path / "mon", [",,obs-1,not_a_fish"], MONDAY)
    assert add_training_set(old, data).removed == ()
    assert _species(data) == ["a", "b", "b"]


def test_byte_identical_photos_given_two_species_are_left_out_naming_both(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "e"
    _photo(folder / "p1.png", 1)
    shutil.copy(folder / "p1.png", folder / "p1copy.png")
    _photo(folder / "p3.png", 3)
    csv_path = _export(folder, ["p1.png,A,obs-1", "p1copy.png,B,obs-2", "p3.png,C,obs-3"], MONDAY)
    notes: list[str] = []
    assert export_training_set(csv_path, tmp_path / "set", say=notes.append) == 1
    assert _species(tmp_path / "set") == ["c"]
    assert any("p1.png" in note and "p1copy.png" in note for note in notes)


def test_a_copy_answered_not_a_fish_makes_the_named_copy_conflicting(tmp_path: Path) -> None:
    import hashlib

    folder = tmp_path / "e"
    _photo(folder / "p1.png", 1)
    _photo(folder / "p3.png", 3)
    sha256 = hashlib.sha256((folder / "p1.png").read_bytes()).hexdigest()
    rows = ["p1.png,A,obs-1", f",,obs-2,not_a_fish,{sha256}", "p3.png,C,obs-3"]
    notes: list[str] = []
    assert export_training_set(_export(folder, rows, MONDAY), tmp_path / "s", say=notes.append) == 1
    assert _species(tmp_path / "s") == ["c"]
    assert any("p1.png" in note and "not a fish" in note for note in notes)


def test_byte_identical_photos_given_one_species_are_one_image(tmp_path: Path) -> None:
    folder = tmp_path / "e"
    _photo(folder / "p1.png", 1)
    shutil.copy(folder / "p1.png", folder / "p1copy.png")
    csv_path = _export(folder, ["p1.png,A,obs-1", "p1copy.png,a,obs-2"], MONDAY)
    assert export_training_set(csv_path, tmp_path / "set") == 1


def test_a_row_added_by_hand_without_a_time_is_of_its_csvs_export(
    two_days: tuple[Path, Path], tmp_path: Path
) -> None:
    """Tuesday's CSV gains, in a spreadsheet, a retraction of obs-2 with no exported_at: it
    is Tuesday's, so it outranks Monday's label however the two are given."""
    monday, tuesday = two_days
    with tuesday.open("a") as handle:
        handle.write(",,g,obs-2,,,,,1,,,,\n")
    _photo(tmp_path / "mon" / "p3.png", 3)
    with monday.open("a") as handle:
        handle.write(f"p3.png,C,g,obs-3,,,,,,,,{MONDAY},hub\n")
    assert export_training_set([tuesday, monday], tmp_path / "set") == 1
    assert _species(tmp_path / "set") == ["c"]


def test_exports_of_two_different_times_in_one_csv_are_refused(
    two_days: tuple[Path, Path], tmp_path: Path
) -> None:
    monday, _ = two_days
    merged = tmp_path / "mon" / "merged.csv"
    merged.write_text(monday.read_text() + f",,g,obs-9,,,,,1,,,{TUESDAY},hub\n")
    with pytest.raises(DatasetError, match="holds rows of several exports"):
        export_training_set(merged, tmp_path / "set")


def test_the_cli_prints_which_copies_conflict_and_which_csvs_have_no_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    folder = tmp_path / "e"
    _photo(folder / "p1.png", 1)
    shutil.copy(folder / "p1.png", folder / "p1copy.png")
    _photo(folder / "p3.png", 3)
    timed = _export(folder, ["p1.png,A,obs-1", "p1copy.png,B,obs-2", "p3.png,C,obs-3"], MONDAY)
    _photo(tmp_path / "old" / "p4.png", 4)
    old = _export(tmp_path / "old", ["p4.png,D,obs-4"])
    argv = ["fish", "export-training-set", "--corrections", str(timed), str(old)]
    assert main([*argv, "--out", str(tmp_path / "set")]) == 0
    out = capsys.readouterr().out
    assert f"{old}: no exported_at" in out
    assert f"left out as conflicting: {folder / 'p1.png'}, {folder / 'p1copy.png'}" in out
    assert "wrote 2 images" in out


def test_csvs_without_a_time_listed_after_every_timed_one_are_read_last(tmp_path: Path) -> None:
    """A device not yet upgraded (no exported_at) answered obs-1 not a fish after Monday's
    timed export: listed last, its retraction is read last and stands."""
    _photo(tmp_path / "mon" / "p1.png", 1)
    _photo(tmp_path / "mon" / "p2.png", 2)
    monday = _export(tmp_path / "mon", ["p1.png,A,obs-1", "p2.png,B,obs-2"], MONDAY, "device")
    old = _export(tmp_path / "old", [",,obs-1,not_a_fish"])
    notes: list[str] = []
    assert export_training_set([monday, old], tmp_path / "last", say=notes.append) == 1
    assert _species(tmp_path / "last") == ["b"]
    assert notes == [
        f"{old}: no exported_at (written before exports recorded their time); listed after"
        " every CSV that has one, so read after them, in the order given"
    ]
    notes.clear()
    assert export_training_set([old, monday], tmp_path / "first", say=notes.append) == 2
    assert notes == [
        f"{old}: no exported_at (written before exports recorded their time); read before"
        " every CSV that has one, in the order given (list a CSV after every CSV that has"
        " one to read it after them)"
    ]


def test_the_conflict_note_for_one_file_names_it_alone(tmp_path: Path) -> None:
    import hashlib

    folder = tmp_path / "e"
    _photo(folder / "p1.png", 1)
    _photo(folder / "p3.png", 3)
    sha256 = hashlib.sha256((folder / "p1.png").read_bytes()).hexdigest()
    rows = ["p1.png,A,obs-1", f",,obs-2,not_a_fish,{sha256}", "p3.png,C,obs-3"]
    notes: list[str] = []
    export_training_set(_export(folder, rows, MONDAY), tmp_path / "s", say=notes.append)
    assert notes == [
        f"left out as conflicting: {folder / 'p1.png'} holds a picture given as a and as not a fish"
    ]


def test_a_copy_of_a_photo_left_out_as_conflicting_is_left_out_too(tmp_path: Path) -> None:
    import hashlib

    folder = tmp_path / "e"
    _photo(folder / "p1.png", 1)
    _photo(folder / "p3.png", 3)
    sha256 = hashlib.sha256((folder / "p1.png").read_bytes()).hexdigest()
    rows = [f",,obs-1,conflicting,{sha256}", "p1.png,A,obs-2", "p3.png,C,obs-3"]
    notes: list[str] = []
    assert export_training_set(_export(folder, rows, MONDAY), tmp_path / "s", say=notes.append) == 1
    assert notes == [
        f"left out as conflicting: {folder / 'p1.png'} holds a picture given as a, and a photo"
        " of the same picture was left out as conflicting by an export"
    ]


def test_nothing_left_but_conflicting_photos_is_not_called_not_a_fish(tmp_path: Path) -> None:
    folder = tmp_path / "e"
    _photo(folder / "p1.png", 1)
    shutil.copy(folder / "p1.png", folder / "p1copy.png")
    csv_path = _export(folder, ["p1.png,A,obs-1", "p1copy.png,B,obs-2"], MONDAY)
    with pytest.raises(DatasetError) as refused:
        export_training_set(csv_path, tmp_path / "set")
    assert str(refused.value) == (
        f"every fish in {csv_path} was left out as conflicting; nothing to train on"
    )
