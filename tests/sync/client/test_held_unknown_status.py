"""Entries held as of no known hub (``UNKNOWN_HUB``: the review of a catch a v16 store
pulled before its upgrade, confirmed after a move) are no hub's: `jaga sync status` and
`jaga store info` counted them with those held for a hub left since, under words that
promise they go once registered with that hub again. No hub takes them, the hub the device
is registered back with included; they are counted apart, and said so."""

from __future__ import annotations

from pathlib import Path

import pytest

from main import main
from sync.store import Passphrase, Store
from sync.store.hub_keys import UNKNOWN_HUB
from tests.sync.client.devices import PASSPHRASE
from tests.sync.client.test_held_records_follow import HUB_A, moved_to_b, registered_with
from tests.sync.client.test_register_moved import env
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_migration_catch_hub import _v16_store_with_catches

__all__ = ["env"]


def _review_of_no_known_hub(tmp_path: Path) -> Path:
    """A store registered back with hub A holding one review as of no known hub."""
    db = tmp_path / "kiosk" / "jaga.db"
    db.parent.mkdir()
    clock = FakeClock()
    _own, pulled = _v16_store_with_catches(db, Passphrase(PASSPHRASE), clock)
    with Store.open(db, Passphrase(PASSPHRASE), clock=clock, config=FAST) as store:
        moved_to_b(store)
        store.observations.confirm(pulled, "Gadus morhua", officer="officer-7")
        registered_with(store, HUB_A)  # back with A: the own catch goes, the review never
        assert store.outbox.held_for(pulled) == UNKNOWN_HUB
    return db


def test_sync_status_says_entries_of_no_known_hub_go_to_none(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _review_of_no_known_hub(tmp_path)
    capsys.readouterr()

    main(["sync", "status", "--db", str(db)])

    held = [line for line in capsys.readouterr().out.splitlines() if line.startswith("held")]
    assert held == [
        "held         1 outbox entry of no known hub (about records this device took before"
        " it kept which hub they are of, and registered with another hub since): sent to no hub"
    ], held


def test_store_info_says_the_same(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _review_of_no_known_hub(tmp_path)
    capsys.readouterr()

    main(["store", "info", "--db", str(db)])

    (outbox,) = [line for line in capsys.readouterr().out.splitlines() if "outbox" in line]
    assert "held for another hub" not in outbox and "registered with it again" not in outbox
    assert outbox.endswith("; held 1 of no known hub (about records this device took before"
                           " it kept which hub they are of, and registered with another hub"
                           " since): sent to no hub"), outbox  # fmt: skip
