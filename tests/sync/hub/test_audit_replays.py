"""A batch the hub took, arriving again with its number (its answer was lost, and a proxy or
the network sent it once more), is held already: never a break. Honest devices never send
two different batches with one number (each is numbered, and kept, before it is sent, one
sync at a time), so another batch with the number of one taken, ending before the hub's
newest entry, is a chain rewound."""

from __future__ import annotations

from typing import Any

from sync.hub.models import AuditChainState
from sync.store import Store
from tests.sync.conftest import FakeClock
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_audit_anchor import (
    _acknowledged_unlinked_break,
    breaks,
    decide,
    held,
    links,
    send,
)


def _replayed(api: Api, entries: list[dict[str, Any]], **batch: Any) -> None:
    """Send a batch, then the very same batch again: both answered alike, nothing more held."""
    first = send(api, entries, **batch)
    assert first.status_code == 200, first.content
    holding = held(api)
    again = send(api, entries, **batch)
    assert again.status_code == 200, again.content
    assert again.json() == {**first.json(), "stored": 0}
    assert held(api) == holding and not [b for b in breaks(api) if b.is_open]


def test_a_batch_taken_and_sent_again_with_its_number_is_held_already(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 4)
    chain = links(store)
    _replayed(api, chain[:3], number=1)
    _replayed(api, chain[3:], number=2)
    # A device stuck before its head (an entry it cannot send) sends the head alone.
    decide(store, clock, 2)
    _replayed(api, links(store, after=5)[:1], head=store.audit.head(), number=3)
    assert AuditChainState.objects.get(device__uid=api.device_id).batch_number == 3


def test_the_batch_that_began_a_segment_sent_again_is_held_already(
    api: Api, store: Store, clock: FakeClock
) -> None:
    _acknowledged_unlinked_break(api, store, clock)
    _replayed(api, links(store, after=4), number=50)


def test_another_batch_with_the_number_of_one_taken_ending_before_the_hubs_newest_is_a_break(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 4)
    chain = links(store)
    assert send(api, chain, number=1).status_code == 200  # the hub holds 1..5
    other = send(api, chain[:3], number=1)  # same number, its head entry 3
    assert other.status_code == 409 and other.json()["error"] == "audit_chain_break"
    assert [(b.kind, b.sequence) for b in breaks(api)] == [("rewound", 3)]
