"""Requeuing quarantined entries once their cause is fixed: what moves, what is audited, and
that a request naming an entry that is not quarantined moves nothing."""

from __future__ import annotations

import json

import pytest

from sync.client import SitePolicy
from sync.errors import RecordNotFoundError
from sync.protocol import KEY_REUSED_REASON
from sync.store import OutboxState, Store
from tests.sync.client.devices import enrol
from tests.sync.client.fakehub import SITE, FakeHub
from tests.sync.client.units import client_of, observations, states

OPERATOR = "cli:officer-7"


def quarantine(store: Store, hub: FakeHub, uids: list[str]) -> list[int]:
    """Push with the hub refusing ``uids`` for good; returns their outbox sequences."""
    for uid in uids:
        hub.reject[uid] = "invalid fish_observation payload: count: too small"
    client_of(store, hub).push()
    for uid in uids:
        del hub.reject[uid]  # the cause is fixed
    return [e.sequence for e in store.outbox.entries() if e.state == OutboxState.REJECTED]


def test_a_requeued_entry_is_sent_again_with_its_reason_and_refusals_cleared(
    store: Store,
) -> None:
    uids = observations(store, 3)
    hub = FakeHub()
    (sequence,) = quarantine(store, hub, [uids[1]])
    assert store.outbox.requeue_quarantined([sequence], operator=OPERATOR) == 1
    (entry,) = store.outbox.queued()
    assert (entry.sequence, entry.reject_reason, entry.refusals) == (sequence, None, 0)
    assert entry.attempts == 1  # the send history stays
    assert client_of(store, hub).push().acknowledged == 1
    assert states(store) == {"acknowledged": 3}
    assert hub.stored[("fish_observation", uids[1])] == 1


def test_a_requeue_is_in_the_audit_trail_with_its_entries(store: Store) -> None:
    uids = observations(store, 4)
    sequences = quarantine(store, FakeHub(), [uids[0], uids[3]])
    assert store.outbox.requeue_quarantined(None, operator=OPERATOR) == 2
    (audited,) = [a for a in store.audit.entries() if a.action == "outbox.requeued"]
    assert audited.actor == OPERATOR
    assert json.loads(audited.details_json) == {"entries": 2, "sequences": sequences}
    assert store.audit.verify().ok


def test_naming_an_entry_that_is_not_quarantined_moves_nothing(store: Store) -> None:
    uids = observations(store, 3)
    (sequence,) = quarantine(store, FakeHub(), [uids[2]])
    acknowledged = sequence - 1
    with pytest.raises(RecordNotFoundError, match=f"#{acknowledged}, #999"):
        store.outbox.requeue_quarantined([sequence, acknowledged, 999], operator=OPERATOR)
    assert states(store) == {"acknowledged": 2, "rejected": 1}
    assert not [a for a in store.audit.entries() if a.action == "outbox.requeued"]


def test_requeuing_all_with_nothing_quarantined_moves_and_audits_nothing(store: Store) -> None:
    observations(store, 2)
    client_of(store, FakeHub()).push()
    assert store.outbox.requeue_quarantined(None, operator=OPERATOR) == 0
    assert states(store) == {"acknowledged": 2}
    assert not [a for a in store.audit.entries() if a.action == "outbox.requeued"]


def test_a_photo_refused_for_its_keys_other_content_is_requeued_under_a_new_key(
    store: Store,
) -> None:
    """A photo upsert an older release quarantined as its key's other content (it kept
    what its last send said of the face image, not its first) goes under a new key, its
    ``withheld`` decided afresh at its next send; the same key would be refused again. Any
    other entry keeps its key, whatever the reason."""
    enrol(store, SITE, "B-1", seed=1, photo=True)
    (catch,) = observations(store, 1)
    ((photo,),) = store.database.query("SELECT photo_uid FROM photos")
    hub = FakeHub()
    hub.reject[str(photo)] = hub.reject[catch] = KEY_REUSED_REASON
    client_of(store, hub).push()  # kept here by the default policy: withheld
    for uid in (str(photo), catch):
        del hub.reject[uid]
    before = {e.entity: e for e in store.outbox.entries() if e.state == OutboxState.REJECTED}
    assert before["photo"].payload()["withheld"] is True

    assert store.outbox.requeue_quarantined(None, operator=OPERATOR) == 2

    after = {e.entity: e for e in store.outbox.queued()}
    assert after["fish_observation"].idempotency_key == before["fish_observation"].idempotency_key
    assert after["photo"].idempotency_key != before["photo"].idempotency_key
    assert after["photo"].sequence == before["photo"].sequence
    assert after["photo"].payload() == {
        k: v for k, v in before["photo"].payload().items() if k != "withheld"
    }
    (audited,) = [a for a in store.audit.entries() if a.action == "outbox.requeued"]
    assert json.loads(audited.details_json) == {
        "entries": 2,
        "sequences": sorted(e.sequence for e in before.values()),
        "new_keys": [before["photo"].sequence],
    }
    assert client_of(store, hub, policy=SitePolicy(send_face_images=True)).push().rejected == 0
    sent = store.outbox.get(after["photo"].idempotency_key)
    assert (sent.state, sent.payload().get("withheld")) == (OutboxState.ACKNOWLEDGED, False)
