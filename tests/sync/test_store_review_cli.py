"""``jaga store review|confirm|export-corrections``: the device's half of the fish review loop."""

from __future__ import annotations

import csv
import hashlib
import os
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from inference.fish.corrections import export_training_set
from inference.fish.images import read_image
from sync.client.apply import apply_page
from sync.corrections import CORRECTIONS_CSV, CorrectionsExport, stamp_text
from sync.protocol import Change
from sync.store import (
    FishObservation,
    Passphrase,
    Photo,
    PredictionStatus,
    SpeciesScore,
    Store,
)
from sync.store.clock import format_timestamp
from sync.store.corrections import export_corrections
from sync.store.edit_clock import note_hub_time
from sync.store.photos import load_photo
from sync.store.records import Crop
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub import entries
from tests.sync.images import photo_bytes as image
from tests.sync.test_store_cli import PASSPHRASE, cli_store, jaga

__all__ = ["cli_store"]  # the fixture, shared with the store's other commands

COD, HADDOCK = "Gadus morhua", "Melanogrammus aeglefinus"


@pytest.fixture
def db(cli_store: Path) -> Path:
    """A store made by ``jaga store init``; the commands find it through the environment."""
    return cli_store


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store.open(db, Passphrase(PASSPHRASE), clock=FakeClock(), config=FAST) as opened:
        yield opened


def observation(
    store: Store,
    minutes: int,
    *,
    review: bool = True,
    confirmed: str | None = None,
    trip: str | None = "T-1",
    photo: Photo | None = None,
    photo_uid: str | None = None,
    pack_version: str | None = None,
    crop: Crop | None = None,
    status: PredictionStatus | None = None,
    status_reason: str | None = None,
    crop_known: bool = True,
) -> FishObservation:
    """Record an observation ``minutes`` after the fake clock's start."""
    at = FakeClock().now() + timedelta(minutes=minutes)
    recorded = FishObservation(
        observed_at=at,
        predictions=(SpeciesScore(COD, 0.62), SpeciesScore(HADDOCK, 0.3)),
        needs_review=review,
        officer="officer-7",
        confirmed_species=confirmed,
        vessel="V-12" if trip else None,
        trip=trip,
        photo_uid=photo_uid,
        reviewed_by="officer-1" if confirmed else None,
        reviewed_at=at if confirmed else None,
        pack_version=pack_version,
        crop=crop,
        status=status,
        status_reason=status_reason,
        crop_known=crop_known,
    )
    if status is PredictionStatus.NO_FISH:  # the quality gate gives no candidates
        recorded = replace(recorded, predictions=())
    return store.observations.add(recorded, photo)


def jpeg_photo(seed: int, media_type: str = "image/jpeg") -> Photo:
    return Photo(image(seed), media_type, FakeClock().now())


def test_review_lists_only_the_flagged_observations_newest_first(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    later = observation(store, 30, pack_version="f4k-2026.03", crop=Crop(5, 6, 40, 30))
    first = observation(store, 10, trip=None)
    settled = observation(store, 20, review=False, confirmed=COD)
    assert jaga("store", "review") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 fish observations recorded here flagged for review, newest first:"
    assert out[1].startswith(f"{later.observation_uid}  2026-03-01T08:30:00Z  ")
    assert out[1].endswith(
        "  pack f4k-2026.03  box 40x30 at (5, 6)  vessel/trip V-12/T-1  officer officer-7"
    )
    assert out[2] == (
        f"{first.observation_uid}  2026-03-01T08:10:00Z  {COD} 0.62, {HADDOCK} 0.30"
        "  pack -  whole photo  vessel/trip -/-  officer officer-7"
    )
    assert settled.observation_uid not in "\n".join(out)
    assert out[-2].startswith("confirm one with: jaga store confirm")
    assert out[-1] == "jaga store review --site: those pulled from the hub too"


def pulled_from_the_hub(store: Store, count: int) -> list[str]:
    """``count`` flagged catches of another boat, applied as a pull applies them."""
    changes = [
        Change(
            cursor=n + 1,
            entity="fish_observation",
            entity_uid=uid,
            operation="upsert",
            payload=entries.observation(
                str(uid),
                observed_at=format_timestamp(FakeClock().now() + timedelta(minutes=n)),
                notes="other boat",
            ),
            changed_at=FakeClock().now(),
            origin_device=uuid.uuid4(),
        )
        for n, uid in enumerate(uuid.uuid4() for _ in range(count))
    ]
    apply_page(store, "north-gate", changes, count, device=uuid.uuid4())
    return [str(change.entity_uid) for change in changes]


def test_review_lists_this_devices_catches_not_those_pulled_unless_asked(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A busy site: the boat pulls other boats' flagged catches, some newer than its own.
    The officer reviews the fish he saw: this device's, newest first; ``--site`` lists
    every flagged catch on the device, marking those pulled from the hub."""
    own = observation(store, 5)
    newest_own = observation(store, 8)
    theirs = pulled_from_the_hub(store, 4)  # minutes 0 to 3
    assert jaga("store", "review", "--limit", "1") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 fish observation recorded here flagged for review, newest first:"
    assert out[1].startswith(newest_own.observation_uid) and "pulled" not in out[1]
    assert out[2] == "more are flagged than these 1: raise --limit to see them"
    assert "--site" in out[-1]  # how to see the others

    assert jaga("store", "review", "--site") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "6 fish observations on this site flagged for review, newest first:"
    listed = [line.split()[0] for line in out[1:7]]
    expected = [newest_own.observation_uid, own.observation_uid, *reversed(theirs)]
    assert listed == expected
    assert [line.endswith("  pulled from the hub") for line in out[1:7]] == [False] * 2 + [True] * 4


def test_review_says_where_this_device_was_never_told_the_box(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    pulled = FishObservation(  # pulled on protocol 2, which does not carry the box
        observed_at=FakeClock().now(), predictions=(SpeciesScore(COD, 0.62),),
        needs_review=True, officer="officer-7", crop_known=False,
    )  # fmt: skip
    store.observations.add(pulled)
    assert jaga("store", "review") == 0
    assert "  pack -  box not known here  vessel/trip" in capsys.readouterr().out


def test_review_says_where_the_pack_named_no_species(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    observation(store, 10, status=PredictionStatus.UNKNOWN)
    blank = "image is blank (one flat colour)"
    observation(store, 20, status=PredictionStatus.NO_FISH, status_reason=blank)
    assert jaga("store", "review") == 0
    out = capsys.readouterr().out.splitlines()
    assert f"  no fish ({blank})  pack -" in out[1]  # the newer
    assert f"  unknown species, candidates {COD} 0.62, {HADDOCK} 0.30  pack -" in out[2]


def test_review_says_when_the_limit_hides_some(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    observation(store, 1)
    newest = observation(store, 2)
    assert jaga("store", "review", "--limit", "1") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 fish observation recorded here flagged for review, newest first:"
    assert out[1].startswith(newest.observation_uid)
    assert out[2] == "more are flagged than these 1: raise --limit to see them"


def test_review_of_an_empty_queue_and_a_bad_limit(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jaga("store", "review") == 0
    assert capsys.readouterr().out == (
        "no fish observations recorded here are flagged for review"
        " (jaga store review --site: those pulled from the hub too)\n"
    )
    with pytest.raises(SystemExit) as usage:
        jaga("store", "review", "--limit", "0")
    assert usage.value.code == 2
    assert "expected a whole number of at least 1, got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # more than SQLite's INTEGER: was a traceback
        jaga("store", "review", "--limit", "99999999999999999999999")
    assert usage.value.code == 2
    assert "expected a whole number from 1 to 1000000000000" in capsys.readouterr().err
    assert jaga("store", "review", "--limit", "1000000000000") == 0  # "all of them"


def test_confirm_takes_one_off_the_queue_records_the_officer_and_queues_it(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    target = observation(store, 1)
    other = observation(store, 2)
    before = len(store.outbox.entries())
    assert jaga("store", "confirm", target.observation_uid, f" {HADDOCK} ", "--officer", "o-2") == 0
    assert capsys.readouterr().out == (
        f"confirmed {target.observation_uid} as {HADDOCK} (reviewed by o-2); queued for the hub\n"
    )
    confirmed = store.observations.get(target.observation_uid)
    assert (confirmed.confirmed_species, confirmed.needs_review) == (HADDOCK, False)
    assert confirmed.reviewed_by == "o-2" and confirmed.reviewed_at is not None
    assert [o.observation_uid for o in store.observations.review_queue()] == [other.observation_uid]
    entries = store.outbox.entries()
    assert len(entries) == before + 1
    queued = entries[-1]
    assert (queued.entity, queued.entity_uid, queued.state) == (
        "fish_observation",
        target.observation_uid,
        "queued",
    )
    payload = queued.payload()
    assert (payload["confirmed_species"], payload["reviewed_by"]) == (HADDOCK, "o-2")
    assert payload["needs_review"] is False


def test_confirming_an_unknown_uid_is_one_clear_line_and_changes_nothing(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    flagged = observation(store, 1)
    before = store.outbox.entries()
    assert jaga("store", "confirm", "no-such-uid", COD, "--officer", "o-2") == 1
    assert capsys.readouterr().err == "jaga: error: no fish observation no-such-uid\n"
    assert store.outbox.entries() == before
    assert store.observations.get(flagged.observation_uid) == flagged


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("  ", "--officer", "o-2"), "argument SPECIES: species must not be empty"),
        ((COD, "--officer", " "), "argument --officer: officer must not be empty"),
        ((COD,), "the following arguments are required: --officer"),
    ],
)
def test_an_empty_species_or_officer_is_a_usage_error_that_changes_nothing(
    store: Store, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    flagged = observation(store, 1)
    before = store.outbox.entries()
    with pytest.raises(SystemExit) as usage:
        jaga("store", "confirm", flagged.observation_uid, *argv)
    assert usage.value.code == 2
    assert message in capsys.readouterr().err
    assert store.outbox.entries() == before
    assert store.observations.get(flagged.observation_uid) == flagged


def test_not_a_fish_takes_one_off_the_queue_with_no_species_and_queues_the_answer(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A face photo the pack answered ``no_fish``: the reviewer clears it without naming a
    species, and the answer travels as a confirmation does, naming the reviewer."""
    face = observation(store, 1, status=PredictionStatus.NO_FISH, status_reason="like none")
    other = observation(store, 2)
    uid = face.observation_uid
    assert jaga("store", "confirm", uid, "--not-a-fish", "--officer", "o-2") == 0
    assert capsys.readouterr().out == (
        f"answered {uid}: not a fish (reviewed by o-2); it will not be used for training;"
        " queued for the hub\n"
    )
    answered = store.observations.get(uid)
    assert (answered.confirmed_species, answered.needs_review) == (None, False)
    assert answered.reviewed_by == "o-2" and answered.reviewed_at is not None
    assert answered.not_a_fish and not other.not_a_fish
    assert [o.observation_uid for o in store.observations.review_queue()] == [other.observation_uid]
    queued = store.outbox.entries()[-1]
    assert (queued.entity, queued.entity_uid) == ("fish_observation", uid)
    payload = queued.payload()
    assert (payload["confirmed_species"], payload["reviewed_by"]) == (None, "o-2")
    assert payload["needs_review"] is False and payload["status"] == "no_fish"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((COD, "--not-a-fish"), "argument --not-a-fish: not allowed with argument SPECIES"),
        ((), "one of the arguments SPECIES --not-a-fish is required"),
    ],
)
def test_confirm_takes_a_species_or_not_a_fish_never_both_nor_neither(
    store: Store, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    flagged = observation(store, 1)
    before = store.outbox.entries()
    with pytest.raises(SystemExit) as usage:
        jaga("store", "confirm", flagged.observation_uid, *argv, "--officer", "o-2")
    assert usage.value.code == 2
    assert message in capsys.readouterr().err
    assert store.outbox.entries() == before
    assert store.observations.get(flagged.observation_uid) == flagged


def test_not_a_fish_with_new_species_is_refused_as_a_contradiction(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--new-species`` says a typed species is new; with ``--not-a-fish`` there is none,
    so the pair is a slip, not an answer to store."""
    flagged = observation(store, 1)
    before = store.outbox.entries()
    argv = (flagged.observation_uid, "--not-a-fish", "--new-species", "--officer", "o-2")
    assert jaga("store", "confirm", *argv) == 1
    assert "--new-species names a species; --not-a-fish gives none" in capsys.readouterr().err
    assert store.outbox.entries() == before
    assert store.observations.get(flagged.observation_uid) == flagged


def test_a_photo_answered_not_a_fish_is_never_exported_for_training(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even one confirmed as a species before (a wrong guess): the later answer stands."""
    cod = observation(store, 1, photo=jpeg_photo(1))
    face = observation(store, 2, photo=jpeg_photo(2), status=PredictionStatus.NO_FISH)
    guessed = observation(store, 3, review=False, confirmed=COD, photo=jpeg_photo(3))
    store.observations.confirm(cod.observation_uid, COD, officer="o-2")
    store.observations.answer_not_a_fish(face.observation_uid, officer="o-2")
    store.observations.answer_not_a_fish(guessed.observation_uid, officer="o-3")
    out = tmp_path / "corrections"

    assert jaga("store", "export-corrections", "--out", str(out)) == 0

    assert capsys.readouterr().out.splitlines()[0] == f"1 confirmed photo written to {out}"
    labels = [r for r in read_rows(out) if r["not_a_fish"] != "1"]
    assert [r["observation_uid"] for r in labels] == [cod.observation_uid]
    written = sorted(str(p.relative_to(out)) for p in (out / "photos").iterdir())
    assert written == [r["file"] for r in labels]


def test_a_not_a_fish_answer_retracts_the_label_an_earlier_export_gave(
    store: Store, tmp_path: Path
) -> None:
    """Given both exports, in any order, the training set leaves the photo out."""
    face = observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    observation(store, 2, review=False, confirmed=HADDOCK, photo=jpeg_photo(2))
    first = export_corrections(store.database, CorrectionsExport(tmp_path / "d1"))
    assert first.summary.written == 2
    store.observations.answer_not_a_fish(face.observation_uid, officer="o-2")
    second = export_corrections(store.database, CorrectionsExport(tmp_path / "d2"))
    assert (second.summary.written, second.summary.retracted) == (1, 1)
    [retraction] = [r for r in read_rows(tmp_path / "d2") if r["not_a_fish"] == "1"]
    assert (retraction["observation_uid"], retraction["file"]) == (face.observation_uid, "")
    # the photo it was about, so a byte-identical copy under another id is seen to disagree
    assert retraction["photo_sha256"] == hashlib.sha256(image(1)).hexdigest()
    assert retraction["exported_from"] == "device"
    csvs = [tmp_path / name / CORRECTIONS_CSV for name in ("d2", "d1")]  # any order
    assert export_training_set(csvs, tmp_path / "train") == 1
    assert [p.name for p in (tmp_path / "train").iterdir() if p.is_dir()] == [
        "melanogrammus_aeglefinus"
    ]


def test_a_not_a_fish_answer_on_a_shared_photo_leaves_it_out_as_conflicting(
    store: Store, tmp_path: Path
) -> None:
    cod = observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    face = observation(store, 2, photo_uid=cod.photo_uid)
    store.observations.answer_not_a_fish(face.observation_uid, officer="o-2")
    report = export_corrections(store.database, CorrectionsExport(tmp_path / "out"))
    assert (report.summary.written, report.summary.conflicting) == (0, 1)
    assert not any(row["file"] for row in read_rows(tmp_path / "out"))


def read_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / CORRECTIONS_CSV).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_export_corrections_writes_the_confirmed_photos_and_they_become_a_training_set(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cod = observation(
        store, 1, photo=jpeg_photo(1), pack_version="f4k-2026.03", status=PredictionStatus.UNKNOWN
    )
    haddock = observation(
        store, 2, trip=None, photo=Photo(image(2, ".png"), "image/png", cod.observed_at)
    )
    observation(store, 3, photo=jpeg_photo(3))  # still flagged: not a label yet
    observation(store, 4, review=False, confirmed=COD)  # confirmed, but no photo
    heic = observation(store, 5, photo=jpeg_photo(5, "image/heic"))
    store.observations.confirm(cod.observation_uid, COD, officer="o-2")
    store.observations.confirm(haddock.observation_uid, HADDOCK, officer="o-3")
    store.observations.confirm(heic.observation_uid, COD, officer="o-2")
    out = tmp_path / "corrections"

    assert jaga("store", "export-corrections", "--out", str(out)) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"2 confirmed photos written to {out}",
        "1 skipped: their photo type cannot be used for training",
        f"next: jaga fish export-training-set --corrections {out}/{CORRECTIONS_CSV}"
        " --species-from PACK --out TRAINING_DIR  (PACK: the species pack the photos were"
        " classified with, so that each species keeps its folder id)",
    ]
    rows = read_rows(out)
    assert [
        (r["observation_uid"], r["confirmed_species"], r["group"], r["reviewed_by"]) for r in rows
    ] == [
        (cod.observation_uid, COD, "trip:V-12/T-1", "o-2"),
        (haddock.observation_uid, HADDOCK, f"observation:{haddock.observation_uid}", "o-3"),
    ]
    assert [r["pack_version"] for r in rows] == ["f4k-2026.03", ""]  # "": no pack known
    assert [(r["status"], r["status_reason"]) for r in rows] == [("unknown", ""), ("", "")]
    for row, recorded in zip(rows, (cod, haddock), strict=True):
        assert recorded.photo_uid is not None
        stored = load_photo(store.database, recorded.photo_uid).data
        assert (out / row["file"]).read_bytes() == stored

    training = tmp_path / "training"
    assert export_training_set(out / CORRECTIONS_CSV, training) == 2
    for folder, recorded, original in (
        ("gadus_morhua", cod, image(1)),
        ("melanogrammus_aeglefinus", haddock, image(2, ".png")),
    ):
        [copied] = (training / folder).iterdir()
        assert copied.name.startswith(f"{recorded.photo_uid}-")
        assert copied.read_bytes() == original
    with (training / "groups.csv").open(newline="") as handle:
        groups = sorted(row["group"] for row in csv.DictReader(handle))
    assert groups == sorted(["trip:V-12/T-1", f"observation:{haddock.observation_uid}"])


def test_export_corrections_refuses_a_folder_that_is_not_empty(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    out = tmp_path / "used"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert jaga("store", "export-corrections", "--out", str(out)) == 1
    assert capsys.readouterr().err == (
        f"jaga: error: {out} is not an empty folder; export into a new one\n"
    )
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_damaged_photo_stops_the_export_before_any_csv(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = jpeg_photo(1)
    bad = jpeg_photo(2)
    observation(store, 1, review=False, confirmed=COD, photo=good)
    observation(store, 2, review=False, confirmed=COD, photo=bad)
    damaged = image(3)
    store.database.execute(
        "UPDATE photos SET data = ?, byte_size = ? WHERE photo_uid = ?",
        (damaged, len(damaged), bad.photo_uid),
    )
    out = tmp_path / "corrections"
    assert jaga("store", "export-corrections", "--out", str(out)) == 1
    assert capsys.readouterr().err == (
        f"jaga: error: photo {bad.photo_uid} does not match its sha256; nothing exported\n"
    )
    assert not (out / CORRECTIONS_CSV).exists()


def test_a_photo_shared_by_observations_is_written_once_or_left_out_when_they_disagree(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agreed, disputed = jpeg_photo(1), jpeg_photo(2)
    first = observation(store, 1, review=False, confirmed=COD, photo=agreed)
    observation(store, 2, review=False, confirmed="gadus  MORHUA", photo_uid=agreed.photo_uid)
    observation(store, 3, review=False, confirmed=COD, photo=disputed)
    observation(store, 4, review=False, confirmed=HADDOCK, photo_uid=disputed.photo_uid)
    out = tmp_path / "corrections"
    assert jaga("store", "export-corrections", "--out", str(out)) == 0
    labels = [row for row in read_rows(out) if row["conflicting"] != "1"]
    assert [row["observation_uid"] for row in labels] == [first.observation_uid]
    assert [p.name for p in (out / "photos").iterdir()] == [f"{agreed.photo_uid}.jpg"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"1 confirmed photo written to {out}"
    assert lines[-2] == (
        "1 photo left out as conflicting: the observations of each name different species,"
        " or a species and not a fish"
    )


def test_two_fish_of_one_photo_become_two_rows_and_two_training_images(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deck = Photo(image(7, ".png"), "image/png", FakeClock().now())
    left, right = Crop(0, 0, 30, 48), Crop(30, 8, 34, 40)
    cod = observation(store, 1, review=False, confirmed=COD, photo=deck, crop=left)
    haddock = observation(
        store, 2, review=False, confirmed=HADDOCK, photo_uid=deck.photo_uid, crop=right
    )
    out = tmp_path / "corrections"
    assert jaga("store", "export-corrections", "--out", str(out)) == 0
    assert capsys.readouterr().out.startswith(f"2 confirmed photos written to {out}")
    assert [p.name for p in (out / "photos").iterdir()] == [f"{deck.photo_uid}.png"]
    boxes = [
        (r["observation_uid"], r["confirmed_species"], r["crop_x"], r["crop_y"], r["crop_w"],
         r["crop_h"])
        for r in read_rows(out)
    ]  # fmt: skip
    assert boxes == [
        (cod.observation_uid, COD, "0", "0", "30", "48"),
        (haddock.observation_uid, HADDOCK, "30", "8", "34", "40"),
    ]

    training = tmp_path / "training"
    assert export_training_set(out / CORRECTIONS_CSV, training) == 2
    whole = read_image(out / "photos" / f"{deck.photo_uid}.png")
    for folder, crop in (("gadus_morhua", left), ("melanogrammus_aeglefinus", right)):
        [written] = (training / folder).iterdir()
        expected = whole[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width]
        assert np.array_equal(read_image(written), expected)


def pulled(store: Store, recorded: FishObservation) -> None:
    """Make ``recorded`` a row as a pull writes it: without the outbox entry a catch
    recorded here has (``sync.client.apply``), which the export reads as its origin."""
    with store.database.write() as connection:
        connection.execute("DELETE FROM outbox WHERE entity_uid = ?", (recorded.observation_uid,))


def test_a_box_this_device_was_not_told_labels_the_whole_photo_only_when_it_is_alone(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two fish of one photo pulled on protocol 2 (which does not carry the box), both
    confirmed cod: their None box is not the whole photo, so neither is a whole-photo cod. A
    catch whose box is not known, alone on its photo, is the whole photo either way (a store
    upgraded to schema 9 marks its own whole-photo catches so)."""
    deck, alone, mixed, crowded = (jpeg_photo(seed) for seed in (1, 2, 3, 4))
    pulled(store, observation(store, 1, review=False, confirmed=COD, photo=deck, crop_known=False))
    pulled(store, observation(store, 2, review=False, confirmed=COD, photo_uid=deck.photo_uid,
                              crop_known=False))  # fmt: skip
    whole = observation(store, 3, review=False, confirmed=HADDOCK, photo=alone, crop_known=False)
    boxed = observation(store, 4, review=False, confirmed=COD, photo=mixed, crop=Crop(0, 0, 8, 8))
    pulled(store, observation(store, 5, review=False, confirmed=HADDOCK,
                              photo_uid=mixed.photo_uid, crop_known=False))  # fmt: skip
    pulled(store, observation(store, 6, review=False, confirmed=COD, photo=crowded,
                              crop_known=False))  # fmt: skip
    observation(store, 7, photo_uid=crowded.photo_uid)  # not confirmed yet: still another fish
    out = tmp_path / "corrections"

    assert jaga("store", "export-corrections", "--out", str(out)) == 0

    rows = [(r["observation_uid"], r["crop_x"], r["crop_w"]) for r in read_rows(out)]
    assert rows == [(whole.observation_uid, "", ""), (boxed.observation_uid, "0", "8")]
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"2 confirmed photos written to {out}",
        "4 confirmed observations left out: their photo holds several observations and this"
        " device was never told which fish in it is each one's (jaga hub export-corrections"
        " exports them with their boxes)",
    ]


def test_the_export_holds_one_photo_in_memory_at_a_time(store: Store, tmp_path: Path) -> None:
    size, count = 2 * 1024 * 1024, 5
    for minutes in range(count):
        photo = Photo(os.urandom(size), "image/jpeg", FakeClock().now())
        observation(store, minutes, review=False, confirmed=COD, photo=photo)
    tracemalloc.start()
    try:
        report = export_corrections(store.database, CorrectionsExport(tmp_path / "out"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.summary.written == count
    # Reading them all first would peak at count * size (10 MiB); one at a time, about one.
    assert peak < 2.5 * size


def test_an_export_folder_that_cannot_be_written_is_one_clear_line(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert jaga("store", "export-corrections", "--out", str(blocker / "out")) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"jaga: error: cannot write the export in {blocker / 'out'}: ")
    assert err.endswith("; nothing exported\n")
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("later", [HADDOCK, None])
def test_a_photo_conflicting_after_an_export_loses_the_label_that_export_gave(
    store: Store, tmp_path: Path, later: str | None
) -> None:
    """A second observation of an exported photo names another species (or answers not a
    fish): the next export retracts both observations, so the first export's label goes."""
    cod = observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    observation(store, 2, review=False, confirmed=COD, photo=jpeg_photo(2))
    first = export_corrections(store.database, CorrectionsExport(tmp_path / "d1"))
    assert first.summary.written == 2
    second = observation(store, 3, photo_uid=cod.photo_uid)
    if later is None:
        store.observations.answer_not_a_fish(second.observation_uid, officer="o-2")
    else:
        store.observations.confirm(second.observation_uid, later, officer="o-2")
    report = export_corrections(store.database, CorrectionsExport(tmp_path / "d2"))

    assert (report.summary.written, report.summary.conflicting) == (1, 1)
    csvs = [tmp_path / name / CORRECTIONS_CSV for name in ("d1", "d2")]
    assert export_training_set(csvs, tmp_path / "train") == 1
    retracted = {
        r["observation_uid"] for r in read_rows(tmp_path / "d2") if r["conflicting"] == "1"
    }
    assert retracted == {cod.observation_uid, second.observation_uid}


def _exported_at(folder: Path) -> str:
    [stamp] = {row["exported_at"] for row in read_rows(folder)}
    return stamp


def test_an_export_after_the_clock_was_set_back_is_still_read_after_the_one_before(
    store: Store, db: Path, tmp_path: Path
) -> None:
    """The device's clock is reset to January (a dead RTC battery) between two exports: the
    second, and its "not a fish", must still be read as the later one."""
    face = observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    observation(store, 2, review=False, confirmed=HADDOCK, photo=jpeg_photo(2))
    export_corrections(store.database, CorrectionsExport(tmp_path / "d1"), clock=store.clock)
    assert isinstance(store.clock, FakeClock)
    store.clock.moment = store.clock.moment.replace(month=1)
    store.observations.answer_not_a_fish(face.observation_uid, officer="o-2")
    export_corrections(store.database, CorrectionsExport(tmp_path / "d2"), clock=store.clock)

    assert _exported_at(tmp_path / "d2") > _exported_at(tmp_path / "d1")
    for names in (("d1", "d2"), ("d2", "d1")):
        csvs = [tmp_path / name / CORRECTIONS_CSV for name in names]
        out = tmp_path / f"train-{names[0]}"
        assert export_training_set(csvs, out) == 1
        assert [p.name for p in out.iterdir() if p.is_dir()] == ["melanogrammus_aeglefinus"]


def test_an_export_is_stamped_no_earlier_than_the_hub_time_the_device_has_seen(
    store: Store, tmp_path: Path
) -> None:
    observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    hub_now = store.clock.now() + timedelta(days=200)  # this device's clock runs behind
    with store.database.write() as connection:
        note_hub_time(connection, [], hub_now, store.clock.now())
    export_corrections(store.database, CorrectionsExport(tmp_path / "d"), clock=store.clock)
    assert _exported_at(tmp_path / "d") > stamp_text(hub_now)


def test_a_conflicting_photo_leaves_its_byte_identical_copy_out_of_training(
    store: Store, tmp_path: Path
) -> None:
    """One picture stored twice, under two photo ids: the first copy's observations disagree,
    so its retraction rows carry its sha256 (and box), and the copy named alone is left out."""
    first = observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    copy = observation(store, 2, review=False, confirmed=COD, photo=jpeg_photo(1))
    assert copy.photo_uid != first.photo_uid
    other = observation(store, 3, photo_uid=first.photo_uid)
    store.observations.confirm(other.observation_uid, HADDOCK, officer="o-2")
    observation(store, 4, review=False, confirmed=HADDOCK, photo=jpeg_photo(2))
    report = export_corrections(store.database, CorrectionsExport(tmp_path / "d"))

    assert (report.summary.written, report.summary.conflicting) == (2, 1)
    retractions = [r for r in read_rows(tmp_path / "d") if r["conflicting"] == "1"]
    assert {r["photo_sha256"] for r in retractions} == {hashlib.sha256(image(1)).hexdigest()}
    notes: list[str] = []
    csv_file = tmp_path / "d" / CORRECTIONS_CSV
    assert export_training_set(csv_file, tmp_path / "train", say=notes.append) == 1
    assert [p.name for p in (tmp_path / "train").iterdir() if p.is_dir()] == [
        "melanogrammus_aeglefinus"
    ]
    assert any(str(copy.photo_uid) in note for note in notes)


def test_a_conflicting_photo_confirmed_alike_later_is_trained_on_again(
    store: Store, tmp_path: Path
) -> None:
    """The retraction row of an observation whose photo later agrees stays its latest (the
    agreeing photo is written with the first observation's row): it must not keep the photo
    out."""
    first = observation(store, 1, review=False, confirmed=COD, photo=jpeg_photo(1))
    other = observation(store, 2, photo_uid=first.photo_uid)
    store.observations.confirm(other.observation_uid, HADDOCK, officer="o-2")
    export_corrections(store.database, CorrectionsExport(tmp_path / "d1"), clock=store.clock)
    assert isinstance(store.clock, FakeClock)
    store.clock.advance(minutes=5)
    store.observations.confirm(other.observation_uid, COD, officer="o-2")
    export_corrections(store.database, CorrectionsExport(tmp_path / "d2"), clock=store.clock)
    csvs = [tmp_path / name / CORRECTIONS_CSV for name in ("d1", "d2")]
    assert export_training_set(csvs, tmp_path / "train") == 1
