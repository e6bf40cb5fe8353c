"""The app's review list confirms a catch an earlier release recorded with a vessel or trip
the hub now refuses, as ``jaga store confirm`` does (``sync.store.review_entry``), and says
that its review waits in quarantine instead of saying it is queued for the hub."""

from __future__ import annotations

from pathlib import Path

from desktop.catch_store import CatchStore
from desktop.catch_text import confirmed_text, not_a_fish_text
from sync.store import Passphrase, Store
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_cli import PASSPHRASE, cli_store
from tests.sync.test_store_review_cli import HADDOCK, observation
from tests.sync.test_store_review_old_names import recorded_by_an_earlier_release

__all__ = ["cli_store"]


def test_the_review_list_confirms_an_old_catch_and_says_its_review_waits(
    cli_store: Path,
) -> None:
    with Store.open(cli_store, Passphrase(PASSPHRASE), clock=FakeClock(), config=FAST) as store:
        old = recorded_by_an_earlier_release(store)
        plain = observation(store, 2)
    catches = CatchStore(cli_store, Passphrase(PASSPHRASE), FAST)
    reviewed = catches.confirm(old.observation_uid, HADDOCK, "Ana Lima")
    assert reviewed.observation.confirmed_species == HADDOCK
    assert reviewed.quarantined is not None and "vessel" in reviewed.quarantined
    said = confirmed_text(reviewed.observation, reviewed.held_for, reviewed.quarantined)
    assert "not sent: it waits in quarantine" in said and "queued for the hub" not in said
    answered = catches.answer_not_a_fish(plain.observation_uid, "Ana Lima")
    assert answered.quarantined is None
    assert not_a_fish_text(answered.observation).endswith("queued for the hub")
