"""A catch an earlier release recorded with a vessel or trip the wire's ``Name`` now refuses
(a control character or bidirectional override: ``sync.protocol.names``) can still be
reviewed on the device: the verdict is kept here, the stored names are left as they were,
and its entry waits in quarantine with the schema's reason, as the hub would answer it. A
review never brings a new such name in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.errors import RecordInvalidError
from sync.store import FishObservation, Passphrase, Store
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_cli import PASSPHRASE, cli_store, jaga
from tests.sync.test_store_review_cli import HADDOCK, observation

__all__ = ["cli_store"]

OLD_VESSEL, OLD_TRIP = "KM \u202eHarapan", "T-7\x1b[2J"
OLD_NOTES = "near the \u2066reef"  # free text the wire refuses since (an isolate)


@pytest.fixture
def store(cli_store: Path) -> Iterator[Store]:
    with Store.open(cli_store, Passphrase(PASSPHRASE), clock=FakeClock(), config=FAST) as opened:
        yield opened


def recorded_by_an_earlier_release(store: Store) -> FishObservation:
    """A flagged catch whose row and queued entry hold names as an earlier release wrote them
    (its store took them then): written to the database directly."""
    made = observation(store, 1)
    with store.database.write() as connection:
        connection.execute(
            "UPDATE fish_observations SET vessel = ?, trip = ?, notes = ?"
            " WHERE observation_uid = ?",
            (OLD_VESSEL, OLD_TRIP, OLD_NOTES, made.observation_uid),
        )
        connection.execute(
            "UPDATE outbox SET payload = json_set(payload, '$.vessel', ?, '$.trip', ?,"
            " '$.notes', ?) WHERE entity_uid = ?",
            (OLD_VESSEL, OLD_TRIP, OLD_NOTES, made.observation_uid),
        )
    old = store.observations.get(made.observation_uid)
    assert (old.vessel, old.trip, old.notes) == (OLD_VESSEL, OLD_TRIP, OLD_NOTES)
    return old


def test_confirm_of_an_old_catch_keeps_the_verdict_and_quarantines_its_entry(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    old = recorded_by_an_earlier_release(store)
    before = len(store.outbox.entries())
    assert jaga("store", "confirm", old.observation_uid, HADDOCK, "--officer", "o-2") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"confirmed {old.observation_uid} as {HADDOCK} (reviewed by o-2);")
    assert "not sent" in out and "quarantine" in out and "vessel" in out, out
    reviewed = store.observations.get(old.observation_uid)
    assert (reviewed.confirmed_species, reviewed.needs_review) == (HADDOCK, False)
    assert (reviewed.vessel, reviewed.trip, reviewed.notes) == (OLD_VESSEL, OLD_TRIP, OLD_NOTES)
    entries = store.outbox.entries()
    assert len(entries) == before + 1
    assert (entries[-1].entity_uid, entries[-1].state) == (old.observation_uid, "rejected")
    (waiting,) = [q for q in store.outbox.quarantined() if q.sequence == entries[-1].sequence]
    assert "vessel" in waiting.reason and "'\\u202e'" in waiting.reason
    assert "notes" in waiting.reason and "'\\u2066'" in waiting.reason
    assert entries[-1].payload()["confirmed_species"] == HADDOCK


def test_not_a_fish_of_an_old_catch_is_kept_and_quarantined(store: Store) -> None:
    old = recorded_by_an_earlier_release(store)
    answered = store.observations.answer_not_a_fish(old.observation_uid, officer="o-2")
    assert answered.not_a_fish and not answered.needs_review
    assert store.outbox.entries()[-1].state == "rejected"


@pytest.mark.parametrize(
    ("species", "officer", "field"),
    [("Gadus \u202emorhua", "o-2", "confirmed_species"), (HADDOCK, "o\u20662", "reviewed_by")],
)
def test_a_review_of_an_old_catch_brings_no_new_hidden_name_in(
    store: Store, species: str, officer: str, field: str
) -> None:
    old = recorded_by_an_earlier_release(store)
    before = store.outbox.entries()
    with pytest.raises(RecordInvalidError, match=field):
        store.observations.confirm(old.observation_uid, species, officer=officer)
    assert store.outbox.entries() == before
    assert store.observations.get(old.observation_uid) == old


def test_a_review_of_a_plain_catch_still_refuses_a_hidden_name(store: Store) -> None:
    plain = observation(store, 2)
    before = store.outbox.entries()
    with pytest.raises(RecordInvalidError, match="confirmed_species"):
        store.observations.confirm(plain.observation_uid, "Gadus \u202emorhua", officer="o-2")
    assert store.outbox.entries() == before
    assert store.observations.get(plain.observation_uid) == plain
