"""The times a device gives its edits are held to what it can vouch for (``edit_clock``).

The hub's last writer wins by these times, so one wrong input (a change dated far ahead, an
edit made while the clock was far ahead) must not decide every later conflict.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync.store import Store
from sync.store.clock import parse_timestamp
from sync.store.edit_clock import (
    AHEAD_TOLERANCE,
    BEHIND_TOLERANCE,
    DATE_RESOLUTION,
    clock_warning,
    hub_time_seen,
)
from tests.sync.client.fakehub import FakeHub
from tests.sync.client.units import client_of, observations
from tests.sync.conftest import FakeClock
from tests.sync.hub import entries as e

HUB_NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # the hub's Date header, whole seconds
FAR_AHEAD = datetime(2100, 1, 1, tzinfo=UTC)
VOUCHED = HUB_NOW  # the hub's time, as its Date says (never later than the true one)
STEPS = timedelta(milliseconds=1)  # a stamp just after a time: a few microsecond steps


def _stamps(store: Store) -> list[datetime]:
    rows = store.database.query("SELECT created_at FROM outbox ORDER BY sequence")
    return [parse_timestamp(str(row[0])) for row in rows]


def _seen(store: Store) -> datetime | None:
    with store.database.read() as connection:
        return hub_time_seen(connection)


def _change_dated(hub: FakeHub, moment: datetime) -> str:
    change = hub.add_change("fish_observation", "upsert", e.observation())
    hub.changes[-1] = change.model_copy(update={"changed_at": moment})
    return str(change.entity_uid)


def test_a_change_dated_past_the_hubs_own_time_is_held_to_that_time(store: Store) -> None:
    hub = FakeHub()
    hub.date = HUB_NOW
    pulled = _change_dated(hub, FAR_AHEAD)  # a hub's bug, or a hostile hub
    client_of(store, hub).pull()
    assert _seen(store) == VOUCHED
    (uid,) = observations(store, 1)
    store.observations.confirm(uid, "Gadus morhua", officer="officer-7")
    assert VOUCHED < _stamps(store)[-1] < VOUCHED + STEPS
    # Even the record it dated far ahead: at most as far ahead as the hub takes a clock.
    store.observations.confirm(pulled, "Gadus morhua", officer="officer-7")
    assert _stamps(store)[-1] < VOUCHED + DATE_RESOLUTION + AHEAD_TOLERANCE + STEPS


def test_an_edit_of_a_record_pulled_with_a_stamp_ahead_is_stamped_after_it(
    store: Store,
) -> None:
    """Another boat's clock runs 4 minutes ahead, within the hub's skew: the hub dates the
    change it logs by that boat's stamp. Overruling it here wins; other edits go by time."""
    hub = FakeHub()
    hub.date = HUB_NOW
    stamped = HUB_NOW + timedelta(minutes=4)
    pulled = _change_dated(hub, stamped)
    client_of(store, hub).pull()
    store.observations.confirm(pulled, "Gadus morhua", officer="officer-7")
    assert stamped < _stamps(store)[-1] < stamped + STEPS
    (own,) = observations(store, 1)
    store.observations.confirm(own, "Gadus morhua", officer="officer-7")
    assert _stamps(store)[-1] < stamped + STEPS  # this device's own order, no further


def test_a_hub_time_seen_far_ahead_is_put_right_by_the_next_pull(store: Store) -> None:
    """A hub whose clock once ran far ahead vouched for its time then; once its clock is
    right, its next answer says so, and the device's edits go back to true times."""
    hub = FakeHub()
    hub.date = FAR_AHEAD
    _change_dated(hub, FAR_AHEAD)
    client = client_of(store, hub)
    client.pull()
    assert _seen(store) == FAR_AHEAD
    hub.date = HUB_NOW
    client.pull()  # nothing new: the answer's Date alone
    assert _seen(store) == VOUCHED
    (uid,) = observations(store, 1)
    store.observations.confirm(uid, "Gadus morhua", officer="officer-7")
    assert VOUCHED < _stamps(store)[-1] < VOUCHED + STEPS


def test_an_answer_without_the_hubs_time_vouches_for_nothing(store: Store) -> None:
    hub = FakeHub()
    hub.date = None
    _change_dated(hub, FAR_AHEAD)
    client_of(store, hub).pull()
    assert _seen(store) is None


def test_after_the_clock_is_set_back_far_edits_go_by_the_clock(
    store: Store, clock: FakeClock
) -> None:
    """An edit made while the clock ran a year ahead does not keep every later edit a year
    ahead once the clock is set right: those go by the clock (the hub lets a clock that is
    ahead run at most its skew, which is the tolerance here too)."""
    first, second = observations(store, 2)
    clock.advance(days=365)
    store.observations.confirm(first, "Gadus morhua", officer="officer-7")
    clock.advance(days=-365)
    store.observations.confirm(second, "Gadus morhua", officer="officer-7")
    assert _stamps(store)[-1] == clock.now()


def test_after_the_clock_is_set_back_a_little_the_devices_own_edits_keep_their_order(
    store: Store, clock: FakeClock
) -> None:
    (uid,) = observations(store, 1)
    store.observations.confirm(uid, "Gadus morhua", officer="officer-7")
    clock.advance(seconds=-30)  # NTP steps the clock back
    store.observations.confirm(uid, "Pollachius pollachius", officer="officer-7")
    before, after = _stamps(store)[-2:]
    assert after > before and after - clock.now() <= AHEAD_TOLERANCE


def test_a_pull_that_brings_nothing_still_notes_the_hubs_time(
    store: Store, clock: FakeClock
) -> None:
    """A boat whose clock runs an hour behind, on a site where nothing changed: its next
    edit, made offline after that sync, goes after the hub's time then, and its clock is
    called wrong (nothing pulled used to leave both unsaid)."""
    (uid,) = observations(store, 1)
    hub = FakeHub()
    hub.date = HUB_NOW
    assert clock.now() < HUB_NOW - BEHIND_TOLERANCE
    client_of(store, hub).pull()
    assert _seen(store) == VOUCHED
    store.observations.confirm(uid, "Gadus morhua", officer="officer-7")
    assert VOUCHED < _stamps(store)[-1] < VOUCHED + STEPS
    with store.database.read() as connection:
        assert clock_warning(connection, clock.now()) is not None
