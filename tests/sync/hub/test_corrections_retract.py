"""A "not a fish" answer given after a hub export named the fish's species takes that label
back: the next export carries a retraction row, and ``export-training-set`` given both
exports (oldest first) leaves the photo out. A not-a-fish answer on a photo another
observation names as a species makes that photo conflicting, as two species do."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from inference.fish.corrections import export_training_set
from sync.corrections import CORRECTIONS_CSV
from sync.hub import review
from sync.hub.corrections import export_corrections
from sync.hub.models import FishObservation
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_corrections import another_boat, catch
from tests.sync.images import photo_bytes

pytestmark = pytest.mark.usefixtures("species_packs_removed")


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _images(folder: Path) -> list[str]:
    return sorted(p.parent.name for p in folder.rglob("*") if p.suffix in (".jpg", ".png"))


def test_a_not_a_fish_answer_after_an_export_retracts_the_label_in_the_next(
    api: Api, tmp_path: Path
) -> None:
    face = catch(api, 1, photo=photo_bytes(3), species="Chromis chrysura")
    kept = catch(api, 2, photo=photo_bytes(5), species="Dascyllus reticulatus")
    first = export_corrections(tmp_path / "e1", site=api.site)
    assert first.summary.written == 2
    stored = FishObservation.objects.get(uid=face["observation_uid"])
    review.answer_not_a_fish(stored.pk, "second-reviewer")
    second = export_corrections(tmp_path / "e2", site=api.site, since=first.resume_from)

    assert second.summary.written == 0 and second.summary.retracted == 1
    [row] = _rows(tmp_path / "e2")
    assert row["observation_uid"] == face["observation_uid"]
    assert (row["not_a_fish"], row["file"], row["confirmed_species"]) == ("1", "", "")
    assert all(r["not_a_fish"] == "" for r in _rows(tmp_path / "e1"))

    csvs = [tmp_path / "e1" / CORRECTIONS_CSV, tmp_path / "e2" / CORRECTIONS_CSV]
    assert export_training_set(csvs, tmp_path / "train") == 1
    assert _images(tmp_path / "train") == ["dascyllus_reticulatus"]
    assert kept["observation_uid"] != face["observation_uid"]


def test_a_species_confirmed_again_after_a_retraction_is_trained_on_again(
    api: Api, tmp_path: Path
) -> None:
    """Oldest first, the later verdict wins either way."""
    face = catch(api, 1, photo=photo_bytes(3), species="Chromis chrysura")
    first = export_corrections(tmp_path / "e1", site=api.site)
    stored = FishObservation.objects.get(uid=face["observation_uid"])
    review.answer_not_a_fish(stored.pk, "second-reviewer")
    second = export_corrections(tmp_path / "e2", site=api.site, since=first.resume_from)
    review.correct_species(stored.pk, "Chromis chrysura", "third-reviewer")
    export_corrections(tmp_path / "e3", site=api.site, since=second.resume_from)
    csvs = [tmp_path / name / CORRECTIONS_CSV for name in ("e1", "e2", "e3")]
    assert export_training_set(csvs, tmp_path / "train") == 1
    assert _images(tmp_path / "train") == ["chromis_chrysura"]


def test_a_not_a_fish_answer_on_a_shared_photo_leaves_it_out_as_conflicting(
    api: Api, tmp_path: Path
) -> None:
    a = catch(api, 1, photo=photo_bytes(4), species="Chromis chrysura")
    b = catch(another_boat(api), 2, photo_uid=a["photo_uid"])
    review.answer_not_a_fish(FishObservation.objects.get(uid=b["observation_uid"]).pk, "r2")
    report = export_corrections(tmp_path / "e", site=api.site)
    assert (report.summary.written, report.summary.conflicting) == (0, 1)
    assert not any(row["file"] for row in _rows(tmp_path / "e"))


@pytest.mark.parametrize("later", ["Dascyllus reticulatus", None])
def test_a_photo_conflicting_after_an_export_loses_the_label_that_export_gave(
    api: Api, tmp_path: Path, later: str | None
) -> None:
    """A second observation of an exported photo names another species (or answers not a
    fish): the next export retracts the first one's label as well as leaving the photo out."""
    first_fish = catch(api, 1, photo=photo_bytes(4), species="Chromis chrysura")
    kept = catch(api, 2, photo=photo_bytes(5), species="Chromis chrysura")
    first = export_corrections(tmp_path / "e1", site=api.site)
    second_fish = catch(another_boat(api), 3, photo_uid=first_fish["photo_uid"], species=later)
    if later is None:
        stored = FishObservation.objects.get(uid=second_fish["observation_uid"])
        review.answer_not_a_fish(stored.pk, "r2")
    second = export_corrections(tmp_path / "e2", site=api.site, since=first.resume_from)

    assert (second.summary.written, second.summary.conflicting) == (0, 1)
    csvs = [tmp_path / "e1" / CORRECTIONS_CSV, tmp_path / "e2" / CORRECTIONS_CSV]
    assert export_training_set(csvs, tmp_path / "train") == 1
    retracted = {r["observation_uid"] for r in _rows(tmp_path / "e2") if r["conflicting"] == "1"}
    assert retracted == {first_fish["observation_uid"], second_fish["observation_uid"]}
    assert _images(tmp_path / "train") == ["chromis_chrysura"]
    assert kept["observation_uid"] not in retracted


def test_a_not_a_fish_answer_on_a_byte_identical_copy_leaves_the_named_copy_out(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One picture uploaded twice, under two photo ids: one copy named a species, the other
    answered not a fish. The export cannot tell (it keys photos by id), but its retraction
    row carries the copy's sha256, and export-training-set leaves both out, naming them."""
    named = catch(api, 1, photo=photo_bytes(4), species="Chromis chrysura")
    copy = catch(api, 2, photo=photo_bytes(4))
    assert copy["photo_uid"] != named["photo_uid"]
    review.answer_not_a_fish(FishObservation.objects.get(uid=copy["observation_uid"]).pk, "r2")
    catch(api, 3, photo=photo_bytes(5), species="Dascyllus reticulatus")
    export_corrections(tmp_path / "e", site=api.site)
    notes: list[str] = []
    assert (
        export_training_set(tmp_path / "e" / CORRECTIONS_CSV, tmp_path / "t", say=notes.append) == 1
    )
    assert _images(tmp_path / "t") == ["dascyllus_reticulatus"]
    assert any(named["photo_uid"] in note and "not a fish" in note for note in notes)


def test_two_hub_exports_given_newest_first_read_oldest_first(api: Api, tmp_path: Path) -> None:
    face = catch(api, 1, photo=photo_bytes(3), species="Chromis chrysura")
    catch(api, 2, photo=photo_bytes(5), species="Dascyllus reticulatus")
    first = export_corrections(tmp_path / "e1", site=api.site)
    review.answer_not_a_fish(FishObservation.objects.get(uid=face["observation_uid"]).pk, "r2")
    export_corrections(tmp_path / "e2", site=api.site, since=first.resume_from)
    csvs = [tmp_path / "e2" / CORRECTIONS_CSV, tmp_path / "e1" / CORRECTIONS_CSV]
    assert export_training_set(csvs, tmp_path / "train") == 1
    assert _images(tmp_path / "train") == ["dascyllus_reticulatus"]


def test_a_conflicting_photo_leaves_its_byte_identical_copy_out_of_training(
    api: Api, tmp_path: Path
) -> None:
    """One picture uploaded twice: the first copy's observations disagree, so the export's
    conflicting rows carry its sha256 (and box), and the copy named alone is left out."""
    first = catch(api, 1, photo=photo_bytes(4), species="Chromis chrysura")
    copy = catch(api, 2, photo=photo_bytes(4), species="Chromis chrysura")
    assert copy["photo_uid"] != first["photo_uid"]
    catch(another_boat(api), 3, photo_uid=first["photo_uid"], species="Dascyllus reticulatus")
    catch(api, 4, photo=photo_bytes(5), species="Dascyllus reticulatus")
    report = export_corrections(tmp_path / "e", site=api.site)

    assert (report.summary.written, report.summary.conflicting) == (2, 1)
    retractions = [r for r in _rows(tmp_path / "e") if r["conflicting"] == "1"]
    assert len(retractions) == 2
    assert {r["photo_sha256"] for r in retractions} == {hashlib.sha256(photo_bytes(4)).hexdigest()}
    notes: list[str] = []
    csv_file = tmp_path / "e" / CORRECTIONS_CSV
    assert export_training_set(csv_file, tmp_path / "t", say=notes.append) == 1
    assert _images(tmp_path / "t") == ["dascyllus_reticulatus"]
    assert any(copy["photo_uid"] in note for note in notes)
