"""Corrections become a training folder that ``jaga fish train`` reads, groups included."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference.fish.corrections import export_training_set
from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError
from inference.fish.images import read_image


def _photo(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (60, 80, 3), np.uint8))
    return path


def test_export_writes_species_folders_groups_and_names(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for i, name in enumerate(("dev0/IMG_1.jpg", "dev1/IMG_1.jpg", "dev0/IMG_2.jpg")):
        _photo(inbox / name, i)
    (inbox / "corrections.csv").write_text(
        "file,confirmed_species,group\n"
        "dev0/IMG_1.jpg,Lutjanus fulvus,trip-1\n"
        "dev1/IMG_1.jpg,Lutjanus fulvus,trip-2\n"
        "dev0/IMG_2.jpg,Zanclus cornutus,\n"
    )
    out = tmp_path / "set"
    assert export_training_set(inbox / "corrections.csv", out) == 3
    dataset = load_dataset(out)
    assert [s.name for s in dataset.species] == ["Lutjanus fulvus", "Zanclus cornutus"]
    assert dataset.group_source == "groups.csv"
    groups = sorted(s.group for s in dataset.samples)
    assert groups == ["group:file:dev0/IMG_2.jpg", "group:trip-1", "group:trip-2"]


def test_a_missing_or_corrupt_photo_stops_the_export_before_anything_is_copied(
    tmp_path: Path,
) -> None:
    _photo(tmp_path / "ok.png", 0)
    (tmp_path / "bad.png").write_bytes(b"garbage")
    (tmp_path / "c.csv").write_text("file,confirmed_species\nok.png,A\nbad.png,A\nmissing.png,B\n")
    with pytest.raises(DatasetError, match="2 corrections cannot be exported"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_columns_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("path,label\nx.png,A\n")
    with pytest.raises(DatasetError, match="file,confirmed_species"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")


def test_the_exports_provenance_columns_are_passed_over(tmp_path: Path) -> None:
    """The header ``jaga hub export-corrections`` and ``jaga store export-corrections`` write,
    ``pack_version`` included: every extra column is read past, none becomes a label."""
    _photo(tmp_path / "photos" / "p1.png", 0)
    _photo(tmp_path / "photos" / "p2.png", 1)
    (tmp_path / "corrections.csv").write_text(
        "file,confirmed_species,group,observation_uid,reviewed_by,observed_at,pack_version\n"
        "photos/p1.png,Lutjanus fulvus,trip:V/T-1,obs-1,o-2,2026-03-01T08:00:00Z,f4k-2026.03\n"
        "photos/p2.png,Zanclus cornutus,,obs-2,o-2,2026-03-01T09:00:00Z,\n"
    )
    out = tmp_path / "set"
    assert export_training_set(tmp_path / "corrections.csv", out) == 2
    dataset = load_dataset(out)
    assert [s.name for s in dataset.species] == ["Lutjanus fulvus", "Zanclus cornutus"]
    assert sorted(s.group for s in dataset.samples) == [
        "group:file:photos/p2.png",
        "group:trip:V/T-1",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "added-corrections.csv",  # so that a later --add-to can take these photos back
        "groups.csv",
        "lutjanus_fulvus",
        "species.csv",
        "zanclus_cornutus",
    ]


def test_the_packs_verdict_in_an_export_is_passed_over_and_older_exports_lack_it(
    tmp_path: Path,
) -> None:
    """The exports' header since they carry the verdict the reviewer overruled (``status``,
    ``status_reason``: a reason may hold commas), given with an older export without it."""
    _photo(tmp_path / "photos" / "p1.png", 0)
    _photo(tmp_path / "photos" / "p2.png", 1)
    _photo(tmp_path / "photos" / "p3.png", 2)  # another picture: one picture is one image
    (tmp_path / "new.csv").write_text(
        "file,confirmed_species,group,observation_uid,reviewed_by,observed_at,pack_version,"
        "crop_x,crop_y,crop_w,crop_h,status,status_reason\n"
        'photos/p1.png,Lutjanus fulvus,t,obs-1,o-2,2026-03-01,f4k-3,,,,,no_fish,"dark, blurred"\n'
        "photos/p2.png,Zanclus cornutus,t,obs-2,o-2,2026-03-01,f4k-3,0,0,20,20,unknown,\n"
    )
    (tmp_path / "old.csv").write_text(
        "file,confirmed_species,group,observation_uid,reviewed_by,observed_at,pack_version\n"
        "photos/p3.png,Lutjanus fulvus,t,obs-3,o-2,2026-02-01,f4k-2\n"
    )
    out = tmp_path / "set"
    assert export_training_set([tmp_path / "old.csv", tmp_path / "new.csv"], out) == 3
    assert [s.name for s in load_dataset(out).species] == ["Lutjanus fulvus", "Zanclus cornutus"]


CROPPED_HEADER = "file,confirmed_species,group,crop_x,crop_y,crop_w,crop_h\n"


def test_two_fish_of_one_photo_become_two_cropped_training_images(tmp_path: Path) -> None:
    source = _photo(tmp_path / "photos" / "deck.png", 3)  # 80 x 60, lossless
    (tmp_path / "corrections.csv").write_text(
        CROPPED_HEADER + "photos/deck.png,Lutjanus fulvus,o-1,0,10,30,40\n"
        "photos/deck.png,Zanclus cornutus,o-2,35,0,45,60\n"
        "photos/deck.png,Zanclus cornutus,o-3,,,,\n"  # the whole photo, as before boxes
    )
    out = tmp_path / "set"
    assert export_training_set(tmp_path / "corrections.csv", out) == 3
    photo = read_image(source)
    [lutjanus] = (out / "lutjanus_fulvus").iterdir()
    assert lutjanus.suffix == ".png"
    assert np.array_equal(read_image(lutjanus), photo[10:50, 0:30])
    zanclus = sorted((out / "zanclus_cornutus").iterdir(), key=lambda p: p.stat().st_size)
    assert [read_image(p).shape for p in zanclus] == [(60, 45, 3), (60, 80, 3)]
    assert np.array_equal(read_image(zanclus[0]), photo[0:60, 35:80])
    assert zanclus[1].read_bytes() == source.read_bytes()  # whole photos are copied as they are
    assert sorted(s.group for s in load_dataset(out).samples) == [
        "group:o-1",
        "group:o-2",
        "group:o-3",
    ]


@pytest.mark.parametrize(
    ("crop", "message"),
    [
        (
            "50,10,31,40",
            r"corrections.csv row 3: crop 31x40 at \(50, 10\) lies outside .* \(80x60\)",
        ),
        ("0,21,10,40", r"corrections.csv row 3: crop 10x40 at \(0, 21\) lies outside"),
        ("0,0,10,", "corrections.csv row 3: crop_x,crop_y,crop_w,crop_h must be four whole"),
        ("0,0,ten,10", "corrections.csv row 3: crop_x,crop_y,crop_w,crop_h must be four whole"),
        ("0,0,0,10", "corrections.csv row 3: crop 0,0,0,10 is not a box in a photo"),
        ("-1,0,5,10", "corrections.csv row 3: crop -1,0,5,10 is not a box in a photo"),
    ],
)
def test_a_crop_that_is_not_a_box_inside_its_photo_stops_the_export(
    tmp_path: Path, crop: str, message: str
) -> None:
    _photo(tmp_path / "deck.png", 4)
    (tmp_path / "corrections.csv").write_text(
        f"{CROPPED_HEADER}deck.png,Lutjanus fulvus,o-1,0,0,20,20\n"
        f"deck.png,Zanclus cornutus,o-2,{crop}\n"
    )
    with pytest.raises(DatasetError, match=message):
        export_training_set(tmp_path / "corrections.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_repeated_row_is_one_image_and_a_fish_of_two_species_is_refused(
    tmp_path: Path,
) -> None:
    _photo(tmp_path / "a.png", 0)
    _photo(tmp_path / "b.png", 1)
    (tmp_path / "c.csv").write_text("file,confirmed_species\na.png,A\nb.png,B\na.png,A\n")
    assert export_training_set(tmp_path / "c.csv", tmp_path / "once") == 2
    assert len(load_dataset(tmp_path / "once").samples) == 2
    (tmp_path / "c.csv").write_text("file,confirmed_species\na.png,A\nb.png,B\na.png,B\n")
    with pytest.raises(DatasetError, match=r"row 2 and c\.csv row 4 give .*a\.png"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_failure_while_writing_leaves_no_partial_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills after the first photo: the output folder stays empty, nothing of the
    staging folder is left beside it, and the export can simply be run again."""
    for name in ("a", "b", "c"):
        _photo(tmp_path / f"{name}.png", ord(name))
    (tmp_path / "c.csv").write_text("file,confirmed_species\na.png,A\nb.png,B\nc.png,C\n")
    out = tmp_path / "set"
    out.mkdir()
    copies: list[Path] = []

    def copy_then_fill(source: Path, target: Path) -> None:
        if copies:
            raise OSError(28, "No space left on device")
        copies.append(Path(shutil.copyfile(source, target)))

    monkeypatch.setattr(shutil, "copy2", copy_then_fill)
    with pytest.raises(DatasetError, match="No space left on device"):
        export_training_set(tmp_path / "c.csv", out)
    assert copies and list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.csv", "c.png", "set"]
    monkeypatch.undo()
    assert export_training_set(tmp_path / "c.csv", out) == 3


def test_one_observation_in_two_overlapping_exports_is_one_training_image(
    tmp_path: Path,
) -> None:
    """Two exports whose CSVs were put together each wrote the photo of obs-1: its own
    file in each, one fish. Confirmed as another species in the later one, it is an error
    that names both rows rather than two labels for one fish."""
    for export in ("monday", "tuesday"):
        _photo(tmp_path / export / "photos" / "p1.png", 0)
    header = "file,confirmed_species,group,observation_uid\n"
    rows = "monday/photos/p1.png,A,trip-1,obs-1\ntuesday/photos/p1.png,A,trip-1,obs-1\n"
    (tmp_path / "c.csv").write_text(header + rows)
    assert export_training_set(tmp_path / "c.csv", tmp_path / "once") == 1
    (tmp_path / "c.csv").write_text(
        header + rows.replace("tuesday/photos/p1.png,A", "tuesday/photos/p1.png,B")
    )
    with pytest.raises(DatasetError, match=r"row 2 and c\.csv row 3"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")


def test_consecutive_exports_given_together_take_each_fishs_latest_verdict(
    tmp_path: Path,
) -> None:
    """Monday's export and Tuesday's overlap on obs-1, re-reviewed in between: given both,
    oldest first, obs-1 is one image under Tuesday's species, and obs-2 is kept."""
    header = "file,confirmed_species,group,observation_uid\n"
    monday, tuesday = tmp_path / "monday", tmp_path / "tuesday"
    _photo(monday / "photos" / "p1.png", 0)
    _photo(monday / "photos" / "p2.png", 1)
    _photo(tuesday / "photos" / "p1.png", 0)
    (monday / "corrections.csv").write_text(
        header + "photos/p1.png,A,trip-1,obs-1\nphotos/p2.png,A,trip-1,obs-2\n"
    )
    (tuesday / "corrections.csv").write_text(header + "photos/p1.png,B,trip-1,obs-1\n")
    csvs = [monday / "corrections.csv", tuesday / "corrections.csv"]
    assert export_training_set(csvs, tmp_path / "set") == 2
    samples = load_dataset(tmp_path / "set").samples
    assert sorted(sample.species_id for sample in samples) == ["a", "b"]
    assert len(list((tmp_path / "set" / "b").glob("p1-*.png"))) == 1
    assert len(list((tmp_path / "set" / "a").glob("p2-*.png"))) == 1
    assert export_training_set(csvs[::-1], tmp_path / "reversed") == 2  # Monday's now wins
    assert not (tmp_path / "reversed" / "b").exists()


def test_species_an_export_wrote_as_text_for_spreadsheets_are_read_as_named(
    tmp_path: Path,
) -> None:
    """The writer escapes a cell a spreadsheet would run as a formula with an apostrophe
    (``sync.corrections``); the reader takes it off, and only that one: each species comes
    back exactly as reviewed, one that begins with an apostrophe too."""
    from sync.corrections import Correction, CorrectionsExport

    names = ["=Gadus morhua", "-Lutjanus sebae", "@Chromis chrysura", "'Ula'ula", "'=Zanclus"]
    export = tmp_path / "export"
    with CorrectionsExport(export) as writing:
        for number, name in enumerate(names):
            image = np.random.default_rng(number).integers(0, 255, (60, 80, 3), np.uint8)
            data = cv2.imencode(".png", image)[1].tobytes()
            writing.add(
                Correction(
                    observation_uid=f"obs-{number}",
                    confirmed_species=name,
                    photo_uid=f"photo-{number}",
                    media_type="image/png",
                    photo_sha256=hashlib.sha256(data).hexdigest(),
                    photo=data,
                    observed_at="2026-03-01T08:00:00.000000Z",
                    reviewed_by="@reviewer",
                )
            )
    assert export_training_set(export / "corrections.csv", tmp_path / "set") == len(names)
    assert sorted(s.name for s in load_dataset(tmp_path / "set").species) == sorted(names)


def _cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_the_training_sets_csvs_write_a_formula_as_text_and_read_it_back(tmp_path: Path) -> None:
    """species.csv and groups.csv are opened in spreadsheets too: a species or group that
    would run as a formula is written as text, and training reads each back as named."""
    from sync.spreadsheet_text import FORMULA_STARTS, spreadsheet_cell

    names = {"a.png": ("=HYPERLINK(x)", "-trip"), "b.png": ("'Ula'ula", "@trip"),
             "c.png": ("Gadus morhua", "+trip")}  # fmt: skip
    rows = [["file", "confirmed_species", "group"]]
    for number, (file, (name, group)) in enumerate(names.items()):
        _photo(tmp_path / file, number)
        rows.append([file, spreadsheet_cell(name), spreadsheet_cell(group)])
    with (tmp_path / "corrections.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    out = tmp_path / "set"
    assert export_training_set(tmp_path / "corrections.csv", out) == len(names)
    for written in ("species.csv", "groups.csv"):
        assert [c for c in _cells(out / written) if c.startswith(FORMULA_STARTS)] == [], written
    dataset = load_dataset(out)
    assert sorted(s.name for s in dataset.species) == sorted(n for n, _ in names.values())
    groups = sorted(f"group:{group}" for _, group in names.values())
    assert sorted(s.group for s in dataset.samples) == groups


def test_the_cli_takes_several_exports(tmp_path: Path) -> None:
    from main import main

    header = "file,confirmed_species,group,observation_uid\n"
    for day, species in (("monday", "A"), ("tuesday", "B")):
        _photo(tmp_path / day / "p1.png", 0)
        (tmp_path / day / "corrections.csv").write_text(header + f"p1.png,{species},t,obs-1\n")
    csvs = [str(tmp_path / day / "corrections.csv") for day in ("monday", "tuesday")]
    out = tmp_path / "set"
    assert main(["fish", "export-training-set", "--corrections", *csvs, "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir() if p.is_dir()] == ["b"]


def test_case_and_spacing_make_no_second_species(
    tmp_path: Path, default_species_pack: Path
) -> None:
    """Two officers typed one species two ways: one class, the pack's, as the stores group
    them (``sync.corrections.species_key``)."""
    for i in range(4):
        _photo(tmp_path / f"{i}.png", i)
    (tmp_path / "c.csv").write_text(
        "file,confirmed_species\n0.png,Chromis chrysura\n1.png,  chromis   CHRYSURA \n"
        "2.png,Lutjanus sebae\n3.png,Lutjanus   sebae\n"
    )
    out = tmp_path / "set"
    assert export_training_set(tmp_path / "c.csv", out, species_pack=default_species_pack) == 4
    folders = sorted(path.name for path in out.iterdir() if path.is_dir())
    assert folders == ["fish_03", "lutjanus_sebae"]  # the second: not in the pack
    dataset = load_dataset(out)
    assert sorted(s.name for s in dataset.species) == ["Chromis chrysura", "Lutjanus sebae"]


def test_the_species_key_of_the_export_is_the_stores() -> None:
    """inference and sync never import each other, so each holds the rule; they must agree."""
    from inference.fish.types import species_key
    from sync.corrections import species_key as stores_key

    nfc, nfd = unicodedata.normalize("NFC", "Kérapu"), unicodedata.normalize("NFD", "Kérapu")
    typed_ways = (
        "Gadus morhua",
        "  gadus\tMORHUA ",
        "Straße",
        "STRASSE",
        "a  b\u00a0c",
        "",
        nfc,
        nfd,
    )
    for typed in typed_ways:
        assert species_key(typed) == stores_key(typed)
    assert species_key(nfd) == species_key(nfc.upper()) == stores_key(nfd) == "kérapu"


def test_unicode_forms_make_no_second_species(tmp_path: Path) -> None:
    """'Kérapu' typed on Linux or Windows (NFC) and on a Mac (NFD) is one folder, one
    species, named in NFC; not 'k_rapu' and 'ke_rapu' both shown as 'Kérapu'."""
    nfc, nfd = unicodedata.normalize("NFC", "Kérapu"), unicodedata.normalize("NFD", "Kérapu")
    for i in range(3):
        _photo(tmp_path / f"{i}.png", i)
    (tmp_path / "c.csv").write_text(
        f"file,confirmed_species\n0.png,{nfc}\n1.png,{nfd}\n2.png,Lutjanus sebae\n",
        encoding="utf-8",
    )
    out = tmp_path / "set"
    assert export_training_set(tmp_path / "c.csv", out) == 3
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == [
        "k_rapu",
        "lutjanus_sebae",
    ]
    assert [s.name for s in load_dataset(out).species] == [nfc, "Lutjanus sebae"]


def test_a_cell_beyond_the_header_or_under_a_blank_heading_is_refused(tmp_path: Path) -> None:
    """An unquoted comma in a hand-edited name (Bream, sea) left ' sea' past the header, and
    the fish was exported as 'Bream' without a word (review r2 device, 6). The exports' own
    further columns are still read past, as ones a later export adds."""
    _photo(tmp_path / "a.png", 0)
    for text in (
        "file,confirmed_species\na.png,Bream, sea\n",
        "file,confirmed_species,\na.png,Bream, sea\n",  # Excel pads a header with commas
    ):
        (tmp_path / "c.csv").write_text(text)
        with pytest.raises(DatasetError, match=r"c\.csv, line 2: ' sea' "):
            export_training_set(tmp_path / "c.csv", tmp_path / "out")
    (tmp_path / "c.csv").write_text('file,confirmed_species,,later\na.png,"Bream, sea",,x\n')
    assert export_training_set(tmp_path / "c.csv", tmp_path / "out") == 1
    assert [s.name for s in load_dataset(tmp_path / "out").species] == ["Bream, sea"]


@pytest.mark.parametrize("kind", ["named pipe", "/dev/zero", "folder"])
def test_a_corrections_file_that_is_not_a_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    """A named pipe waited for a writer for ever."""
    path = {"named pipe": tmp_path / "c.csv", "/dev/zero": Path("/dev/zero")}.get(kind, tmp_path)
    if kind == "named pipe":
        os.mkfifo(path)
    refused = "is not a corrections file \\(a device, a pipe or a folder"
    with pytest.raises(DatasetError, match=refused):
        export_training_set(path, tmp_path / "set")


RETRACTION_HEADER = "file,confirmed_species,group,observation_uid,not_a_fish\n"


def test_a_later_not_a_fish_row_drops_the_label_an_older_export_gave(tmp_path: Path) -> None:
    """Monday's export (written before the column existed) labels obs-1 and obs-2; obs-1 was
    answered not a fish since, and Tuesday's export holds only that retraction."""
    monday, tuesday = tmp_path / "monday", tmp_path / "tuesday"
    _photo(monday / "p1.png", 0)
    _photo(monday / "p2.png", 1)
    (monday / "corrections.csv").write_text(
        "file,confirmed_species,group,observation_uid\np1.png,A,t,obs-1\np2.png,B,t,obs-2\n"
    )
    tuesday.mkdir()
    (tuesday / "corrections.csv").write_text(RETRACTION_HEADER + ",,,obs-1,1\n")
    csvs = [monday / "corrections.csv", tuesday / "corrections.csv"]
    assert export_training_set(csvs, tmp_path / "set") == 1
    assert [s.species_id for s in load_dataset(tmp_path / "set").samples] == ["b"]
    _photo(tmp_path / "wed" / "p1.png", 0)  # named a species again: the later verdict wins
    (tmp_path / "wed" / "corrections.csv").write_text(RETRACTION_HEADER + "p1.png,A,t,obs-1,\n")
    assert export_training_set([*csvs, tmp_path / "wed" / "corrections.csv"], tmp_path / "s2") == 2


def test_a_csv_of_retractions_alone_is_read_and_a_bad_retraction_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "c.csv").write_text(RETRACTION_HEADER + ",,,obs-1,1\n")
    with pytest.raises(DatasetError, match="answered not a fish; nothing to train on"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")
    (tmp_path / "c.csv").write_text(RETRACTION_HEADER + ",,,,1\n")
    with pytest.raises(DatasetError, match="row 2: a not_a_fish row needs the observation_uid"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")
    _photo(tmp_path / "p1.png", 0)
    (tmp_path / "c.csv").write_text(RETRACTION_HEADER + "p1.png,A,t,obs-1,\n,,,obs-1,1\n")
    with pytest.raises(DatasetError, match="as a in t and as not a fish"):
        export_training_set(tmp_path / "c.csv", tmp_path / "out")


def test_an_empty_export_among_others_is_passed_over_and_alone_is_refused(
    tmp_path: Path,
) -> None:
    """A day with nothing reviewed gives a header-only export; the README says to give every
    export's CSV, so one among others adds nothing rather than stopping the set. Given alone,
    or with only other empty ones, there is nothing to train on: refused, naming them."""
    header = "file,confirmed_species,group,observation_uid\n"
    monday, tuesday = tmp_path / "monday", tmp_path / "tuesday"
    _photo(monday / "photos" / "p1.png", 0)
    (monday / "corrections.csv").write_text(header + "photos/p1.png,A,trip-1,obs-1\n")
    tuesday.mkdir()
    (tuesday / "corrections.csv").write_text(header)
    csvs = [monday / "corrections.csv", tuesday / "corrections.csv"]
    assert export_training_set(csvs, tmp_path / "set") == 1
    with pytest.raises(DatasetError, match="holds no corrections"):
        export_training_set([tuesday / "corrections.csv"], tmp_path / "alone")
    assert not (tmp_path / "alone").exists()


def test_the_readers_unescape_undoes_the_writers_escape() -> None:
    """inference and sync never import each other, so each holds its half of the rule."""
    from inference.fish.csv_files import spreadsheet_text
    from sync.spreadsheet_text import spreadsheet_cell

    texts = ["", "Gadus morhua", "=1+1", "+", "-7", "@x", "\tx", "\rx", "'", "''", "'=x", "'Ula",
             "''=x", "a=b", " =x"]  # fmt: skip
    for text in texts:
        assert spreadsheet_text(spreadsheet_cell(text)) == text
    assert spreadsheet_text("'Ula'ula") == "'Ula'ula"  # an export written before the escape
    from inference.fish.csv_files import spreadsheet_cell as training_sets_cell

    for text in texts:  # the training set's CSVs are written by sync's rule
        assert training_sets_cell(text) == spreadsheet_cell(text)


def test_the_packs_names_refuse_what_the_wires_name_refuses() -> None:
    """inference and sync never import each other, so each holds the rule of the characters
    no name may hold; a pack's species name passes where the wire's Name does."""
    from inference.fish import types
    from sync.protocol import names

    assert types.BIDI_CONTROLS == names.BIDI_CONTROLS
    for code in range(0x110000):
        text = f"a{chr(code)}b"
        assert types.hidden_characters(text) == names.hidden_characters(text), hex(code)
