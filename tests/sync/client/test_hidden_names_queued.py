"""Names with a control character or a bidirectional override, made before the protocol's
``Name`` refused them (``sync.protocol.names``), and notes holding a bidirectional override
or isolate, made before free text refused those: neither end holds back the rest.

A device of an older release may hold such an entry in its outbox, queued before it was
upgraded (its store took it then). The hub refuses that one entry for good, and the device
quarantines it with the hub's reason, as any entry the hub refuses: the entries behind it
are pushed in the same sync, and the next sync has nothing left to send. A catch the hub
took before its upgrade and still logs with such a name is passed over by a device's pull,
the changes after it applied and the cursor moved past it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from sync.client.apply import apply_page
from sync.client.config import Registration
from sync.client.state import save_registration
from sync.hub.models import FishObservation as HubObservation
from sync.protocol import Change
from sync.store import Store
from sync.store.hub_keys import hub_key
from tests.sync.client.devices import add_observations, new_device, sync_until_drained
from tests.sync.hub import entries
from tests.sync.hub.hubkit import HubProcess

OVERRIDDEN = "Gav\u202eatoi"  # shown as "Gaviota" reversed in part: another name than stored


@pytest.mark.parametrize(
    "refused",  # the field, what an older release queued in it, the hub's words for it
    [
        ("vessel", OVERRIDDEN, "control character or bidirectional override ('\\u202e')"),
        ("notes", "near the \u2066reef", "embedding, override or isolate ('\\u2066')"),
    ],
)
def test_an_entry_queued_before_the_upgrade_is_quarantined_alone_and_the_rest_pushed(
    live_hub: HubProcess, site_slug: str, tmp_path: Path, refused: tuple[str, str, str]
) -> None:
    field, value, words = refused
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        (queued_before,) = add_observations(store, 1, "before")
        with store.database.write() as connection:  # as an older release's store took it
            connection.execute(
                "UPDATE outbox SET payload = json_set(payload, ?, ?) WHERE entity_uid = ?",
                (f"$.{field}", value, queued_before),
            )
        behind = add_observations(store, 2, "after")
        assert sync_until_drained(device.client(store, http)) == 0
        (quarantined,) = store.outbox.quarantined()
        assert quarantined.entity_uid == queued_before
        assert field in quarantined.reason
        assert words in quarantined.reason
        assert not store.outbox.queued(limit=1)
    assert not HubObservation.objects.filter(uid=queued_before).exists()
    assert HubObservation.objects.filter(uid__in=behind).count() == 2


def test_a_change_logged_before_the_upgrade_is_passed_over_and_the_cursor_moves_on(
    store: Store,
) -> None:
    site, device, hub = "north-gate", uuid.uuid4(), "http://hub.test"
    registration = Registration(hub, site, device, "token")
    save_registration(store.database, registration, store.clock.now(), send_face_images=False)
    logged = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    overridden = entries.observation(vessel=OVERRIDDEN)
    plain = entries.observation()
    page = [
        Change(
            cursor=cursor,
            entity="fish_observation",
            entity_uid=uuid.UUID(payload["observation_uid"]),
            operation="upsert",
            payload=payload,
            changed_at=logged,
            origin_device=uuid.uuid4(),
        )
        for cursor, payload in ((1, overridden), (2, plain))
    ]
    report = apply_page(store, site, page, 2, device=device, hub=hub_key(hub))
    assert (report.applied, report.cursor, len(report.skipped)) == (1, 2, 1)
    assert store.observations.get(plain["observation_uid"]).vessel == "Gaviota"
    assert store.observations.count() == 1
