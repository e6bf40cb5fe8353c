"""Erasure of a person and the retention purge."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.errors import RecordConflictError, RecordInvalidError, RecordNotFoundError
from sync.protocol import RETENTION_REASON
from sync.store import KeyFile, OutboxState, Passphrase, Photo, Store, StoreConfig
from sync.store.photos import load_photo
from tests.sync.conftest import (
    FAST,
    MODEL,
    REPO_ROOT,
    FakeClock,
    consent,
    enrol,
    template,
    worker,
)
from tests.sync.pages import pages_holding


def enrol_with_photo(store: Store, clock: FakeClock, badge: str, seed: int) -> tuple[str, str]:
    photo = Photo(b"\xff\xd8 enrolment photo " + badge.encode(), "image/jpeg", clock.now())
    return enrol(store, clock, badge, seed, photos=[photo]), photo.photo_uid


def test_erasure_removes_templates_and_photos(store: Store, clock: FakeClock) -> None:
    person_uid, photo_uid = enrol_with_photo(store, clock, "B-1", seed=1)
    enrol(store, clock, "B-2", seed=2)
    store.people.erase(person_uid, operator="dpo", reason="subject request")
    with pytest.raises(RecordNotFoundError):
        store.people.get(person_uid)
    with pytest.raises(RecordNotFoundError):
        load_photo(store.database, photo_uid)
    counts = store.database.query("SELECT count(*) FROM face_templates")[0][0]
    assert counts == 1
    assert len(store.gallery(MODEL)) == 1


def test_the_erasure_audit_entry_holds_no_biometric_or_name(store: Store, clock: FakeClock) -> None:
    person_uid, _ = enrol_with_photo(store, clock, "B-1", seed=1)
    vector_b64 = base64.b64encode(template(1).vector.astype("<f4").tobytes()).decode()
    store.people.erase(person_uid, operator="dpo", reason="subject request")
    entry = store.audit.entries()[-1]
    assert (entry.action, entry.subject, entry.actor) == ("person.erased", person_uid, "dpo")
    assert vector_b64[:16] not in entry.details_json
    assert "Person B-1" not in entry.details_json and "B-1" not in entry.details_json
    assert '"templates_removed":1' in entry.details_json
    assert store.audit.verify().ok


def test_erasure_queues_a_tombstone_and_drops_unsent_biometrics(
    store: Store, clock: FakeClock
) -> None:
    person_uid, _ = enrol_with_photo(store, clock, "B-1", seed=1)
    store.people.erase(person_uid, operator="dpo", reason="subject request")
    entries = store.outbox.entries()
    assert [(e.entity, e.operation) for e in entries] == [("person", "tombstone")]
    assert entries[0].entity_uid == person_uid
    assert entries[0].state == OutboxState.QUEUED


def test_erasure_blanks_payloads_already_sent(store: Store, clock: FakeClock) -> None:
    person_uid, _ = enrol_with_photo(store, clock, "B-1", seed=1)
    sent = [e.idempotency_key for e in store.outbox.queued()]
    store.outbox.mark_sent(sent)
    store.people.erase(person_uid, operator="dpo", reason="subject request")
    kept = {e.idempotency_key: e for e in store.outbox.entries()}
    assert all(kept[key].payload() == {"erased": True} for key in sent)
    assert not any("vector" in e.payload_json for e in kept.values())


def test_erasing_an_unknown_person_is_a_clear_error(store: Store) -> None:
    with pytest.raises(RecordNotFoundError):
        store.people.erase("no-such-uid", operator="dpo", reason="x")


def _short_and_long_stays(store: Store, clock: FakeClock) -> tuple[str, str]:
    """Two people: one whose consent is kept 30 days, one 365 days."""
    short = store.people.enrol(
        external_id="SHORT",
        display_name="Short stay",
        site="gate",
        consent=consent(clock, days=30),
        templates=[template(1)],
        operator="o",
        duplicate_threshold=0.6,
    ).person.person_uid
    return short, enrol(store, clock, "LONG", seed=2)


def test_purge_erases_exactly_the_expired_consents(store: Store, clock: FakeClock) -> None:
    short, long = _short_and_long_stays(store, clock)
    clock.advance(days=31)
    assert store.people.purge_expired() == [short]
    assert store.people.count() == 1
    assert store.people.get(long).external_id == "LONG"
    assert store.audit.entries()[-1].actor == "retention"


def test_purge_goes_by_the_devices_clock_not_a_hub_time_seen_ahead(
    store: Store, clock: FakeClock
) -> None:
    """A hub whose clock ran 31 days ahead for a few minutes left that time as the newest
    seen: a purge by it erased here, for good, a person with 30 days of consent left. The
    device purges by its own clock; the hub's own purge reaches it as a tombstone."""
    from sync.store.edit_clock import note_hub_time

    short, long = _short_and_long_stays(store, clock)
    with store.database.write() as connection:  # as a pull from such a hub leaves it
        hub_now = clock.now() + timedelta(days=31)
        note_hub_time(connection, [("a-change", hub_now)], hub_now, clock.now())
    assert store.people.purge_expired() == []
    assert {person.person_uid for person, _ in store.people.listing()} == {short, long}


def test_purge_with_nothing_expired_changes_nothing(store: Store, clock: FakeClock) -> None:
    enrol(store, clock, "B-1", seed=1)
    before = store.audit.head()
    assert store.people.purge_expired() == []
    assert store.audit.head() == before


def _enrol_again(store: Store, clock: FakeClock, badge: str, seed: int) -> str:
    return store.people.enrol(
        external_id=badge, display_name="Person B-1", site="north-gate",
        consent=consent(clock), templates=[template(seed)], operator="officer-7",
        duplicate_threshold=0.6,
    ).person.person_uid  # fmt: skip


@pytest.mark.parametrize("badge", ["B-1", "B-2"])
def test_someone_past_retention_who_consents_again_is_enrolled_again(
    store: Store, clock: FakeClock, badge: str
) -> None:
    """No sync ran since their consent ended (an offline kiosk tells them to enrol again):
    their old record neither holds the badge nor matches their face as a duplicate. The
    enrolment erases it first, as a sync's purge would: audited, with a tombstone to push."""
    old = enrol(store, clock, "B-1", seed=1)
    clock.advance(days=366)
    new = _enrol_again(store, clock, badge, seed=1)
    assert [person.person_uid for person, _ in store.people.listing()] == [new]
    erased = [e for e in store.audit.entries() if e.action == "person.erased"]
    assert [(e.subject, e.actor) for e in erased] == [(old, "retention")]
    tombstone = store.outbox.tombstones()[-1]
    assert (tombstone.entity_uid, tombstone.payload()["reason"]) == (old, RETENTION_REASON)


def test_a_holder_still_within_retention_still_holds_the_badge(
    store: Store, clock: FakeClock
) -> None:
    enrol(store, clock, "B-1", seed=1)
    clock.advance(days=364)
    with pytest.raises(RecordConflictError, match="already enrolled"):
        _enrol_again(store, clock, "B-1", seed=1)
    assert store.outbox.tombstones() == []


def test_an_erasure_the_hub_would_refuse_is_not_made(store: Store, clock: FakeClock) -> None:
    """A reason over the wire's limit would commit here and quarantine its tombstone on push:
    the hub and every other kiosk would keep the person. It is refused before anything."""
    person_uid, _ = enrol_with_photo(store, clock, "B-1", seed=1)
    with pytest.raises(RecordInvalidError, match="reason"):
        store.people.erase(person_uid, operator="dpo", reason="letter ref. " + "x" * 1000)
    assert store.people.get(person_uid).external_id == "B-1"
    assert store.outbox.tombstones() == []


def test_an_enrolment_the_hub_would_refuse_is_not_made(store: Store, clock: FakeClock) -> None:
    with pytest.raises(RecordInvalidError, match="site"):
        store.people.enrol(
            external_id="B-9",
            display_name="Person B-9",
            site="North Gate",  # the hub's sites are slugs
            consent=consent(clock),
            templates=[template(9)],
            operator="officer-7",
            duplicate_threshold=0.6,
        )
    assert store.people.count() == 0 and store.outbox.entries() == []


def test_an_erasure_held_back_by_a_reader_reaches_the_main_file_at_the_next_write(
    tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """The kiosk loading its gallery holds a snapshot while an erasure commits: the checkpoint
    that folds the erasure into the main file (and drops the WAL's copies of the person's
    pages) cannot run then. It is owed, and the next write runs it."""
    busy_timeout_s = 2.0  # no write after the erasure may sit it out
    config = StoreConfig(busy_timeout_s=busy_timeout_s, scrypt_n=2**10, purge_wait_s=0)
    db = tmp_path / "jaga.db"
    with (
        Store.create(db, passphrase, clock=clock, config=config) as store,
        Store.open(db, passphrase, clock=clock, config=config) as kiosk,
    ):
        person_uid = enrol(store, clock, "B-1", seed=1)
        with kiosk.database.read() as snapshot:
            snapshot.execute("SELECT count(*) FROM face_templates").fetchall()
            assert not store.people.erase(person_uid, operator="dpo", reason="subject request")
            assert store.database.checkpoint_owed
            started = time.monotonic()
            enrol(store, clock, "B-3", seed=3)  # the reader is still there: still owed, ...
            assert store.database.checkpoint_owed
            assert time.monotonic() - started < busy_timeout_s / 2  # ... and not waited for
        enrol(store, clock, "B-2", seed=2)
        assert not store.database.checkpoint_owed
        assert db.with_name(db.name + "-wal").stat().st_size == 0


PHOTO_MARK = b"PHOTO-OF-THE-ERASED-PERSON "


@contextlib.contextmanager
def reader_process(db: Path, key_file: KeyFile) -> Iterator[subprocess.Popen[str]]:
    """Another process holding a read snapshot (an export, a backup, the kiosk's gallery) until
    told, and then the store open, idle, until told again."""
    process = subprocess.Popen(
        worker("read", str(db), str(key_file.path)),
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "reading"
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


def tell(process: subprocess.Popen[str]) -> str:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def jaga(db: Path, key_file: KeyFile, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *argv, "--db", str(db), "--key-file", str(key_file.path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def store_with_two_people(db: Path, key_file: KeyFile, clock: FakeClock) -> bytes:
    """B-1 with a photo, their consent long expired; B-2, consent for years. Returns the key."""
    with Store.create(db, key_file, clock=clock, config=FAST) as store:
        photo = Photo(PHOTO_MARK * 40, "image/jpeg", clock.now())
        store.people.enrol(
            external_id="B-1",
            display_name="Person B-1",
            site="north-gate",
            consent=consent(clock, days=30),
            templates=[template(1)],
            operator="officer-7",
            duplicate_threshold=0.6,
            photos=[photo],
        )
        store.people.enrol(
            external_id="B-2",
            display_name="Person B-2",
            site="north-gate",
            consent=consent(clock, days=365 * 30),
            templates=[template(2)],
            operator="officer-7",
            duplicate_threshold=0.6,
        )
        return store.key


@pytest.mark.parametrize(
    "command",
    [("store", "erase", "B-1", "--reason", "subject request"), ("store", "purge-expired")],
    ids=["erase", "purge-expired"],
)
def test_an_erasure_a_reader_holds_back_says_so_and_the_next_open_purges_it(
    db_path: Path, key_file: KeyFile, command: tuple[str, ...]
) -> None:
    """Until a checkpoint folds the erasure in, the person's photo and name are still in the
    file (and the WAL). Another process reading holds that back; the command that erased must
    say so, and the store must remember it owes the purge after that command has exited."""
    clock = FakeClock(datetime(2020, 1, 1, tzinfo=UTC))  # B-1's consent expired in 2020
    key = store_with_two_people(db_path, key_file, clock)
    with reader_process(db_path, key_file) as reader:
        erased = jaga(db_path, key_file, *command, "--purge-wait", "0")
        assert erased.returncode == 3, erased.stdout + erased.stderr
        assert "still in the store's file" in erased.stdout
        assert sum(pages_holding(key, db_path, PHOTO_MARK)) > 0  # as it said
        info = jaga(db_path, key_file, "store", "info")
        assert info.returncode == 0, info.stderr
        assert "erased data  STILL IN THE FILE" in info.stdout

        assert tell(reader) == "read done"  # the reader stays, its store open
        info = jaga(db_path, key_file, "store", "info")  # any open retries the purge
        assert "erased data  none left in the file" in info.stdout
        for needle in (PHOTO_MARK, b"Person B-1", b"B-1"):
            assert pages_holding(key, db_path, needle) == (0, 0), needle
    with Store.open(db_path, key_file, config=FAST) as store:
        assert [p.external_id for p, _ in store.people.listing()] == ["B-2"]
        assert store.database.owed_purge_since() is None


def test_a_process_open_before_the_erasure_purges_it_at_its_next_write(
    db_path: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    """The CLI erases and exits while an export reads; the kiosk, open all along, writes on
    (access events): its next write after the read runs the purge the CLI could not."""
    key = store_with_two_people(db_path, key_file, clock)
    impatient = StoreConfig(busy_timeout_s=FAST.busy_timeout_s, scrypt_n=2**10, purge_wait_s=0)
    with (
        Store.open(db_path, key_file, clock=clock, config=FAST) as kiosk,
        reader_process(db_path, key_file) as export,
    ):
        with Store.open(db_path, key_file, clock=clock, config=impatient) as cli:
            person = cli.people.by_external_id("B-1")
            assert person is not None
            assert not cli.people.erase(person.person_uid, operator="dpo", reason="request")
        enrol(kiosk, clock, "B-3", seed=3)  # the export still reads: still owed
        assert kiosk.database.owed_purge_since() is not None
        assert tell(export) == "read done"
        enrol(kiosk, clock, "B-4", seed=4)
        assert kiosk.database.owed_purge_since() is None
        assert pages_holding(key, db_path, PHOTO_MARK) == (0, 0)
        assert pages_holding(key, db_path, b"Person B-1") == (0, 0)
