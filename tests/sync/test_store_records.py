"""Fish observations, access events and their CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

import pytest

from sync.errors import (
    CatchRecordedError,
    PhotoRecordedError,
    RecordInvalidError,
    RecordNotFoundError,
)
from sync.protocol import FishObservationUpsert, parse_payload
from sync.store import (
    AccessEvent,
    FishObservation,
    Photo,
    Position,
    PredictionStatus,
    SpeciesScore,
    Store,
)
from sync.store.catch_written import KeptCatch, written_catches
from sync.store.export import export_access_events, export_fish_observations
from sync.store.photos import load_photo
from sync.store.records import Crop, new_uid
from tests.sync.conftest import FakeClock, enrol


def full_observation(clock: FakeClock) -> FishObservation:
    return FishObservation(
        observed_at=clock.now(),
        predictions=(SpeciesScore("Gadus morhua", 0.62), SpeciesScore("Melanogrammus", 0.3)),
        needs_review=True,
        officer="officer-7",
        count=3,
        position=Position(57.1, -2.05),
        vessel="V-12",
        trip="T-2026-03",
        haul="H-4",
        length_cm=41.5,
        notes="=HYPERLINK(evil)",
        pack_version="f4k-2026.03",
        crop=Crop(12, 0, 640, 480),
        status=PredictionStatus.IDENTIFIED,
    )


def test_an_observation_round_trips_with_every_field(store: Store, clock: FakeClock) -> None:
    photo = Photo(b"\xff\xd8 fish", "image/jpeg", clock.now())
    stored = store.observations.add(full_observation(clock), photo)
    assert store.observations.get(stored.observation_uid) == stored
    assert store.observations.get(stored.observation_uid).pack_version == "f4k-2026.03"
    assert store.outbox.entries()[-1].payload()["pack_version"] == "f4k-2026.03"
    assert store.observations.get(stored.observation_uid).crop == Crop(12, 0, 640, 480)
    assert store.outbox.entries()[-1].payload()["crop"] == [12, 0, 640, 480]
    assert store.outbox.entries()[-1].payload()["status"] == "identified"
    assert stored.photo_uid == photo.photo_uid
    assert load_photo(store.database, photo.photo_uid).data == photo.data


def test_confirming_sets_the_species_and_clears_the_review_flag(
    store: Store, clock: FakeClock
) -> None:
    stored = store.observations.add(full_observation(clock))
    assert [o.observation_uid for o in store.observations.review_queue()] == [
        stored.observation_uid
    ]
    confirmed = store.observations.confirm(stored.observation_uid, "Gadus morhua", officer="o-2")
    assert (confirmed.confirmed_species, confirmed.needs_review) == ("Gadus morhua", False)
    assert store.observations.review_queue() == []


def test_confirmation_payload_names_the_reviewer_and_the_hub_schema_accepts_it(
    store: Store, clock: FakeClock
) -> None:
    stored = store.observations.add(full_observation(clock))
    clock.advance(hours=2)  # reviewed later than caught: the time of the review travels
    confirmed = store.observations.confirm(stored.observation_uid, "Gadus morhua", officer="o-2")
    assert (confirmed.reviewed_by, confirmed.reviewed_at) == ("o-2", clock.now())
    assert store.observations.get(stored.observation_uid) == confirmed
    payload = store.outbox.entries()[-1].payload()
    assert (payload["confirmed_species"], payload["reviewed_by"]) == ("Gadus morhua", "o-2")
    assert payload["reviewed_at"] == "2026-03-01T10:00:00.000000Z"
    wire = parse_payload("fish_observation", "upsert", payload)  # what the hub checks first
    assert isinstance(wire, FishObservationUpsert)
    assert (wire.reviewed_by, wire.reviewed_at) == ("o-2", clock.now())
    unreviewed = store.outbox.entries()[0].payload()
    assert (unreviewed["reviewed_by"], unreviewed["reviewed_at"]) == (None, None)
    parse_payload("fish_observation", "upsert", unreviewed)


def test_a_confirmation_needs_an_officer(store: Store, clock: FakeClock) -> None:
    stored = store.observations.add(full_observation(clock))
    with pytest.raises(ValueError, match="officer"):
        store.observations.confirm(stored.observation_uid, "Gadus morhua", officer=" ")
    assert store.observations.get(stored.observation_uid).needs_review
    assert len(store.outbox.entries()) == 1


@pytest.mark.parametrize(
    ("species", "officer", "field"),
    [("x" * 201, "o-2", "confirmed_species"), ("Gadus morhua", "o\x00-2", "reviewed_by")],
    ids=["long", "nul"],
)
def test_a_verdict_the_hub_would_refuse_is_not_saved(
    store: Store, clock: FakeClock, species: str, officer: str, field: str
) -> None:
    """Saved, it would be quarantined on push and never reach the hub or its training data:
    refused before it is saved, naming the field, the observation stays flagged and nothing
    is queued."""
    stored = store.observations.add(full_observation(clock))
    with pytest.raises(RecordInvalidError, match=f"not saved: {field}: "):
        store.observations.confirm(stored.observation_uid, species, officer=officer)
    assert store.observations.get(stored.observation_uid) == stored
    assert len(store.outbox.entries()) == 1


def test_confirming_an_unknown_observation_is_a_clear_error(store: Store) -> None:
    with pytest.raises(RecordNotFoundError):
        store.observations.confirm("nope", "cod", officer="o")


def test_predictions_must_be_best_first() -> None:
    with pytest.raises(ValueError, match="best first"):
        FishObservation(
            full_observation(FakeClock()).observed_at,
            (SpeciesScore("a", 0.1), SpeciesScore("b", 0.8)),
            False,
            "officer",
        )


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_fish_export_has_one_row_per_observation_and_defuses_formulas(
    store: Store, clock: FakeClock
) -> None:
    store.observations.add(full_observation(clock))
    out = io.StringIO()
    assert export_fish_observations(store.database, out) == 1
    (row,) = read_csv(out.getvalue())
    assert row["top_species"] == "Gadus morhua"
    assert (row["vessel"], row["trip"], row["haul"], row["count"]) == (
        "V-12",
        "T-2026-03",
        "H-4",
        "3",
    )
    assert (row["latitude"], row["longitude"], row["needs_review"]) == ("57.1", "-2.05", "1")
    assert row["notes"] == "'=HYPERLINK(evil)"
    assert row["pack_version"] == "f4k-2026.03"
    assert [row[c] for c in ("crop_x", "crop_y", "crop_w", "crop_h")] == ["12", "0", "640", "480"]
    assert (row["status"], row["status_reason"]) == ("identified", "")
    # Appended: the older columns keep their places.
    assert list(row)[-8:] == [
        *("pack_version", "crop_x", "crop_y", "crop_w", "crop_h", "status", "status_reason"),
        "not_a_fish",
    ]
    store.observations.add(replace(full_observation(clock), crop=None))
    out = io.StringIO()
    assert export_fish_observations(store.database, out) == 2
    whole = read_csv(out.getvalue())[1]
    assert [whole[c] for c in ("crop_x", "crop_y", "crop_w", "crop_h")] == ["", "", "", ""]


def test_every_cell_of_an_export_is_in_double_quotes(store: Store, clock: FakeClock) -> None:
    """OWASP's advice, as corrections.csv keeps it: a spreadsheet that splits the file on
    ';' starts no cell inside one (``x;=HYPERLINK(...)`` stays one note)."""
    store.observations.add(replace(full_observation(clock), notes="x;=HYPERLINK(evil)"))
    person_uid = enrol(store, clock, "B-1", seed=1)
    store.access.record(AccessEvent(clock.now(), "gate", "kiosk-1", "verified", person_uid, 0.8))
    for export in (export_fish_observations, export_access_events):
        out = io.StringIO()
        assert export(store.database, out) == 1
        rows = list(csv.reader(io.StringIO(out.getvalue())))
        quoted = io.StringIO()
        csv.writer(quoted, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
        assert out.getvalue() == quoted.getvalue()
    assert rows[1][rows[0].index("display_name")] == "Person B-1"


def test_the_fish_export_names_a_species_only_where_the_pack_named_one(
    store: Store, clock: FakeClock
) -> None:
    identified = store.observations.add(full_observation(clock))
    unknown = store.observations.add(
        replace(full_observation(clock), status=PredictionStatus.UNKNOWN)
    )
    blank = "image is blank (one flat colour)"
    no_fish = replace(
        full_observation(clock),
        predictions=(),
        status=PredictionStatus.NO_FISH,
        status_reason=blank,
    )
    store.observations.add(no_fish)
    before = store.observations.add(replace(full_observation(clock), status=None))
    confirmed = store.observations.confirm(unknown.observation_uid, "Pollachius", officer="o-2")
    out = io.StringIO()
    assert export_fish_observations(store.database, out) == 4
    rows = {row["observation_uid"]: row for row in read_csv(out.getvalue())}

    def answer(uid: str) -> tuple[str, ...]:
        row = rows[uid]
        return (row["status"], row["status_reason"], row["top_species"], row["top_confidence"])

    assert answer(identified.observation_uid) == ("identified", "", "Gadus morhua", "0.62")
    assert answer(unknown.observation_uid) == ("unknown", "", "", "")
    assert rows[unknown.observation_uid]["predictions"].startswith('[["Gadus morhua", 0.62]')
    assert rows[confirmed.observation_uid]["confirmed_species"] == "Pollachius"  # the species
    assert answer(no_fish.observation_uid) == ("no_fish", blank, "", "")
    # Recorded before the verdict was kept: its top prediction, as always, and no status.
    assert answer(before.observation_uid) == ("", "", "Gadus morhua", "0.62")


def test_the_fish_export_says_which_photos_a_reviewer_answered_not_a_fish(
    store: Store, clock: FakeClock
) -> None:
    """A face the pack named as a fish, answered "not a fish": the row says so beside the
    pack's answer, which is not cleared (it is what the pack said)."""
    face = store.observations.add(full_observation(clock))
    fish = store.observations.add(full_observation(clock))
    store.observations.answer_not_a_fish(face.observation_uid, officer="o-2")
    store.observations.confirm(fish.observation_uid, "Gadus morhua", officer="o-2")
    out = io.StringIO()
    assert export_fish_observations(store.database, out) == 2
    rows = {row["observation_uid"]: row for row in read_csv(out.getvalue())}
    answered = rows[face.observation_uid]
    assert (answered["not_a_fish"], answered["confirmed_species"]) == ("1", "")
    assert (answered["top_species"], answered["needs_review"]) == ("Gadus morhua", "0")
    assert (
        rows[fish.observation_uid]["not_a_fish"],
        rows[fish.observation_uid]["confirmed_species"],
    ) == ("0", "Gadus morhua")


def test_a_status_is_the_packs_and_only_no_fish_has_a_reason() -> None:
    observation = full_observation(FakeClock())
    # The text a row or a pulled change holds is taken as the status it names.
    read = replace(observation, status="unknown")  # type: ignore[arg-type]
    assert read.status is PredictionStatus.UNKNOWN
    with pytest.raises(ValueError, match="'maybe' is not a valid PredictionStatus"):
        replace(observation, status="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status_reason says why there is no fish"):
        replace(observation, status=PredictionStatus.UNKNOWN, status_reason="blank")
    with pytest.raises(ValueError, match="status_reason must not be empty"):
        replace(observation, status=PredictionStatus.NO_FISH, status_reason=" ")


def test_a_pack_version_is_text_or_none() -> None:
    with pytest.raises(ValueError, match="pack_version must not be empty"):
        replace(full_observation(FakeClock()), pack_version=" ")


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((-1, 0, 10, 10), r"crop x must lie in \[0, 100000\], got -1"),
        ((0, 0, 0, 10), r"crop width must lie in \[1, 100000\], got 0"),
        ((0, 0, 10, 100_001), r"crop height must lie in \[1, 100000\]"),
        ((0, 0, 10.5, 10), "crop width must be a whole number of pixels"),
        ((True, 0, 10, 10), "crop x must be a whole number of pixels"),
    ],
)
def test_a_crop_is_a_box_of_whole_pixels(box: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Crop(*box)


def test_several_fish_of_one_photo_share_it_in_one_transaction(
    store: Store, clock: FakeClock
) -> None:
    photo = Photo(b"\xff\xd8 two fish", "image/jpeg", clock.now())
    left = replace(full_observation(clock), crop=Crop(0, 0, 50, 40))
    right = replace(full_observation(clock), crop=Crop(50, 0, 50, 40))
    stored = store.observations.add_with_photo(photo, [left, right])
    assert {o.photo_uid for o in stored} == {photo.photo_uid}
    assert [store.observations.get(o.observation_uid).crop for o in stored] == [
        Crop(0, 0, 50, 40),
        Crop(50, 0, 50, 40),
    ]
    entries = [(e.entity, e.entity_uid) for e in store.outbox.entries()]
    assert entries == [  # the photo first: the hub holds it before the fish that name it
        ("photo", photo.photo_uid),
        *(("fish_observation", o.observation_uid) for o in stored),
    ]
    again = Photo(b"\xff\xd8 more fish", "image/jpeg", clock.now())
    refused = replace(full_observation(clock), observation_uid=stored[0].observation_uid)
    # An observation uid the store holds is that catch, recorded already (a Retry into a
    # store a pull brought it back to: ``sync.store.catch_written``): nothing is written.
    with pytest.raises(CatchRecordedError, match="is recorded already: observation"):
        store.observations.add_with_photo(again, [full_observation(clock), refused])
    assert store.observations.count() == 2 and len(store.outbox.entries()) == 3
    assert store.database.query("SELECT count(*) FROM photos")[0][0] == 1


def test_a_photo_recorded_before_with_the_same_fish_is_refused_when_asked(
    store: Store, clock: FakeClock
) -> None:
    def fish(crop: Crop | None) -> FishObservation:
        return replace(full_observation(clock), crop=crop)

    def photo() -> Photo:  # the same bytes, a photo of its own each time
        return Photo(b"\xff\xd8 one haul", "image/jpeg", clock.now())

    (first,) = store.observations.add_with_photo(photo(), [fish(Crop(0, 0, 50, 40))])
    for crops in ([Crop(0, 0, 50, 40)], [Crop(50, 0, 50, 40), Crop(0, 0, 50, 40)]):
        with pytest.raises(PhotoRecordedError, match=first.observation_uid) as refused:
            store.observations.add_with_photo(
                photo(), [fish(c) for c in crops], refuse_recorded=True
            )
        assert refused.value.earlier == (store.observations.get(first.observation_uid),)
    assert store.observations.count() == 1 and len(store.outbox.entries()) == 2
    store.observations.add_with_photo(photo(), [fish(Crop(50, 0, 50, 40))], refuse_recorded=True)
    store.observations.add_with_photo(photo(), [fish(Crop(0, 0, 50, 40))])  # not asked: again
    assert store.observations.count() == 3


def test_the_photos_written_are_told_from_those_never_written(
    store: Store, clock: FakeClock
) -> None:
    """What the Catch panel's start asks of the uids its spool keeps: which catches a retry
    would find written (``CatchRecordedError``), to delete their entries instead."""
    written = Photo(b"\xff\xd8 landed", "image/jpeg", clock.now())
    (landed,) = store.observations.add_with_photo(written, [full_observation(clock)])
    never = Photo(b"\xff\xd8 still in the spool", "image/jpeg", clock.now())
    asked = {  # an entry kept before entries kept their uids: found by the fish's box
        written.photo_uid: KeptCatch([new_uid()], [landed.crop]),
        never.photo_uid: KeptCatch([new_uid()], [landed.crop]),
    }
    assert written_catches(store.database, asked) == {written.photo_uid}
    assert written_catches(store.database, {}) == set()


def test_a_catch_whose_observation_is_held_without_its_photo_is_written(
    store: Store, clock: FakeClock
) -> None:
    """Pulled back from the hub into a store restored to before it, a catch's observation
    is held without its photo (photos never travel in pulls): the spool's Retry of it is
    found written, by the observation's uid, and writes nothing (``CatchRecordedError``)."""
    pulled = full_observation(clock)
    store.observations.add(pulled)  # as a pull leaves it: no photo here
    photo = Photo(b"\xff\xd8 in the spool", "image/jpeg", clock.now())
    asked = {photo.photo_uid: KeptCatch([pulled.observation_uid], [None])}
    assert written_catches(store.database, asked) == {photo.photo_uid}
    with pytest.raises(CatchRecordedError):
        store.observations.add_with_photo(photo, [pulled])
    assert store.observations.count() == 1


def test_access_export_is_attendance_in_a_time_range(store: Store, clock: FakeClock) -> None:
    person_uid = enrol(store, clock, "B-1", seed=1)
    start = clock.now()
    for hour in range(3):
        clock.moment = start + timedelta(hours=hour)
        store.access.record(
            AccessEvent(clock.now(), "gate", "kiosk-1", "verified", person_uid, 0.8)
        )
    out = io.StringIO()
    since = (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    until = (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert export_access_events(store.database, out, since, until) == 1
    (row,) = read_csv(out.getvalue())
    assert (row["external_id"], row["display_name"], row["decision"]) == (
        "B-1",
        "Person B-1",
        "verified",
    )
    assert row["occurred_at"] == "2026-03-01T09:00:00.000000Z"


def test_a_batch_of_observations_commits_whole_or_not_at_all(
    store: Store, clock: FakeClock
) -> None:
    good = [full_observation(clock) for _ in range(3)]
    dangling = FishObservation(clock.now(), (), False, "officer", photo_uid="no-such-photo")
    with pytest.raises(RecordNotFoundError, match="no-such-photo"):
        store.observations.add_many([*good, dangling])
    assert store.observations.count() == 0
    assert store.outbox.entries() == []
    store.observations.add_many(good)
    assert store.observations.count() == 3
