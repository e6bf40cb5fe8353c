"""Schemas 2 to 11: a real version-1 (2, 3, 4, 7, 8, 10) store file opens migrated, its rows
kept, with the sync client's tables (empty, or kept as an older client made them), the fish
reviewer columns, the species pack of each fish observation, the fish's box in a shared
photo, the pack's verdict (status) on its predictions, whether the device knows that box, and
whether the catch was recorded on this device or pulled."""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import pytest
import sqlcipher3

from sync.client.state import (
    CLIENT_TABLES_VERSION,
    ensure_schema,
    put_values,
    read_cursor,
    read_values,
)
from sync.corrections import CorrectionsExport
from sync.errors import SchemaVersionError
from sync.protocol import FishObservationUpsert, parse_payload
from sync.store import (
    AccessEvent,
    FishObservation,
    Passphrase,
    PredictionStatus,
    SpeciesScore,
    Store,
)
from sync.store.corrections import export_corrections
from sync.store.photos import insert_photo
from sync.store.records import Crop, Photo
from sync.store.schema.migrations import LATEST_VERSION, MIGRATIONS, schema_version
from tests.sync.conftest import FAST, FakeClock, enrol

V1 = MIGRATIONS[:1]
BADGE = "B-1"
OBSERVATION_UID = "0b7f3c52-51c4-4e7e-9d7e-2f4f1c6b0a11"
# The tables as the sync client of schema 1 created them for itself on first use.
V1_CLIENT_TABLES = (
    """CREATE TABLE IF NOT EXISTS sync_state (
        name       TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS sync_uploads (
        photo_uid  TEXT PRIMARY KEY,
        outcome    TEXT NOT NULL CHECK (outcome IN ('done', 'skipped', 'failed')),
        detail     TEXT NOT NULL,
        at         TEXT NOT NULL
    )""",
)


def v1_store(db_path: Path, passphrase: Passphrase, clock: FakeClock) -> Store:
    """A store as Jaga with schema 1 made it: a person, a catch, an access event, an outbox."""
    store = Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=V1)
    assert schema_version(store.database.connection) == 1
    # Schema 1's code stamped its outbox with the clock alone: it kept no hub time seen
    # (``edit_clock``'s values live in sync_state, which schema 2 made); nor did its
    # enrolment purge first (the purge reads the device's clock floor from sync_state too).
    with (
        patch("sync.store.outbox.edit_time", lambda _connection, clock, _uid=None: clock.now()),
        patch("sync.store.people.People.purge_expired", lambda _people, **_: []),
    ):
        person = enrol(store, clock, BADGE, seed=1)
        event = AccessEvent(clock.now(), "north-gate", "kiosk-1", "verified", person, 0.8)
        store.access.record(event)
    with store.database.write() as connection:  # the schema-1 columns, as its code wrote them
        connection.execute(
            "INSERT INTO fish_observations (observation_uid, observed_at, predictions,"
            " confirmed_species, needs_review, count, officer, notes, created_at, updated_at)"
            " VALUES (?, ?, ?, NULL, 1, 2, 'officer-7', 'v1 catch', ?, ?)",
            (OBSERVATION_UID, "2026-03-01T07:00:00.000000Z", '[["Gadus morhua", 0.6]]',
             "2026-03-01T07:00:00.000000Z", "2026-03-01T07:00:00.000000Z"),
        )  # fmt: skip
    return store


def tables(store: Store) -> set[str]:
    rows = store.database.query("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {str(row[0]) for row in rows}


def test_a_v1_store_opens_at_v2_with_its_rows_and_the_new_tables(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with v1_store(db_path, passphrase, clock) as old:
        assert not {"sync_state", "sync_uploads"} & tables(old)
        person = old.database.query("SELECT person_uid FROM people")[0][0]
        # Raw SQL: this code's Outbox reads the schema-3 column a v1 store does not have.
        outbox_before = old.database.query(
            "SELECT idempotency_key, payload FROM outbox ORDER BY sequence"
        )
        audit_before = old.audit.head()
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION
        assert {"sync_state", "sync_uploads"} <= tables(store)
        # Nothing of the client's but schema 17's note: it held records before it knew which
        # hub they are of (``sync.store.catch_hub``).
        assert read_values(store.database).keys() == {
            "hub.known_after_outbox",
            "hub.known_after_event",
        }
        assert store.people.get(person).external_id == BADGE
        assert store.access.count() == 1
        catch = store.observations.get(OBSERVATION_UID)
        assert (catch.notes, catch.count, catch.needs_review) == ("v1 catch", 2, True)
        assert (catch.reviewed_by, catch.reviewed_at) == (None, None)
        assert [(e.idempotency_key, e.payload_json) for e in store.outbox.entries()] == [
            tuple(row) for row in outbox_before
        ]
        assert {e.refusals for e in store.outbox.entries()} == {0}  # schema 3
        assert store.audit.head() == audit_before
        assert store.integrity().ok, store.integrity().problems
        ensure_schema(store.database)  # the client accepts it as it is
        put_values(store.database, {"pull_cursor.north-gate": "7"}, clock.now())
        assert read_cursor(store.database, "north-gate") == 7
        reviewed = store.observations.confirm(OBSERVATION_UID, "Gadus morhua", officer="o-2")
        assert reviewed.reviewed_by == "o-2"


def test_a_v1_store_that_had_synced_keeps_its_registration_cursor_and_uploads(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with v1_store(db_path, passphrase, clock) as old:
        with old.database.write() as connection:
            for statement in V1_CLIENT_TABLES:
                connection.execute(statement)
        put_values(
            old.database,
            {"device_token": "jaga_secret-token", "pull_cursor.north-gate": "42"},
            clock.now(),
        )
        with old.database.write() as connection:
            connection.execute(
                "INSERT INTO sync_uploads VALUES ('p-1', 'done', '', '2026-03-01T08:00:00.000000Z')"
            )
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION
        assert read_values(store.database)["device_token"] == "jaga_secret-token"
        assert read_cursor(store.database, "north-gate") == 42
        assert store.database.query("SELECT photo_uid, outcome FROM sync_uploads") == [
            ("p-1", "done")
        ]


def test_the_client_refuses_a_store_below_v2_with_a_clear_error(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    v1_store(db_path, passphrase, clock).close()
    assert CLIENT_TABLES_VERSION == 17  # pulled changes ..., what is held for another hub
    refusal = pytest.raises(SchemaVersionError, match="schema version 1; syncing needs version 17")
    with Store.open(db_path, passphrase, config=FAST, migrations=V1) as old, refusal:
        ensure_schema(old.database)
    with Store.open(db_path, passphrase, config=FAST) as store:
        ensure_schema(store.database)
        assert schema_version(store.database.connection) == LATEST_VERSION


def test_a_new_store_is_made_at_v2(db_path: Path, passphrase: Passphrase) -> None:
    with Store.create(db_path, passphrase, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION
        assert {"sync_state", "sync_uploads"} <= tables(store)
        assert json.loads(store.audit.entries()[0].details_json)["schema_version"] == LATEST_VERSION


def test_a_v2_store_migrates_and_its_queued_entries_start_with_no_refusals(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:2]):
        pass
    with Store.open(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:2]) as v2:
        # read back below by key: this code selects refusals; no purge first, as v2's code
        with patch("sync.store.people.People.purge_expired", lambda _people, **_: []):
            enrol(v2, clock, BADGE, seed=1)
        rows = v2.database.query("SELECT idempotency_key FROM outbox WHERE state = 'queued'")
        queued_before = sorted(str(row[0]) for row in rows)
        assert queued_before
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION
        queued = store.outbox.queued()
        assert sorted(e.idempotency_key for e in queued) == queued_before
        assert {e.refusals for e in queued} == {0}
        ensure_schema(store.database)


REVIEWED_UID = "5d0c2f9e-1b7a-4c61-9b0e-7c3d2a1f4e22"
# Every schema-3 column of fish_observations, as that code wrote them.
V3_OBSERVATION = (
    "INSERT INTO fish_observations (observation_uid, observed_at, predictions,"
    " confirmed_species, needs_review, latitude, longitude, vessel, trip, haul, count,"
    " length_cm, officer, notes, reviewed_by, reviewed_at, created_at, updated_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
V3_ROWS = [
    (OBSERVATION_UID, "2026-03-01T07:00:00.000000Z", '[["Gadus morhua", 0.6]]', None, 1,
     57.1, -2.05, "V-12", "T-3", "H-1", 2, 41.5, "officer-7", "flagged", None, None),
    (REVIEWED_UID, "2026-03-01T07:30:00.000000Z", '[["Melanogrammus", 0.9]]', "Melanogrammus",
     0, None, None, None, None, None, 1, None, "officer-7", "", "o-2",
     "2026-03-01T07:40:00.000000Z"),
]  # fmt: skip


def v3_store_with_catches(db_path: Path, passphrase: Passphrase, clock: FakeClock) -> None:
    """A schema-3 store holding two catches (one reviewed) and their queued outbox payloads,
    which that code wrote without ``pack_version``."""
    with Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:3]):
        pass
    with Store.open(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:3]) as v3:
        assert schema_version(v3.database.connection) == 3
        with v3.database.write() as connection:
            for row in V3_ROWS:
                connection.execute(V3_OBSERVATION, (*row, row[1], row[1]))
                payload = {"observation_uid": row[0], "observed_at": row[1], "notes": row[13]}
                connection.execute(  # as that code queued it (today's enqueue checks the schema)
                    "INSERT INTO outbox (idempotency_key, entity, entity_uid, operation, payload,"
                    " state, created_at, state_changed_at) VALUES (?, 'fish_observation', ?,"
                    " 'upsert', ?, 'queued', ?, ?)",
                    (str(uuid.uuid4()), row[0], json.dumps(payload), row[1], row[1]),
                )


def test_a_v3_store_keeps_every_catch_and_they_name_no_pack(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    v3_store_with_catches(db_path, passphrase, clock)
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION == 20
        flagged = store.observations.get(OBSERVATION_UID)
        reviewed = store.observations.get(REVIEWED_UID)
        assert store.observations.count() == 2
        assert (flagged.pack_version, reviewed.pack_version) == (None, None)
        assert (flagged.vessel, flagged.trip, flagged.haul, flagged.count) == (
            "V-12",
            "T-3",
            "H-1",
            2,
        )
        assert (flagged.length_cm, flagged.notes, flagged.needs_review) == (41.5, "flagged", True)
        assert flagged.position is not None and flagged.position.latitude == 57.1
        assert flagged.predictions == (SpeciesScore("Gadus morhua", 0.6),)
        assert (reviewed.confirmed_species, reviewed.reviewed_by) == ("Melanogrammus", "o-2")
        assert reviewed.reviewed_at is not None and not reviewed.needs_review
        # The payloads queued before the upgrade are kept as written: no pack_version in them.
        queued = [entry.payload() for entry in store.outbox.queued()]
        assert [p["observation_uid"] for p in queued] == [OBSERVATION_UID, REVIEWED_UID]
        assert all("pack_version" not in p for p in queued)
        assert store.integrity().ok, store.integrity().problems
        ensure_schema(store.database)


def test_after_the_upgrade_a_catch_keeps_its_pack_version(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    v3_store_with_catches(db_path, passphrase, clock)
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        new = store.observations.add(
            FishObservation(
                observed_at=clock.now(),
                predictions=(SpeciesScore("Gadus morhua", 0.7),),
                needs_review=True,
                officer="officer-7",
                pack_version="f4k-2026.04",
            )
        )
        assert store.observations.get(new.observation_uid) == new
        assert store.observations.get(new.observation_uid).pack_version == "f4k-2026.04"
        confirmed = store.observations.confirm(new.observation_uid, "Gadus morhua", officer="o-2")
        assert confirmed.pack_version == "f4k-2026.04"  # a review keeps the prediction's pack
        sent = [e.payload() for e in store.outbox.entries() if e.entity_uid == new.observation_uid]
        assert [p["pack_version"] for p in sent] == ["f4k-2026.04", "f4k-2026.04"]
        wire = parse_payload("fish_observation", "upsert", sent[-1])
        assert isinstance(wire, FishObservationUpsert) and wire.pack_version == "f4k-2026.04"
        old = store.observations.confirm(OBSERVATION_UID, "Gadus morhua", officer="o-2")
        assert old.pack_version is None
        # a catch from before packs were recorded says nothing of one, not "none"
        assert "pack_version" not in store.outbox.entries()[-1].payload()


def test_a_v4_store_keeps_every_catch_whole_photo_and_takes_boxes_after(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    v4 = MIGRATIONS[:4]
    with Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=v4):
        pass
    with Store.open(db_path, passphrase, clock=clock, config=FAST, migrations=v4) as old:
        assert schema_version(old.database.connection) == 4
        with old.database.write() as connection:  # every schema-4 column, as that code wrote
            for row in V3_ROWS:
                connection.execute(
                    V3_OBSERVATION.replace("reviewed_at,", "reviewed_at, pack_version,").replace(
                        "VALUES (?,", "VALUES (?,?,"
                    ),
                    (*row, "f4k-2026.03", row[1], row[1]),
                )
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION == 20
        kept = [store.observations.get(uid) for uid in (OBSERVATION_UID, REVIEWED_UID)]
        assert [(o.crop, o.pack_version) for o in kept] == [(None, "f4k-2026.03")] * 2
        assert (kept[0].notes, kept[1].reviewed_by) == ("flagged", "o-2")
        new = replace(kept[0], observation_uid=OTHER_UID, crop=BOX, crop_known=True)
        store.observations.add(new)
        assert store.observations.get(new.observation_uid).crop == BOX
        confirmed = store.observations.confirm(OTHER_UID, "Gadus morhua", officer="o-2")
        assert confirmed.crop == BOX  # a review keeps the fish's box
        assert store.outbox.entries()[-1].payload()["crop"] == [3, 4, 50, 60]
        assert store.integrity().ok, store.integrity().problems


OTHER_UID = "9a1e4c33-7d2b-4f0a-8c6e-1b2d3e4f5a66"
BOX = Crop(3, 4, 50, 60)


def test_a_v7_store_keeps_every_catch_with_no_verdict_and_takes_one_after(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    v3_store_with_catches(db_path, passphrase, clock)  # its queued payloads have no status
    with Store.open(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:7]):
        pass
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION == 20
        kept = [store.observations.get(uid) for uid in (OBSERVATION_UID, REVIEWED_UID)]
        assert [(o.status, o.status_reason) for o in kept] == [(None, None)] * 2  # not known
        assert all("status" not in entry.payload() for entry in store.outbox.queued())
        unknown = replace(kept[0], observation_uid=OTHER_UID, status=PredictionStatus.UNKNOWN)
        store.observations.add(unknown)
        assert store.observations.get(OTHER_UID).status is PredictionStatus.UNKNOWN
        confirmed = store.observations.confirm(OTHER_UID, "Gadus morhua", officer="o-2")
        assert confirmed.status is PredictionStatus.UNKNOWN  # a review keeps the pack's verdict
        sent = store.outbox.entries()[-1].payload()
        assert (sent["status"], sent["status_reason"]) == ("unknown", None)
        wire = parse_payload("fish_observation", "upsert", sent)
        assert isinstance(wire, FishObservationUpsert) and wire.status == "unknown"
        with pytest.raises(sqlcipher3.IntegrityError, match="CHECK"), store.database.write() as c:
            c.execute("UPDATE fish_observations SET status = 'maybe'")
        assert store.integrity().ok, store.integrity().problems
        ensure_schema(store.database)


def test_a_v8_store_no_longer_claims_the_whole_photo_for_a_box_it_may_never_have_been_told(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """A catch a device pulled while it spoke protocol 2 came without its box, and became
    "the whole photo" when the store took boxes (schema 5); which rows were pulled cannot be
    told now, so no row without a box claims to know it, and an edit leaves the box out
    rather than resetting it to the whole photo on the hub and every device. A box held is
    known, and a catch recorded after says "whole photo" where it is one."""
    row, at = V3_ROWS[0], V3_ROWS[0][1]
    v4 = Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:4])
    with v4, v4.database.write() as connection:  # pulled on protocol 2: no box
        connection.execute(V3_OBSERVATION, (*row, at, at))
    v8 = Store.open(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:8])
    with v8, v8.database.write() as connection:  # pulled on protocol 3, with its box
        columns = "reviewed_at, crop_x, crop_y, crop_w, crop_h,"
        with_box = V3_OBSERVATION.replace("reviewed_at,", columns)
        with_box = with_box.replace("VALUES (?,", "VALUES (?,?,?,?,?,")
        connection.execute(with_box, (OTHER_UID, *row[1:], *BOX.as_tuple(), at, at))
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        pulled = store.observations.get(OBSERVATION_UID)
        assert (pulled.crop, pulled.crop_known) == (None, False)
        assert store.observations.get(OTHER_UID).crop_known
        store.observations.confirm(OBSERVATION_UID, "Gadus morhua", officer="o-2")
        sent = store.outbox.entries()[-1].payload()
        assert "crop" not in sent  # not told: nothing said
        assert parse_payload("fish_observation", "upsert", sent).model_fields_set.isdisjoint(
            {"crop"}
        )
        store.observations.confirm(OTHER_UID, "Gadus morhua", officer="o-2")
        assert store.outbox.entries()[-1].payload()["crop"] == [3, 4, 50, 60]
        whole = replace(pulled, observation_uid=str(uuid.uuid4()), crop_known=True)
        store.observations.add(whole)
        assert store.outbox.entries()[-1].payload()["crop"] is None  # a real whole photo
        store.observations.confirm(whole.observation_uid, "Gadus morhua", officer="o-2")
        assert store.outbox.entries()[-1].payload()["crop"] is None
        with pytest.raises(sqlcipher3.IntegrityError, match="CHECK"), store.database.write() as c:
            c.execute("UPDATE fish_observations SET crop_known = 2")
        assert store.integrity().ok, store.integrity().problems
        ensure_schema(store.database)


# Every schema-8 column of fish_observations a catch of a photo was written with.
V8_OBSERVATION = (
    "INSERT INTO fish_observations (observation_uid, observed_at, predictions,"
    " confirmed_species, needs_review, photo_id, count, officer, notes, reviewed_by,"
    " reviewed_at, pack_version, status, created_at, updated_at)"
    " VALUES (?, ?, '[[\"Gadus morhua\", 0.6]]', 'Gadus morhua', 0, ?, 1, 'officer-7', '',"
    " 'o-2', ?, 'f4k-2026.03', 'identified', ?, ?)"
)


def test_a_v8_stores_own_whole_photo_catches_of_one_photo_are_exported_as_the_whole_photo(
    db_path: Path, passphrase: Passphrase, clock: FakeClock, tmp_path: Path
) -> None:
    """Two cod this device recorded on one photo as the whole photo (one by the code of
    schema 5 to 8, which queued ``"crop": null``; one by older code, which queued no
    crop) lose their box at the upgrade like every row without one, yet the device's own
    export must keep them, as the hub's does: the payload it queued when it recorded each
    says so. Two cod pulled onto another photo, queued nothing here: which fish is each
    one's is not known, so they stay out."""
    own, pulled = (str(uuid.uuid4()), str(uuid.uuid4())), (str(uuid.uuid4()), str(uuid.uuid4()))
    deck, haul = (Photo(bytes([seed]) * 64, "image/jpeg", clock.now()) for seed in (1, 2))
    v8 = Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:8])
    with v8, v8.database.write() as connection:
        for photo, uids in ((deck, own), (haul, pulled)):
            photo_id = insert_photo(connection, FAST, clock, photo, None)
            for n, uid in enumerate(uids):
                at = f"2026-03-01T07:0{n}:00.000000Z"
                connection.execute(V8_OBSERVATION, (uid, at, photo_id, at, at, at))
        for uid, crop in zip(own, ({"crop": None}, {}), strict=True):  # as each code queued it
            payload = {"observation_uid": uid, "photo_uid": deck.photo_uid, **crop}
            connection.execute(
                "INSERT INTO outbox (idempotency_key, entity, entity_uid, operation, payload,"
                " state, created_at, state_changed_at) VALUES (?, 'fish_observation', ?,"
                " 'upsert', ?, 'acknowledged', ?, ?)",
                (str(uuid.uuid4()), uid, json.dumps(payload), "2026-03-01T07:00:00.000000Z",
                 "2026-03-01T07:00:00.000000Z"),
            )  # fmt: skip
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION == 20
        assert not any(store.observations.get(uid).crop_known for uid in (*own, *pulled))
        report = export_corrections(store.database, CorrectionsExport(tmp_path / "out"))
    with (tmp_path / "out" / "corrections.csv").open() as csv_file:
        rows = list(csv.DictReader(csv_file))
    assert [(r["observation_uid"], r["file"], r["crop_x"]) for r in rows] == [
        (own[0], f"photos/{deck.photo_uid}.jpg", "")  # one example: both name the whole photo
    ]
    assert (report.summary.written, report.box_not_known) == (1, 2)


# The schema-10 columns a flagged catch was written with, by ``jaga catch`` or a pull.
V10_FLAGGED = (
    "INSERT INTO fish_observations (observation_uid, observed_at, predictions, needs_review,"
    " count, officer, notes, created_at, updated_at)"
    " VALUES (?, ?, '[[\"Gadus morhua\", 0.6]]', 1, 1, 'officer-7', ?, ?, ?)"
)


def test_a_v10_store_tells_its_own_catches_from_pulled_ones_by_what_it_queued(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """Schema 10 did not keep where a catch came from. A catch recorded here was queued
    for the hub with its row, and the outbox keeps every entry; a pull writes its rows
    without one. So the upgrade marks the rows without an entry as pulled, and the review
    list shows this device's own flagged catches, newest first; the whole site's on asking."""
    own, pulled = ("own-1", "own-2"), ("pulled-1", "pulled-2", "pulled-3")
    v10 = Store.create(db_path, passphrase, clock=clock, config=FAST, migrations=MIGRATIONS[:10])
    with v10, v10.database.write() as connection:
        for n, notes in enumerate((pulled[0], own[0], pulled[1], own[1], pulled[2])):
            uid, at = str(uuid.uuid4()), f"2026-03-01T07:0{n}:00.000000Z"
            connection.execute(V10_FLAGGED, (uid, at, notes, at, at))
            if notes in own:  # as ``Observations.add`` queued it, sent or not
                connection.execute(
                    "INSERT INTO outbox (idempotency_key, entity, entity_uid, operation, payload,"
                    " state, created_at, state_changed_at) VALUES (?, 'fish_observation', ?,"
                    " 'upsert', ?, 'acknowledged', ?, ?)",
                    (str(uuid.uuid4()), uid, json.dumps({"observation_uid": uid}), at, at),
                )
    with Store.open(db_path, passphrase, clock=clock, config=FAST) as store:
        assert schema_version(store.database.connection) == LATEST_VERSION == 20
        mine = store.observations.review_queue()
        assert [(o.notes, o.recorded_here) for o in mine] == [("own-2", True), ("own-1", True)]
        site = store.observations.review_queue(include_pulled=True)
        assert [o.notes for o in site] == ["pulled-3", "own-2", "pulled-2", "own-1", "pulled-1"]
        assert [o.recorded_here for o in site] == [False, True, False, True, False]
        assert [o.notes for o in store.observations.review_queue(1)] == ["own-2"]
        recorded = store.observations.add(replace(mine[0], observation_uid=str(uuid.uuid4())))
        assert store.observations.get(recorded.observation_uid).recorded_here
        with pytest.raises(sqlcipher3.IntegrityError, match="CHECK"), store.database.write() as c:
            c.execute("UPDATE fish_observations SET recorded_here = 2")
        assert store.integrity().ok, store.integrity().problems
        ensure_schema(store.database)
