"""``--out`` and ``--add-to`` keep ``added-corrections.csv`` so that a later ``--add-to``
takes back what they wrote; an add that fails part way leaves DATA as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from inference.fish import merge
from inference.fish.add_journal import Journal
from inference.fish.added_record import RECORD_CSV, read_record
from inference.fish.corrections import export_training_set
from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError
from inference.fish.merge import add_training_set
from tests.inference.fish.test_corrections_order import MONDAY, TUESDAY, _export, _photo, _species


def _monday(tmp_path: Path) -> Path:
    _photo(tmp_path / "mon" / "p1.png", 1)
    _photo(tmp_path / "mon" / "p2.png", 2)
    return _export(tmp_path / "mon", ["p1.png,A,obs-1", "p2.png,B,obs-2"], MONDAY)


def _data(tmp_path: Path) -> Path:
    """The user's own photos of B, then Monday's export added."""
    data = tmp_path / "data"
    for i in range(2):
        _photo(data / "b" / f"own{i}.png", 10 + i)
    add_training_set(_monday(tmp_path), data)
    return data


def _not_a_fish(tmp_path: Path, observation: str = "obs-1") -> Path:
    return _export(tmp_path / "tue", [f",,{observation},not_a_fish"], TUESDAY)


def test_a_set_made_by_out_has_its_photos_taken_back_by_a_later_add(tmp_path: Path) -> None:
    export_training_set(_monday(tmp_path), tmp_path / "data")
    added = add_training_set(_not_a_fish(tmp_path), tmp_path / "data")
    assert [file.split("/")[0] for file in added.removed] == ["a"]
    assert _species(tmp_path / "data") == ["b"]


def test_a_retraction_of_a_photo_the_record_does_not_list_is_named(tmp_path: Path) -> None:
    data = _data(tmp_path)
    notes: list[str] = []
    add_training_set(_not_a_fish(tmp_path, "obs-9"), data, say=notes.append)
    assert any("obs-9" in note and "by hand" in note for note in notes), notes


def test_a_byte_identical_copy_answered_not_a_fish_later_takes_the_added_copy_back(
    tmp_path: Path,
) -> None:
    photo = _photo(tmp_path / "mon" / "pb.png", 1)
    _photo(tmp_path / "mon" / "p2.png", 2)
    monday = _export(tmp_path / "mon", ["pb.png,A,obs-b", "p2.png,B,obs-2"], MONDAY)
    sha256 = hashlib.sha256(photo.read_bytes()).hexdigest()
    tuesday = _export(tmp_path / "tue", [f",,obs-a,not_a_fish,{sha256}"], TUESDAY)
    data = tmp_path / "data"
    _photo(data / "b" / "own.png", 10)
    add_training_set(monday, data)
    added = add_training_set(tuesday, data)
    assert len(added.removed) == 1
    assert _species(data) == ["b", "b"]


def test_a_copy_of_a_picture_answered_not_a_fish_before_is_not_added(tmp_path: Path) -> None:
    """The retraction added first, the byte-identical copy's label after: left out, as
    given together."""
    photo = _photo(tmp_path / "mon" / "pb.png", 1)
    _photo(tmp_path / "mon" / "p2.png", 2)
    monday = _export(tmp_path / "mon", ["pb.png,A,obs-b", "p2.png,B,obs-2"], MONDAY)
    sha256 = hashlib.sha256(photo.read_bytes()).hexdigest()
    tuesday = _export(tmp_path / "tue", [f",,obs-a,not_a_fish,{sha256}"], TUESDAY)
    data = tmp_path / "data"
    _photo(data / "b" / "own.png", 10)
    add_training_set(tuesday, data)
    notes: list[str] = []
    add_training_set(monday, data, say=notes.append)
    assert _species(data) == ["b", "b"]
    assert any("obs-a" in note and "pb.png" in note for note in notes), notes


def test_an_add_that_fails_part_way_leaves_data_as_it_was_and_a_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data(tmp_path)
    before = {path: path.read_bytes() for path in data.rglob("*") if path.is_file()}
    _photo(tmp_path / "tue" / "p3.png", 3)
    tuesday = _export(tmp_path / "tue", [",,obs-1,not_a_fish", "p3.png,Zed,obs-3"], TUESDAY)

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(merge, "_extend_species", disk_full)
        with pytest.raises(DatasetError, match="No space left"):
            add_training_set(tuesday, data)
    assert {path: path.read_bytes() for path in data.rglob("*") if path.is_file()} == before
    added = add_training_set(tuesday, data)
    assert (added.new, len(added.removed)) == (1, 1)
    assert _species(data) == ["b", "b", "b", "zed"]
    assert sorted(row.file.split("/")[0] for row in read_record(data) if row.file) == ["b", "zed"]


def test_the_record_lists_each_photo_before_it_is_moved_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut after a photo is moved in: the record already names it."""
    data = _data(tmp_path)
    _photo(tmp_path / "tue" / "p3.png", 3)
    tuesday = _export(tmp_path / "tue", ["p3.png,Zed,obs-3"], TUESDAY)
    seen: list[set[str]] = []
    real_move = Journal.move

    def move(self: Journal, source: Path, target: Path) -> None:
        seen.append({row.file for row in read_record(data)})
        real_move(self, source, target)

    monkeypatch.setattr(Journal, "move", move)
    add_training_set(tuesday, data)
    assert seen and all(any(file.startswith("zed/") for file in files) for files in seen)


@pytest.mark.parametrize("clutter", [".DS_Store", "Thumbs.db", "desktop.ini"])
def test_system_files_do_not_keep_an_emptied_species_folder(tmp_path: Path, clutter: str) -> None:
    data = _data(tmp_path)
    (data / "a" / clutter).write_bytes(b"\0\0\0\1Bud1")
    add_training_set(_not_a_fish(tmp_path), data)
    assert not (data / "a").exists()
    assert _species(data) == ["b", "b", "b"]


def test_a_users_own_file_keeps_an_emptied_folder_and_is_named(tmp_path: Path) -> None:
    data = _data(tmp_path)
    (data / "a" / "notes.txt").write_text("mine")
    notes: list[str] = []
    add_training_set(_not_a_fish(tmp_path), data, say=notes.append)
    assert (data / "a" / "notes.txt").read_text() == "mine"
    assert any("notes.txt" in note for note in notes), notes


def test_the_record_writes_its_times_in_the_form_excel_keeps(tmp_path: Path) -> None:
    data = _data(tmp_path)
    text = (data / RECORD_CSV).read_text()
    assert "20261130T080000.000000Z" in text and "2026-11-30T08" not in text


def test_a_record_time_a_spreadsheet_rewrote_is_refused_naming_the_file(tmp_path: Path) -> None:
    data = _data(tmp_path)
    record = data / RECORD_CSV
    record.write_text(record.read_text().replace("20261130T080000.000000Z", "30/11/2026 08:00"))
    with pytest.raises(DatasetError) as raised:
        add_training_set(_not_a_fish(tmp_path), data)
    assert str(record) in str(raised.value) and "line 2" in str(raised.value)


def test_a_record_written_with_extended_iso_times_is_still_read(tmp_path: Path) -> None:
    data = _data(tmp_path)
    record = data / RECORD_CSV
    record.write_text(
        record.read_text().replace("20261130T080000.000000Z", "2026-11-30T08:00:00+00:00")
    )
    added = add_training_set(_not_a_fish(tmp_path), data)
    assert len(added.removed) == 1


def test_a_device_retraction_overruled_by_a_hub_label_is_named(tmp_path: Path) -> None:
    _photo(tmp_path / "h" / "p1.png", 1)
    hub = _export(tmp_path / "h", ["p1.png,A,obs-1"], MONDAY, "hub")
    device = _export(tmp_path / "d", [",,obs-1,not_a_fish"], TUESDAY, "device")
    data = tmp_path / "data"
    _photo(data / "b" / "own.png", 10)
    add_training_set(hub, data)
    notes: list[str] = []
    added = add_training_set(device, data, say=notes.append)
    assert added.removed == ()
    assert any("obs-1" in note and "hub" in note for note in notes), notes


def test_an_older_retraction_added_after_a_newer_label_is_named(tmp_path: Path) -> None:
    _photo(tmp_path / "tue" / "p1.png", 1)
    tuesday = _export(tmp_path / "tue", ["p1.png,A,obs-1"], TUESDAY)
    monday = _export(tmp_path / "mon", [",,obs-1,not_a_fish"], MONDAY)
    data = tmp_path / "data"
    _photo(data / "b" / "own.png", 10)
    add_training_set(tuesday, data)
    notes: list[str] = []
    add_training_set(monday, data, say=notes.append)
    assert any("obs-1" in note and "written after" in note for note in notes), notes


def test_load_dataset_reads_a_set_made_by_out_with_its_record(tmp_path: Path) -> None:
    export_training_set(_monday(tmp_path), tmp_path / "data")
    assert (tmp_path / "data" / RECORD_CSV).exists()
    assert len(load_dataset(tmp_path / "data").samples) == 2
