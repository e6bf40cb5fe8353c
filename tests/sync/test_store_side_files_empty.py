"""The catch spool and the kiosk's journal tell a side file that holds nothing by one rule
(``sync.store.side_rekey.holds_nothing``): absent, or an empty file a kill left between its
creation and its first page, whose log holds no page either. Real files, real SQLCipher."""

from __future__ import annotations

from pathlib import Path

from sync.store.database import Database, StoreConfig
from sync.store.database_files import PAGE_SIZE
from sync.store.kiosk_journal import journal_count, waiting_path
from sync.store.pending_catches import pending_count, spool_exists, spool_path
from sync.store.side_rekey import holds_nothing

KEY = bytes(range(32))


def test_a_side_file_holds_nothing_when_absent_or_empty_with_no_page_logged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "side.db"
    assert holds_nothing(path), "an absent file holds something"
    path.touch()
    assert holds_nothing(path), "an empty file holds something"
    path.with_name(path.name + "-wal").write_bytes(bytes(32 + 24 + PAGE_SIZE))
    assert not holds_nothing(path), "an empty file whose log holds a page holds nothing"
    path.with_name(path.name + "-wal").unlink()
    path.unlink()
    Database.open(path, KEY, StoreConfig(), create=True).close()
    assert not holds_nothing(path), "a made database holds nothing"


def test_the_spool_and_the_journal_count_an_empty_file_as_none(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    for side in (spool_path(store), waiting_path(store)):
        side.touch()  # a kill between the file and its first page
    assert not spool_exists(store)
    assert pending_count(store, KEY, StoreConfig()) == 0
    assert journal_count(store, KEY, StoreConfig()) == 0
