"""Data folders: where groups come from, and the errors that would otherwise skew training."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError, SpeciesMismatchError
from inference.fish.images import round_robin_batches
from inference.fish.trainset import prepare
from inference.fish.types import Species


def _image(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    cv2.imwrite(str(path), pixels)


def test_groups_come_from_groups_csv_first(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "fish_000001_0001.png")
    _image(tmp_path / "b" / "x.jpg")
    (tmp_path / "groups.csv").write_text(
        "file,group\na/fish_000001_0001.png,trip7\nb/x.jpg,trip7\n"
    )
    dataset = load_dataset(tmp_path)
    assert [s.group for s in dataset.samples] == ["group:trip7", "group:trip7"]
    assert dataset.group_source == "groups.csv"


def test_fish4knowledge_names_then_one_group_per_image(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "fish_000001_0001.png")
    _image(tmp_path / "a" / "fish_000001_0002.png")
    _image(tmp_path / "a" / "photo.png")
    dataset = load_dataset(tmp_path)
    assert [s.group for s in dataset.samples] == [
        "track:000001",
        "track:000001",
        "file:a/photo.png",
    ]
    assert "(1 image without a track: one group each)" in dataset.group_source


def test_species_csv_gives_names_and_must_match_the_folders(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "1.png")
    (tmp_path / "species.csv").write_text("folder,species\na,Alpha fish\n")
    assert load_dataset(tmp_path).species[0].name == "Alpha fish"
    (tmp_path / "species.csv").write_text("folder,species\na,Alpha fish\nzz,Ghost\n")
    with pytest.raises(SpeciesMismatchError, match="zz"):
        load_dataset(tmp_path)


def test_an_incomplete_groups_csv_is_refused(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "a" / "2.png")
    (tmp_path / "groups.csv").write_text("file,group\na/1.png,g\n")
    with pytest.raises(DatasetError, match="no group for 1 image,"):
        load_dataset(tmp_path)


def test_empty_species_folders_and_empty_roots_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no species folders"):
        load_dataset(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(DatasetError, match="without images"):
        load_dataset(tmp_path)


def test_a_blank_display_name_is_a_dataset_error(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "1.png")
    (tmp_path / "species.csv").write_text("folder,species\na,\n")
    with pytest.raises(DatasetError, match=r"line 2: folder 'a' has no species"):
        load_dataset(tmp_path)


def test_a_species_whose_every_image_is_unusable_is_refused(tmp_path: Path) -> None:
    """Screening drops unreadable images one by one; a species left with none would vanish
    from the pack without a word, so preparing the data stops and names it."""
    for species in ("a", "b"):
        for track in (1, 2):
            b = species == "b"  # and other pixels: one photo under two species is refused
            _image(tmp_path / species / f"fish_{track}{b:d}_0001.png", seed=track + 10 * b)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "fish_9_0001.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"every image of c .*fish_9_0001\.png"):
        prepare(tmp_path)
    (tmp_path / "c" / "fish_9_0001.png").unlink()
    _image(tmp_path / "c" / "fish_9_0001.png", seed=9)
    assert [s.id for s in prepare(tmp_path).known] == ["a", "b", "c"]


def test_int8_calibration_draws_every_species_beyond_its_first_frames(tmp_path: Path) -> None:
    """Twelve frames of a species in folder order are three tracks of four; the first four
    taken would be one track. Each image here is one grey level, so the batches show
    which were taken: every species, not only its first frames, the same on every run."""
    per_species = []
    for species, base in (("a", 0), ("b", 100)):
        paths = []
        for i in range(12):
            path = tmp_path / species / f"{i:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), np.full((40, 40, 3), base + i, np.uint8))
            paths.append(path)
        per_species.append(paths)

    def levels() -> list[int]:
        batches = round_robin_batches(per_species, limit=8, batch=4, size=64)
        return [int(image[0, 32, 32]) for batch in batches for image in batch]

    taken = levels()
    assert len(taken) == 8 and taken == levels()
    assert sorted(taken[0::2]) != [0, 1, 2, 3] and all(t < 100 for t in taken[0::2])
    assert all(t >= 100 for t in taken[1::2])


def test_folders_one_species_apart_only_in_case_or_unicode_form_are_refused(
    tmp_path: Path,
) -> None:
    """'Chromis' and 'chromis', or 'Épinéphèle' typed on Linux (NFC) and on a Mac (NFD), are
    one species to the stores and the export (``species_key``): two classes would split its
    photos and show two choices of one name."""
    nfc, nfd = (
        unicodedata.normalize("NFC", "Épinéphèle"),
        unicodedata.normalize("NFD", "Épinéphèle"),
    )
    for folder in ("Chromis", "chromis", nfc, nfd, "Dascyllus"):
        _image(tmp_path / folder / "1.png")
    with pytest.raises(DatasetError, match="one species") as refused:
        load_dataset(tmp_path)
    assert all(
        ascii(name) in ascii(str(refused.value)) for name in ("Chromis", "chromis", nfc, nfd)
    )
    assert "Dascyllus" not in str(refused.value)


def test_species_csv_is_matched_to_the_folders_as_species_are(tmp_path: Path) -> None:
    """A species.csv typed on Windows (NFC) names the folder a Mac wrote (NFD)."""
    folder = unicodedata.normalize("NFD", "Kérapu")
    _image(tmp_path / folder / "1.png")
    (tmp_path / "species.csv").write_text(
        f"folder,species\n{unicodedata.normalize('NFC', 'Kérapu')},Epinephelus sp.\n",
        encoding="utf-8",
    )
    assert load_dataset(tmp_path).species == (Species(folder, "Epinephelus sp."),)


def test_species_csv_may_name_a_folder_once_and_a_species_once(tmp_path: Path) -> None:
    """Two folders under one display name are two classes a device shows as one; a folder
    listed twice would silently take its last name. Both are refused, naming the lines."""
    for folder in ("a", "b", "c"):
        _image(tmp_path / folder / "1.png")
    species_csv = tmp_path / "species.csv"
    species_csv.write_text("folder,species\na,Chromis chrysura\nb,chromis  Chrysura\nc,C\n")
    with pytest.raises(DatasetError, match=r"folders a \(line 2\) and b \(line 3\) .*one species"):
        load_dataset(tmp_path)
    species_csv.write_text("folder,species\na,A\nc,Amphiprion clarkii\nb,B\nc,Dascyllus\n")
    with pytest.raises(DatasetError, match=r"names folder c twice \(lines 3, 5\)"):
        load_dataset(tmp_path)
    species_csv.write_text("folder,species\na,B\n")  # b keeps its folder's name: B
    with pytest.raises(DatasetError, match=r"folders a \(line 2\) and b \(its folder"):
        load_dataset(tmp_path)


def test_a_short_csv_row_is_a_dataset_error_naming_the_line(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "b" / "1.png")
    (tmp_path / "species.csv").write_text("folder,species\na,Alpha\nb\n")
    with pytest.raises(DatasetError, match=r"species\.csv, line 3: folder 'b' has no species"):
        load_dataset(tmp_path)
    (tmp_path / "species.csv").unlink()
    (tmp_path / "groups.csv").write_text("file,group\na/1.png,g\nb/1.png,g\n,g2\nb/2.png\n")
    with pytest.raises(DatasetError, match=r"groups\.csv, line 4: no file"):
        load_dataset(tmp_path)
    (tmp_path / "groups.csv").write_text("file,group\na/1.png,g\nb/1.png,g\nb/2.png\n")
    with pytest.raises(DatasetError, match=r"groups\.csv, line 4: file 'b/2.png' has no group"):
        load_dataset(tmp_path)


def test_csvs_saved_by_excel_with_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    _image(tmp_path / "a" / "1.png")
    (tmp_path / "species.csv").write_bytes(b"\xef\xbb\xbffolder,species\r\na,Alpha fish\r\n")
    (tmp_path / "groups.csv").write_bytes(b"\xef\xbb\xbffile,group\r\na/1.png,trip7\r\n")
    dataset = load_dataset(tmp_path)
    assert dataset.species[0].name == "Alpha fish"
    assert [s.group for s in dataset.samples] == ["group:trip7"]


def test_groups_csv_rows_that_name_no_image_are_refused(tmp_path: Path) -> None:
    """A row naming no image is a typo, a photo moved or deleted, or a file written for other
    photos: the split would not be the one the file describes, so it is named, not passed over."""
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "a" / "2.png")
    rows = ["a/1.png,g1", "a/2.png,g2", "../outside/x.png,g9", "a/missing.png,g9", "c/typo.png,g"]
    (tmp_path / "groups.csv").write_text("file,group\n" + "\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="3 rows naming no image") as refused:
        load_dataset(tmp_path)
    message = str(refused.value)
    assert "line 4: ../outside/x.png" in message and "line 6: c/typo.png" in message
    (tmp_path / "groups.csv").write_text("file,group\na/1.png,g1\na/2.png,g2\na/1.png,g3\n")
    with pytest.raises(DatasetError, match=r"a/1\.png two groups \(lines 2, 4\)"):
        load_dataset(tmp_path)
    (tmp_path / "groups.csv").write_text("file,group\na/1.png,g1\na/2.png,g2\na/1.png,g1\n")
    assert [s.group for s in load_dataset(tmp_path).samples] == ["group:g1", "group:g2"]


def test_images_in_sub_folders_are_read_and_grouped_by_their_folder(tmp_path: Path) -> None:
    """Teams file a species' photos by trip: every photo trains, and a trip's photos (near
    the same fish, the same day) stay on one side of the split unless groups.csv says more."""
    _image(tmp_path / "a" / "fish_000001_0001.png")
    _image(tmp_path / "a" / "trip1" / "x.png")
    _image(tmp_path / "a" / "trip1" / "y.png")
    _image(tmp_path / "a" / "trip2" / "day1" / "fish_000002_0001.png")
    _image(tmp_path / "a" / ".thumbnails" / "x.png")
    (tmp_path / "a" / "trip2" / "loop").symlink_to(tmp_path / "a" / "trip2")
    dataset = load_dataset(tmp_path)
    assert {s.relative: s.group for s in dataset.samples} == {
        "a/fish_000001_0001.png": "track:000001",
        "a/trip1/x.png": "folder:a/trip1",
        "a/trip1/y.png": "folder:a/trip1",
        "a/trip2/day1/fish_000002_0001.png": "folder:a/trip2/day1",
    }
    assert all(s.species_id == "a" for s in dataset.samples)
    assert dataset.group_source.startswith("sub-folders for 3 images")
    (tmp_path / "groups.csv").write_text(
        "file,group\na/fish_000001_0001.png,t1\na/trip1/x.png,t1\na/trip1/y.png,t2\n"
        "a/trip2/day1/fish_000002_0001.png,t2\n"
    )
    assert [s.group for s in load_dataset(tmp_path).samples] == ["group:t1"] * 2 + ["group:t2"] * 2


def test_groups_csv_paths_may_use_backslashes(tmp_path: Path) -> None:
    """A team on Windows writes ``a\\trip1\\x.png``: the same image as ``a/trip1/x.png``; a
    row naming no photo is refused all the same."""
    _image(tmp_path / "a" / "trip1" / "x.png")
    _image(tmp_path / "b" / "y.png")
    (tmp_path / "groups.csv").write_text("file,group\na\\trip1\\x.png,t1\nb/y.png,t2\n")
    groups = {s.relative: s.group for s in load_dataset(tmp_path).samples}
    assert groups == {"a/trip1/x.png": "group:t1", "b/y.png": "group:t2"}
    (tmp_path / "groups.csv").write_text(
        "file,group\na\\trip1\\x.png,t1\nb/y.png,t2\nb\\typo.png,t2\n"
    )
    with pytest.raises(DatasetError, match=r"1 row naming no image .*line 4: b/typo\.png"):
        load_dataset(tmp_path)
    (tmp_path / "groups.csv").write_text("file,group\na\\trip1\\x.png,t1\na/trip1/x.png,t2\n")
    with pytest.raises(DatasetError, match=r"a/trip1/x\.png two groups \(lines 2, 3\)"):
        load_dataset(tmp_path)


def test_a_csv_row_with_more_cells_than_the_header_is_refused_naming_the_line(
    tmp_path: Path,
) -> None:
    """An extra cell is a comma in a name or a column without a heading: passed over, the
    row would say less than its writer meant. Blank extra cells carry nothing and are read."""
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "b" / "1.png")
    (tmp_path / "species.csv").write_text("folder,species\na,Alpha\nb,Bream, sea\n")
    with pytest.raises(DatasetError, match=r"species\.csv, line 3: ' sea' in column 3, past the"):
        load_dataset(tmp_path)
    (tmp_path / "species.csv").write_text("folder,species\na,Alpha,,\nb,Bream\n")
    assert [s.name for s in load_dataset(tmp_path).species] == ["Alpha", "Bream"]
    (tmp_path / "species.csv").unlink()
    (tmp_path / "groups.csv").write_text("file,group\na/1.png,g\nb/1.png,g,trip 2\n")
    with pytest.raises(DatasetError, match=r"groups\.csv, line 3: 'trip 2' in column 3, past"):
        load_dataset(tmp_path)


def test_a_csv_with_a_column_it_does_not_read_is_refused(tmp_path: Path) -> None:
    """With a further column (notes), an unquoted comma in a name (Bream, sea) put half of it
    there and the species was 'Bream', without a word (review r2 device, 6): a column of
    neither file's two is refused, so that every cell past them is one a comma made."""
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "b" / "1.png")
    for header in ("folder,species,notes", "notes,folder,species"):
        (tmp_path / "species.csv").write_text(f"{header}\na,Alpha,\nb,Bream, sea\n")
        with pytest.raises(DatasetError, match=r"species\.csv has the columns .*: it reads"):
            load_dataset(tmp_path)
    (tmp_path / "species.csv").write_text("folder,species,species\na,Alpha,\nb,Bream, sea\n")
    with pytest.raises(DatasetError, match=r"species\.csv has the column species twice"):
        load_dataset(tmp_path)
    (tmp_path / "species.csv").unlink()
    (tmp_path / "groups.csv").write_text("file,group,trip\na/1.png,g,\nb/1.png,g,\n")
    with pytest.raises(DatasetError, match=r"groups\.csv has the columns file,group,trip"):
        load_dataset(tmp_path)


def test_a_cell_under_a_blank_heading_is_refused_naming_the_line(tmp_path: Path) -> None:
    """Excel may pad the header with commas (``folder,species,,``): blank headings are read,
    but a cell under one is what a comma in a name leaves there."""
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "b" / "1.png")
    (tmp_path / "species.csv").write_text("folder,species,,\na,Alpha,,\nb,Bream,,\n")
    assert [s.name for s in load_dataset(tmp_path).species] == ["Alpha", "Bream"]
    (tmp_path / "species.csv").write_text('folder,species,,\na,Alpha,,\nb,"Bream, sea",,\n')
    assert [s.name for s in load_dataset(tmp_path).species] == ["Alpha", "Bream, sea"]
    (tmp_path / "species.csv").write_text("folder,species,,\na,Alpha,,\nb,Bream, sea,\n")
    with pytest.raises(DatasetError, match=r"species\.csv, line 3: ' sea' in column 3, which"):
        load_dataset(tmp_path)
    (tmp_path / "species.csv").unlink()
    (tmp_path / "groups.csv").write_text("file,group,\na/1.png,g,\nb/1.png,trip, 2\n")
    with pytest.raises(DatasetError, match=r"groups\.csv, line 3: ' 2' in column 3, which"):
        load_dataset(tmp_path)


def test_a_groups_csv_group_that_is_an_images_own_rule_group_keeps_that_id(
    tmp_path: Path,
) -> None:
    """``--add-to`` writes each image's name-rule group out (``track:5``); a pack trained
    before recorded that id. A value is kept only when it is every listed image's own rule
    group, so a user's group that merely looks like one stays one group, as ``group:…``."""
    for name in ("a/fish_5_1.png", "a/fish_5_2.png", "a/x.png", "b/fish_6_1.png", "b/y.png"):
        _image(tmp_path / name)
    (tmp_path / "groups.csv").write_text(
        "file,group\na/fish_5_1.png,track:5\na/fish_5_2.png,track:5\na/x.png,file:a/x.png\n"
        "b/fish_6_1.png,track:7\nb/y.png,track:7\n"
    )
    groups = {s.relative: s.group for s in load_dataset(tmp_path).samples}
    assert groups == {
        "a/fish_5_1.png": "track:5", "a/fish_5_2.png": "track:5", "a/x.png": "file:a/x.png",
        "b/fish_6_1.png": "group:track:7", "b/y.png": "group:track:7",
    }  # fmt: skip
    # an image that is not track 5's, given "track:5": that value is one group for all it names
    (tmp_path / "groups.csv").write_text(
        "file,group\na/fish_5_1.png,track:5\na/fish_5_2.png,g\na/x.png,track:5\n"
        "b/fish_6_1.png,track:6\nb/y.png,g\n"
    )
    groups = {s.relative: s.group for s in load_dataset(tmp_path).samples}
    assert groups["a/fish_5_1.png"] == groups["a/x.png"] == "group:track:5"
    assert groups["b/fish_6_1.png"] == "track:6" != groups["a/fish_5_2.png"] == "group:g"


def test_a_species_name_no_record_may_hold_is_refused_naming_its_line(tmp_path: Path) -> None:
    """A pack naming a species with a right-to-left override made every catch of it
    unrecordable (the wire's Name refuses it): training refuses it where it is written."""
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "b" / "1.png")
    (tmp_path / "species.csv").write_text("folder,species\na,Alpha\nb,Gadus \u202emorhua\n")
    with pytest.raises(DatasetError, match=r"species.csv, line 3: species 'b'.*'\\u202e'"):
        load_dataset(tmp_path)
    (tmp_path / "species.csv").unlink()
    (tmp_path / "b").rename(tmp_path / "b\x1b[31m")  # named by its folder: refused the same
    with pytest.raises(DatasetError, match=r"species 'b\\x1b\[31m'.*'\\x1b'"):
        load_dataset(tmp_path)


def test_a_hand_written_name_beginning_with_an_apostrophe_is_read_as_written(
    tmp_path: Path,
) -> None:
    """The training export's escape is taken off only where it was put (an apostrophe
    before a formula's first character or another apostrophe): a hand-written name is not
    changed."""
    _image(tmp_path / "a" / "1.png")
    _image(tmp_path / "b" / "1.png")
    (tmp_path / "species.csv").write_text("folder,species\na,'Ula'ula\nb,O'Brien's fish\n")
    assert [s.name for s in load_dataset(tmp_path).species] == ["'Ula'ula", "O'Brien's fish"]
