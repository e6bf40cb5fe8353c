"""Bad input and faults: truncated and foreign files, a second writer, a full disk, big records.

Each must end in one of our errors, with nothing half-written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlcipher3

from sync.errors import (
    NotAStoreError,
    RecordTooLargeError,
    StoreCorruptError,
    StoreLockedError,
    StoreNotFoundError,
)
from sync.store import KeyFile, Photo, Store, StoreConfig
from sync.store.database import PAGE_SIZE
from sync.store.keys import header_path
from tests.sync.conftest import FAST, REPO_ROOT, FakeClock, enrol, run_worker, worker
from tests.sync.test_store_keys import folder_state
from tests.sync.test_store_outbox import catch


@pytest.fixture
def keyed_store(db_path: Path, key_file: KeyFile, clock: FakeClock) -> Path:
    """A closed store with a few people in it, opened by key file (no KDF cost per process)."""
    with Store.create(db_path, key_file, clock=clock, config=FAST) as store:
        for number in range(20):
            photo = Photo(os.urandom(3000), "image/jpeg", clock.now())
            enrol(store, clock, f"B-{number}", seed=number, photos=[photo])
    return db_path


def copy_store(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    shutil.copyfile(header_path(source), header_path(target))
    return target


@pytest.mark.parametrize("keep_bytes", [0, 4096, 4096 * 9, 4096 * 20 + 100])
def test_a_truncated_store_is_reported_corrupt_and_left_as_is(
    keyed_store: Path, key_file: KeyFile, keep_bytes: int
) -> None:
    os.truncate(keyed_store, keep_bytes)
    before = folder_state(keyed_store.parent)
    with pytest.raises(StoreCorruptError):
        Store.open(keyed_store, key_file, config=FAST)
    assert folder_state(keyed_store.parent) == before


def test_a_flipped_byte_inside_a_page_is_caught(keyed_store: Path, key_file: KeyFile) -> None:
    with keyed_store.open("r+b") as handle:
        handle.seek(4096 * 12 + 2000)
        byte = handle.read(1)
        handle.seek(4096 * 12 + 2000)
        handle.write(bytes([byte[0] ^ 0x01]))
    with Store.open(keyed_store, key_file, config=FAST) as store:
        report = store.integrity()  # SQLCipher's per-page HMAC fails on reading that page
    assert not report.ok
    assert "malformed" in report.problems[0]


def test_a_plain_sqlite_database_is_not_a_store(tmp_path: Path, key_file: KeyFile) -> None:
    plain = tmp_path / "plain.db"
    connection = sqlcipher3.connect(plain)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    with pytest.raises(NotAStoreError, match="plain, unencrypted SQLite"):
        Store.open(plain, key_file, config=FAST)


def test_a_random_file_without_a_header_is_not_a_store(tmp_path: Path, key_file: KeyFile) -> None:
    random_file = tmp_path / "noise.db"
    random_file.write_bytes(os.urandom(4096 * 4))
    with pytest.raises(NotAStoreError, match="no key header"):
        Store.open(random_file, key_file, config=FAST)


def test_a_random_file_with_a_borrowed_header_is_not_a_store(
    keyed_store: Path, key_file: KeyFile, tmp_path: Path
) -> None:
    impostor = copy_store(keyed_store, tmp_path / "impostor.db")
    impostor.write_bytes(os.urandom(4096 * 4))
    before = folder_state(tmp_path)
    with pytest.raises(NotAStoreError, match="does not decrypt"):
        Store.open(impostor, key_file, config=FAST)
    assert folder_state(tmp_path) == before


def test_another_apps_sqlcipher_file_with_the_same_key_is_not_a_store(
    keyed_store: Path, key_file: KeyFile, tmp_path: Path
) -> None:
    other = copy_store(keyed_store, tmp_path / "other.db")
    other.unlink()
    key_hex = key_file.path.read_text().strip()
    connection = sqlcipher3.connect(other)
    connection.execute(f"PRAGMA key = \"x'{key_hex}'\"")
    connection.execute("CREATE TABLE notes (x)")
    connection.commit()
    connection.close()
    with pytest.raises(NotAStoreError, match="not a Jaga store"):
        Store.open(other, key_file, config=FAST)


def test_a_missing_store_is_a_clear_error_and_is_not_created(
    tmp_path: Path, key_file: KeyFile, keyed_store: Path
) -> None:
    ghost = copy_store(keyed_store, tmp_path / "ghost.db")
    ghost.unlink()
    with pytest.raises(StoreNotFoundError, match="jaga store init"):
        Store.open(ghost, key_file, config=FAST)
    assert not ghost.exists()


def test_a_photo_over_the_limit_is_refused_and_nothing_is_written(
    keyed_store: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    config = StoreConfig(max_blob_bytes=64 * 1024)
    with Store.open(keyed_store, key_file, clock=clock, config=config) as store:
        people, head = store.people.count(), store.audit.head()
        big = Photo(b"\0" * (64 * 1024 + 1), "image/jpeg", clock.now())
        with pytest.raises(RecordTooLargeError, match="at most 65536"):
            enrol(store, clock, "BIG", seed=99, photos=[big])
        assert (store.people.count(), store.audit.head()) == (people, head)


@contextlib.contextmanager
def lock_holder(db: Path, key_file: KeyFile, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the write lock for ``seconds``."""
    process = subprocess.Popen(
        worker("hold", str(db), str(key_file.path), str(seconds)),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "locked"
        yield process
    finally:
        process.wait(timeout=60)


def test_a_second_writer_gets_a_clear_error_after_the_busy_timeout(
    keyed_store: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    config = StoreConfig(busy_timeout_s=0.3)
    with Store.open(keyed_store, key_file, clock=clock, config=config) as store:
        count = store.observations.count()
        with lock_holder(keyed_store, key_file, seconds=1.5):
            started = time.monotonic()
            with pytest.raises(StoreLockedError, match=r"gave up after 0\.3 s"):
                store.observations.add(catch(clock))
            waited = time.monotonic() - started
        assert 0.25 < waited < 3.0
        assert store.observations.count() == count
        store.observations.add(catch(clock))  # the lock is free again
        assert store.observations.count() == count + 1


def test_a_second_writer_waits_for_a_short_lock(
    keyed_store: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    config = StoreConfig(busy_timeout_s=30)
    with Store.open(keyed_store, key_file, clock=clock, config=config) as store:
        with lock_holder(keyed_store, key_file, seconds=0.5):
            store.observations.add(catch(clock))
        assert store.observations.count() == 1


def test_concurrent_writer_processes_lose_nothing(
    keyed_store: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    writers = [
        subprocess.Popen(
            worker("write", str(keyed_store), str(key_file.path), "40", tag),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("left", "right")
    ]
    with Store.open(keyed_store, key_file, clock=clock, config=StoreConfig(30)) as store:
        for number in range(40):
            store.observations.add(catch(clock, f"here-{number}"))
        outputs = [process.communicate(timeout=120)[0] for process in writers]
        assert [output.strip() for output in outputs] == ["done", "done"]
        notes = {row[0] for row in store.database.query("SELECT notes FROM fish_observations")}
        assert len(notes) == 120
        assert {note.split("-")[0] for note in notes} == {"left", "right", "here"}
        assert store.integrity().ok


def committed_numbers(output: str) -> tuple[list[int], str]:
    lines = output.strip().splitlines()
    return [int(line) for line in lines[:-1]], lines[-1]


def assert_full_disk_lost_nothing(db: Path, key_file: KeyFile, output: str) -> None:
    committed, last_line = committed_numbers(output)
    assert last_line.startswith("error StoreFullError"), last_line
    assert committed, "the store should have taken some records before filling up"
    with Store.open(db, key_file, config=FAST) as store:
        assert store.integrity().ok
        rows = store.database.query(
            "SELECT notes FROM fish_observations WHERE notes LIKE 'fill-%' ORDER BY id"
        )
        notes = [row[0] for row in rows]
        assert notes == [f"fill-{number}" for number in committed]
        orphans = store.database.query(
            "SELECT count(*) FROM photos WHERE person_id IS NULL AND id NOT IN"
            " (SELECT photo_id FROM fish_observations WHERE photo_id IS NOT NULL)"
        )
        assert orphans == [(0,)]


def test_a_file_size_limit_is_a_clear_full_error_losing_nothing(
    keyed_store: Path, key_file: KeyFile
) -> None:
    limit = keyed_store.stat().st_size + 600_000
    result = run_worker("fill", str(keyed_store), str(key_file.path), str(limit))
    assert result.returncode == 0, result.stderr
    assert_full_disk_lost_nothing(keyed_store, key_file, result.stdout)


def store_with_ballast(db: Path, key_file: KeyFile, clock: FakeClock) -> Path:
    """The store grown by a 2 MB photo, so that a later 1 MB one fits its WAL under a limit
    that the main file, folding that photo in, would pass."""
    with Store.open(db, key_file, clock=clock, config=FAST) as store:
        ballast = Photo(os.urandom(2_000_000), "image/jpeg", clock.now())
        store.observations.add(catch(clock, "ballast"), ballast)
    return db


def test_a_checkpoint_cut_short_by_a_file_size_limit_loses_nothing(
    keyed_store: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    db = store_with_ballast(keyed_store, key_file, clock)
    # Inside a page, as a limit in KiB (ulimit -f, a quota) falls: the cut leaves a part page.
    limit = db.stat().st_size + 500_000 + PAGE_SIZE // 2
    result = run_worker("outgrow", str(db), str(key_file.path), str(limit), "1000000")
    assert result.returncode == 0, result.stderr
    committed, checkpoint = result.stdout.strip().splitlines()
    assert committed == "committed"
    assert checkpoint.startswith("error StoreFullError"), checkpoint
    assert "not written" not in checkpoint  # it was: the commit stands, in the WAL
    wal = db.with_name(db.name + "-wal")
    assert db.stat().st_size % PAGE_SIZE and wal.stat().st_size, "no part page left behind"

    with Store.open(db, key_file, config=FAST) as store:
        assert store.integrity().ok
        catches = store.database.query(
            "SELECT o.notes, length(p.data) FROM fish_observations o"
            " JOIN photos p ON p.id = o.photo_id ORDER BY o.id"
        )
        assert catches == [("ballast", 2_000_000), ("outgrow-0", 1_000_000)]
    # With room again, closing folded the WAL in: whole pages, no log left.
    assert db.stat().st_size % PAGE_SIZE == 0
    assert not wal.exists()


def test_a_write_whose_owed_checkpoint_finds_no_room_is_still_reported_written(
    keyed_store: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    """The write that retries a checkpoint a reader held back has committed before the retry
    runs: no room for the retry must not report that write as failed, or the officer records
    the catch again."""
    db = store_with_ballast(keyed_store, key_file, clock)
    limit = db.stat().st_size + 500_000 + PAGE_SIZE // 2
    result = run_worker("owed", str(db), str(key_file.path), str(limit), "1000000")
    assert result.returncode == 0, result.stderr
    committed, second, count = result.stdout.strip().splitlines()
    assert committed == "committed owed"
    assert second == "second committed"
    assert count == "3"  # the ballast, the photo, the small record

    with Store.open(db, key_file, config=FAST) as store:
        assert store.integrity().ok
        notes = store.database.query("SELECT notes FROM fish_observations ORDER BY id")
        assert [row[0] for row in notes] == ["ballast", "owed-0", "owed-1"]


def test_a_part_page_its_wal_does_not_make_whole_is_reported_corrupt_and_left_as_is(
    keyed_store: Path, key_file: KeyFile, clock: FakeClock, tmp_path: Path
) -> None:
    torn = tmp_path / "torn.db"
    with Store.open(keyed_store, key_file, clock=clock, config=FAST) as store:
        store.observations.add(catch(clock))  # a WAL with a few frames, not the lost pages
        copy_store(keyed_store, torn)
        shutil.copyfile(keyed_store.with_name(keyed_store.name + "-wal"), f"{torn}-wal")
    os.truncate(torn, PAGE_SIZE * 9 + 100)
    files = [torn, torn.with_name(torn.name + "-wal")]
    before = [path.read_bytes() for path in files]
    with pytest.raises(StoreCorruptError, match="not a whole number of pages"):
        Store.open(torn, key_file, config=FAST)
    assert [path.read_bytes() for path in files] == before


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, or a skip where mounting is not permitted (needs root)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        # A file a test left open keeps the mount busy: detach it lazily then, rather than
        # leave it mounted under pytest's tmp folder (whose clean-up then fails on it).
        unmounted = subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if unmounted.returncode:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_file_system_is_a_clear_full_error_losing_nothing(
    small_tmpfs: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    db = small_tmpfs / "jaga.db"
    Store.create(db, key_file, clock=clock, config=FAST).close()
    result = run_worker("fill", str(db), str(key_file.path), "0")
    assert result.returncode == 0, result.stderr
    assert_full_disk_lost_nothing(db, key_file, result.stdout)
