"""Nothing readable on disk: not the database, not its WAL, not any temporary file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from sync.store import AccessEvent, FishObservation, Photo, SpeciesScore, Store
from tests.sync.conftest import FakeClock, consent, template

MARKERS = {
    "name": "Zebedee Quixotic-Marker",
    "badge": "BADGE-MARKER-4242",
    "notes": "NOTE-MARKER hauled near the wreck",
    "species": "Marker-species pelagicus",
    "photo": "PHOTO-MARKER-BYTES",
}


def files_beside(db_path: Path) -> list[Path]:
    return [path for path in db_path.parent.iterdir() if path.is_file()]


def write_marked_records(store: Store, clock: FakeClock) -> np.ndarray:
    vector = template(7).vector
    enrolment = store.people.enrol(
        external_id=MARKERS["badge"],
        display_name=MARKERS["name"],
        site="north-gate",
        consent=consent(clock),
        templates=[template(7)],
        operator="officer-7",
        duplicate_threshold=0.6,
        photos=[Photo((MARKERS["photo"] * 50).encode(), "image/jpeg", clock.now())],
    )
    store.observations.add(
        FishObservation(
            observed_at=clock.now(),
            predictions=(SpeciesScore(MARKERS["species"], 0.55),),
            needs_review=True,
            officer="officer-7",
            notes=MARKERS["notes"],
        )
    )
    clock.advance(minutes=1)
    store.access.record(
        AccessEvent(clock.now(), "north-gate", "kiosk-1", "verified", enrolment.person.person_uid)
    )
    return vector


def assert_no_plaintext(paths: list[Path], vector: np.ndarray) -> None:
    needles = [text.encode() for text in MARKERS.values()]
    needles += [text.encode("utf-16-le") for text in MARKERS.values()]
    needles.append(vector.astype("<f4").tobytes()[:32])  # a template's raw bytes
    for path in paths:
        content = path.read_bytes()
        assert not content.startswith(b"SQLite format 3"), path.name
        for needle in needles:
            assert needle not in content, f"{needle!r} readable in {path.name}"


def test_no_marker_is_readable_in_the_database_or_its_wal_while_open(
    store: Store, db_path: Path, clock: FakeClock
) -> None:
    vector = write_marked_records(store, clock)
    wal = db_path.with_name(db_path.name + "-wal")
    assert wal.stat().st_size > 0  # the records are (also) in the WAL right now
    assert_no_plaintext(files_beside(db_path), vector)


def test_no_marker_is_readable_after_close_and_checkpoint(
    store: Store, db_path: Path, clock: FakeClock
) -> None:
    vector = write_marked_records(store, clock)
    store.database.checkpoint()
    store.close()
    assert_no_plaintext(files_beside(db_path), vector)


def test_the_file_header_is_random_not_sqlite(store: Store, db_path: Path) -> None:
    store.close()
    head = db_path.read_bytes()[:16]
    assert head != b"SQLite format 3\x00"
    assert len(set(head)) > 8  # SQLCipher's per-file salt


def test_no_temporary_file_appears_during_a_large_sort(
    store: Store, db_path: Path, clock: FakeClock
) -> None:
    for day in range(200):
        clock.advance(minutes=1)
        store.observations.add(
            FishObservation(
                observed_at=clock.now() - timedelta(days=day),
                predictions=(SpeciesScore(MARKERS["species"], 0.5),),
                needs_review=True,
                officer="officer-7",
                notes=MARKERS["notes"] * 20,
            )
        )
    queue = store.observations.review_queue(limit=1000)
    names = {path.name for path in files_beside(db_path)}
    assert len(queue) == 200
    assert names == {"jaga.db", "jaga.db-wal", "jaga.db-shm", "jaga.db.kdf.json", "jaga.db.in-use"}
