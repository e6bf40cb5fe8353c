"""Quarantined entries of the old hub are held for it at a registration with another hub, like
those still queued (``sync.store.outbox_hub``): the registration names them before the code
is used, a requeue does not count them as sent to this hub, and ``jaga store info`` does not
say the outbox is empty while they wait. Found by review: held silently, then "requeued: 2"
with nothing queued."""

from __future__ import annotations

import pytest

from sync.client.site_records import held_words, unsent_for_the_hub
from sync.errors import RecordNotFoundError
from sync.store import Store
from sync.store.store_info import describe
from tests.sync.client.test_held_records_follow import HUB_A, moved_to_b, registered_with
from tests.sync.client.test_uploads import fish_photo


def _quarantined_at_a(store: Store) -> None:
    """A catch and its photo the hub A refused: quarantined, waiting for an operator."""
    registered_with(store, HUB_A)
    fish_photo(store)
    entries = store.outbox.queued()
    store.outbox.mark_sent([entry.idempotency_key for entry in entries])
    for entry in entries:
        store.outbox.mark_rejected(entry.idempotency_key, "invalid")


def test_a_registration_with_another_hub_names_the_quarantined_entries(store: Store) -> None:
    _quarantined_at_a(store)

    held = unsent_for_the_hub(store.database)

    assert held_words(held) == "(1 catch quarantined, 1 photo quarantined)"


def test_a_requeue_leaves_the_old_hubs_quarantined_entries_held(store: Store) -> None:
    _quarantined_at_a(store)
    moved_to_b(store)

    assert store.outbox.quarantined() == []
    assert store.outbox.requeue_quarantined(None, operator="ops") == 0
    with pytest.raises(RecordNotFoundError, match="held for"):
        store.outbox.requeue_quarantined([1], operator="ops")
    assert store.outbox.queued() == []


def test_store_info_counts_the_entries_held_for_another_hub(store: Store) -> None:
    _quarantined_at_a(store)
    moved_to_b(store)

    lines, _ = describe(store)

    (outbox,) = [line for line in lines if line.startswith("outbox")]
    assert "held for another hub 2" in outbox
