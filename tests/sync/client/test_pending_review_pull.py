"""A pulled catch does not overwrite a review this device made after the pulled version
while its outbox entry waits for the hub (``sync.client.apply_catches``).

Found in session 26: an officer confirms a catch's species on deck; before the entry
reaches the hub (queued, pushed without an answer, quarantined, held as of no known hub, or
confirmed between a round's push and its pull), a pull brings an older version of the catch
and replaced the row with it. The catch went back to the review queue, and out of the
corrections export, until the entry won at the hub (last writer wins) and was pulled back;
a later edit here would have sent a whole row built from the overwritten one. The hub's
decision is known already: the entry's stamp is later than every field of the pulled
version, so the row keeps this device's version. A version newer than the entry (a hub
review made after this one) still applies, and so does any once the hub has the entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.client.apply import PageReport, apply_page
from sync.client.config import Registration
from sync.client.state import save_registration
from sync.hub import review
from sync.hub.models import FishObservation
from sync.protocol import Change
from sync.store import OutboxState, Store
from sync.store.clock import format_timestamp
from sync.store.hub_keys import UNKNOWN_HUB, hub_key
from sync.store.verdict import Verdict
from tests.sync.client.devices import add_observations, new_device, sync_until_drained
from tests.sync.client.hubcheck import drained
from tests.sync.conftest import FakeClock
from tests.sync.hub import entries
from tests.sync.hub.hubkit import HubProcess

SITE = "north-gate"
HUB_URL = "http://hub.test"
OLD_HUB = hub_key("http://old-hub.test")
DEVICE = uuid.UUID("5f1c0f8e-8a54-4bd4-9d0c-4f2d3b7a6e01")
OTHER_BOAT = uuid.UUID("0b0a7000-0000-4000-8000-000000000002")
COD, POLLACK = "Gadus morhua", "Pollachius pollachius"


@pytest.fixture
def registered(store: Store) -> Store:
    registration = Registration(HUB_URL, SITE, DEVICE, "token")
    save_registration(store.database, registration, store.clock.now(), send_face_images=False)
    return store


def _pull(store: Store, cursor: int, payload: dict[str, Any], at: datetime) -> PageReport:
    """One page of one catch change, logged by the hub at ``at``, as a pull applies it."""
    change = Change(
        cursor=cursor,
        entity="fish_observation",
        entity_uid=uuid.UUID(payload["observation_uid"]),
        operation="upsert",
        payload=payload,
        changed_at=at,
        origin_device=OTHER_BOAT,
    )
    return apply_page(store, SITE, [change], cursor, device=DEVICE, hub=hub_key(HUB_URL))


def _flagged_catch_pulled(store: Store, clock: FakeClock) -> dict[str, Any]:
    """Another boat's flagged catch, pulled at the clock's start; the clock moves on."""
    catch = entries.observation(notes="other boat")
    _pull(store, 1, catch, clock.now())
    clock.advance(minutes=10)
    return catch


def _confirmed_here(store: Store, clock: FakeClock, catch: dict[str, Any]) -> str:
    """The officer confirms the catch here; returns the key of the entry it queued."""
    uid = str(catch["observation_uid"])
    store.observations.confirm(uid, COD, officer="officer-9")
    (entry,) = [e for e in store.outbox.entries() if e.entity_uid == uid]
    clock.advance(minutes=10)
    return entry.idempotency_key


def _sent(store: Store, key: str) -> None:
    store.outbox.mark_sent([key])  # pushed, the answer lost


def _quarantined(store: Store, key: str) -> None:
    store.outbox.mark_sent([key])
    store.outbox.mark_rejected(key, "refused by the hub")


def _held_for_no_known_hub(store: Store, key: str) -> None:
    with store.database.write() as connection:
        connection.execute(
            "UPDATE outbox SET for_hub = ? WHERE idempotency_key = ?", (UNKNOWN_HUB, key)
        )
        connection.execute("UPDATE fish_observations SET for_hub = ?", (UNKNOWN_HUB,))


def _queued(store: Store, key: str) -> None:
    pass


@pytest.mark.parametrize(
    "waiting", [_queued, _sent, _quarantined, _held_for_no_known_hub], ids=lambda f: f.__name__
)
def test_an_older_pulled_version_leaves_a_review_the_hub_has_not_taken(
    registered: Store, clock: FakeClock, waiting: Callable[[Store, str], None]
) -> None:
    """The pulled version was logged (an edit of the other boat's notes) before the officer
    confirmed the catch here. Before: the pull put the catch back in the review queue."""
    store = registered
    catch = _flagged_catch_pulled(store, clock)
    logged = clock.now() - timedelta(minutes=5)  # after the first pull, before the review
    key = _confirmed_here(store, clock, catch)
    waiting(store, key)
    report = _pull(store, 2, catch | {"notes": "other boat, gill net"}, logged)

    here = store.observations.get(str(catch["observation_uid"]))
    assert (here.confirmed_species, here.needs_review, here.reviewed_by) == (
        COD,
        False,
        "officer-9",
    )
    assert here.notes == "other boat"  # the hub takes this device's whole row (later stamp)
    assert store.observations.review_queue(include_pulled=True) == []
    (reason,) = report.skipped
    assert reason.startswith(f"fish_observation {catch['observation_uid']}: changed here after")
    entry = store.outbox.get(key)
    assert entry.state is not OutboxState.ACKNOWLEDGED
    assert entry.payload()["confirmed_species"] == COD  # goes to the hub as it was
    assert _held_for(store, key) is None  # to this hub (held: the pull vouched for the catch)


def test_a_review_held_for_a_hub_left_since_does_not_keep_the_catch_from_this_one(
    registered: Store, clock: FakeClock
) -> None:
    """The review waits for the hub the catch was of before a move; the hub pulled from
    now is never sent it, so its version applies here (the entry stays held as it was)."""
    store = registered
    catch = _flagged_catch_pulled(store, clock)
    logged = clock.now() - timedelta(minutes=5)
    key = _confirmed_here(store, clock, catch)
    with store.database.write() as connection:
        connection.execute("UPDATE outbox SET for_hub = ?", (OLD_HUB,))
        connection.execute("UPDATE fish_observations SET for_hub = ?", (OLD_HUB,))
    report = _pull(store, 2, catch | {"notes": "other boat, gill net"}, logged)
    assert (report.applied, report.skipped) == (1, ())
    assert store.observations.get(str(catch["observation_uid"])).confirmed_species is None
    assert (store.outbox.get(key).state, _held_for(store, key)) == (OutboxState.QUEUED, OLD_HUB)


def _held_for(store: Store, key: str) -> str | None:
    rows = store.database.query("SELECT for_hub FROM outbox WHERE idempotency_key = ?", (key,))
    return None if rows[0][0] is None else str(rows[0][0])


def test_a_pulled_version_newer_than_the_review_here_applies(
    registered: Store, clock: FakeClock
) -> None:
    """A hub reviewer corrected the species after the officer here: the hub keeps theirs
    (its stamp is later), and so does the device, the entry still waiting."""
    store = registered
    catch = _flagged_catch_pulled(store, clock)
    key = _confirmed_here(store, clock, catch)
    corrected = catch | {
        "confirmed_species": POLLACK,
        "needs_review": False,
        "reviewed_by": "hub-reviewer",
        "reviewed_at": format_timestamp(clock.now()),
    }
    report = _pull(store, 2, corrected, clock.now())
    assert (report.applied, report.skipped) == (1, ())
    here = store.observations.get(str(catch["observation_uid"]))
    assert (here.confirmed_species, here.reviewed_by) == (POLLACK, "hub-reviewer")
    assert store.outbox.get(key).state is OutboxState.QUEUED


def test_once_the_hub_has_the_review_a_pulled_version_applies_as_before(
    registered: Store, clock: FakeClock
) -> None:
    """Acknowledged, the review is the hub's to settle: what it logs after is its word, and
    so is an older change pulled late (the review lost there; nothing more comes)."""
    store = registered
    catch = _flagged_catch_pulled(store, clock)
    logged = clock.now() - timedelta(minutes=5)
    key = _confirmed_here(store, clock, catch)
    store.outbox.mark_sent([key])
    store.outbox.settle(Verdict(acknowledged=(key,)))
    report = _pull(store, 2, catch | {"notes": "other boat, gill net"}, logged)
    assert (report.applied, report.skipped) == (1, ())
    here = store.observations.get(str(catch["observation_uid"]))
    assert (here.confirmed_species, here.needs_review, here.notes) == (
        None,
        True,
        "other boat, gill net",
    )


def test_a_review_made_between_a_rounds_push_and_pull_survives_it_and_reaches_the_hub(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Through a real hub: a hub reviewer corrects a boat's catch; on deck the officer
    confirms it after that (not yet pulled), while a sync is between its push and its pull.
    The pull brings the hub's older correction: the boat keeps its own review, and the next
    round takes it to the hub (later stamp), whose change the boat pulls back."""
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-1")
    with boat.open() as store:
        (uid,) = add_observations(store, 1, "review")  # flagged
        officer = _ConfirmAtThePull(store, uid)
        with httpx.Client(event_hooks={"request": [officer]}) as http:
            client = boat.client(store, http)
            assert sync_until_drained(client) == 0  # the catch on the hub
            on_hub = FishObservation.objects.get(uid=uid)
            review.correct_species(on_hub.pk, POLLACK, "hub-reviewer")

            officer.armed = True
            report = client.sync_once()
            assert not officer.armed  # confirmed after the push, before the pull
            assert report.pull.skipped == 1, report.summary()
            here = store.observations.get(uid)
            assert (here.confirmed_species, here.reviewed_by) == (COD, "officer-9")
            assert store.observations.review_queue() == []
            assert not drained(store)  # the review waits for the next push

            client.sync_once()
            on_hub.refresh_from_db()
            assert (on_hub.confirmed_species, on_hub.reviewed_by) == (COD, "officer-9")
            assert sync_until_drained(client) == 0
            here = store.observations.get(uid)
            assert (here.confirmed_species, here.reviewed_by) == (COD, "officer-9")


class _ConfirmAtThePull:
    """An httpx request hook: once armed, the officer confirms the catch on deck just as
    the sync asks the hub for its changes (the app's review and its sync run side by side)."""

    def __init__(self, store: Store, uid: str) -> None:
        self.store, self.uid, self.armed = store, uid, False

    def __call__(self, request: httpx.Request) -> None:
        if self.armed and request.method == "GET" and request.url.path.endswith("/changes"):
            self.armed = False
            self.store.observations.confirm(self.uid, COD, officer="officer-9")
