"""The keys derived for the kiosk's journal (and, at a key change, for the files beside the
store) are overwritten once used, as the spool's are (``sync.store.key_memory``).

Review (s34): ``jaga store rekey`` derived the journal's and the spool's keys under the old
and the new store key and let them go as they were; counting the journal, recording a
retired kiosk's journal and the kiosk's own journal did the same with the journal's key.
Freed, such a key stays in the process's memory until reused (``test_catch_closed_memory``
found the spool's there). Each test records the keys derived and checks that each is
zeros after, and that the journal still did its work. Real store files, real SQLCipher.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import sync.store.kiosk_journal
import sync.store.pending_catches
from desktop.kiosk.journal import DecisionJournal
from sync.store import Passphrase, Store
from sync.store.kiosk_journal import journal_count
from sync.store.kiosk_waiting import record_left_waiting
from sync.store.spool_kdf import journal_key_from, spool_key_from
from tests.desktop.kiosk.test_kiosk_journal_key import (
    PASSPHRASE,
    ROTATED,
    events,
    kept_by_the_kiosk,
    kiosk_starts,
    make_store,
    store_key,
)
from tests.desktop.kiosk.test_kiosk_rules import QUICK

ZEROS = bytes(32)


def recording(
    monkeypatch: pytest.MonkeyPatch, module: object, derive: Callable[[bytes], bytes]
) -> list[bytes]:
    """Every key ``module``'s ``derive`` makes from now on, as it is left after use."""
    made: list[bytes] = []

    def derived(store_key: bytes) -> bytes:
        made.append(derive(store_key))
        return made[-1]

    monkeypatch.setattr(module, derive.__name__, derived)
    return made


def left_as_they_were(made: list[bytes]) -> int:
    return sum(key != ZEROS for key in made)


def test_a_key_change_overwrites_the_keys_it_derived_for_the_files_beside_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_store(tmp_path)
    waiting = events(3)
    kept_by_the_kiosk(path, waiting)
    journal_keys = recording(monkeypatch, sync.store.kiosk_journal, journal_key_from)
    spool_keys = recording(monkeypatch, sync.store.pending_catches, spool_key_from)
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        store.change_key(Passphrase(ROTATED), operator="test")
    assert journal_keys, "the key change derived no journal key: the test proves nothing"
    left = left_as_they_were(journal_keys) + left_as_they_were(spool_keys)
    assert not left, f"{left} key(s) derived by the key change were not overwritten"
    monkeypatch.undo()
    uids = [event.event_uid for event in waiting]
    assert kiosk_starts(path, ROTATED) == uids  # the journal moved with the store


def test_counting_the_journal_overwrites_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_store(tmp_path)
    kept_by_the_kiosk(path, events(2))
    key = store_key(path)
    made = recording(monkeypatch, sync.store.kiosk_journal, journal_key_from)
    assert journal_count(path, key, QUICK) == 2
    assert made, "no journal key was derived: the test proves nothing"
    assert not left_as_they_were(made), "the journal's key was not overwritten"
    assert key != ZEROS  # the store's own key is the caller's: left as it was


def test_recording_a_retired_kiosks_journal_overwrites_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_store(tmp_path)
    kept_by_the_kiosk(path, events(2))
    made = recording(monkeypatch, sync.store.kiosk_journal, journal_key_from)
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        assert record_left_waiting(store) == 2
        assert store.key != ZEROS
    assert made, "no journal key was derived: the test proves nothing"
    assert not left_as_they_were(made), "the journal's key was not overwritten"


def test_the_kiosks_journal_overwrites_its_key_when_it_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_store(tmp_path)
    made = recording(monkeypatch, sync.store.kiosk_journal, journal_key_from)
    waiting = events(2)
    with Store.open(path, Passphrase(PASSPHRASE), config=QUICK) as store:
        journal = DecisionJournal(store)
        journal.keep(waiting)
        journal.close()
    assert made, "no journal key was derived: the test proves nothing"
    assert not left_as_they_were(made), "the journal's key was not overwritten"
    assert kiosk_starts(path) == [event.event_uid for event in waiting]
