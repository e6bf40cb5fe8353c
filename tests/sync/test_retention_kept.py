"""When a device erases again someone the hub kept after its early retention erasure
(``sync.store.retention_kept``): their date plus how far its clock ran ahead of the hub's,
at most 30 days (a day when the hub's answer gave no time); never, once they are erased."""

from __future__ import annotations

from datetime import datetime, timedelta

from sync.store import Consent, Store, Template
from sync.store.retention_kept import MAX_DEFERRAL, UNMEASURED_DEFERRAL, note_kept_by_hub
from tests.sync.conftest import MODEL, FakeClock, random_vector


def _past_retention(store: Store, clock: FakeClock) -> tuple[str, datetime]:
    now = clock.now()
    until = now - timedelta(minutes=1)
    person = store.people.enrol(
        external_id="B-1", display_name="Person B-1", site="north-gate",
        consent=Consent("v3", now - timedelta(days=30), "o", until),
        templates=[Template(MODEL, random_vector(3), 0.9, "camera")],
        operator="o", duplicate_threshold=0.99,
    ).person.person_uid  # fmt: skip
    return person, until


def _note(store: Store, person: str, until: datetime, hub_now: datetime | None) -> None:
    with store.database.write() as connection:
        note_kept_by_hub(connection, person, until, store.clock.now(), hub_now)


def test_a_person_is_kept_for_as_long_as_the_clock_ran_ahead(
    store: Store, clock: FakeClock
) -> None:
    person, until = _past_retention(store, clock)
    assert store.people.expired(clock.now()) == [person]
    _note(store, person, until, hub_now=clock.now() - timedelta(hours=2))
    assert store.people.expired(clock.now()) == []
    assert store.people.expired(until + timedelta(hours=2, seconds=-1)) == []
    assert store.people.expired(until + timedelta(hours=2)) == [person]


def test_a_clock_days_ahead_defers_as_long_and_at_most_thirty_days(
    store: Store, clock: FakeClock
) -> None:
    person, until = _past_retention(store, clock)
    for ahead, deferred in (
        (timedelta(days=2), timedelta(days=2)),
        (timedelta(days=400), MAX_DEFERRAL),
    ):
        _note(store, person, until, hub_now=clock.now() - ahead)
        assert store.people.expired(until + deferred - timedelta(seconds=1)) == []
        assert store.people.expired(until + deferred) == [person]


def test_without_the_hubs_time_a_day(store: Store, clock: FakeClock) -> None:
    person, until = _past_retention(store, clock)
    _note(store, person, until, hub_now=None)
    assert store.people.expired(until + UNMEASURED_DEFERRAL - timedelta(seconds=1)) == []
    assert store.people.expired(until + UNMEASURED_DEFERRAL) == [person]


def test_an_erasure_forgets_the_note(store: Store, clock: FakeClock) -> None:
    person, until = _past_retention(store, clock)
    _note(store, person, until, hub_now=clock.now() - timedelta(hours=2))
    store.people.erase(person, operator="dpo", reason="subject request")
    rows = store.database.query("SELECT name FROM sync_state WHERE name LIKE 'retention.%'")
    assert rows == []
