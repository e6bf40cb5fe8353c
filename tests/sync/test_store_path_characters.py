"""A store whose folder's name holds a character a URI gives a meaning to (``#``, ``?``,
``%``) is the file at that path: SQLite is handed its path as a URI, and unescaped, ``#``
ends the path there (the store was made as another file, beside the folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, FakeClock, enrol

PASSPHRASE = "correct horse battery staple"


@pytest.mark.parametrize("folder", ["a#b", "a?mode=ro", "a%41b", "a b"])
def test_a_store_under_a_folder_named_with_uri_characters_is_that_file(
    tmp_path: Path, clock: FakeClock, folder: str
) -> None:
    path = tmp_path / folder / "jaga.db"
    path.parent.mkdir()
    with Store.create(path, Passphrase(PASSPHRASE), clock=clock, config=FAST) as store:
        person = enrol(store, clock, "B-1", seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]  # nothing made beside it
    with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.get(person).external_id == "B-1"
