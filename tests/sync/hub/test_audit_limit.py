"""A device may add only so many bytes of audit entries a day (``JAGA_HUB_AUDIT_DAILY_BYTES``):
a stolen token cannot grow the hub's audit table without bound. A batch past the limit is
refused whole, counted where operators look, and taken the next day."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F
from django.test import Client, override_settings

from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import AuditChainState
from sync.protocol import AuditLink
from sync.store import Store
from tests.sync.conftest import FakeClock
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_audit_anchor import _sample, breaks, decide, held, links, rehashed, send


def size(entries: list[dict[str, Any]]) -> int:
    """The bytes the hub counts: each entry's JSON, as the device sends it."""
    return sum(len(AuditLink.model_validate(e).model_dump_json().encode()) for e in entries)


def test_a_batch_past_the_daily_limit_is_refused_counted_and_taken_the_next_day(
    api: Api, store: Store, clock: FakeClock, operator: Client
) -> None:
    decide(store, clock, 5)
    chain = links(store)
    with override_settings(JAGA_HUB_AUDIT_DAILY_BYTES=size(chain[:4]) + 100):
        assert send(api, chain[:4]).status_code == 200
        refused = send(api, chain)
        assert (refused.status_code, refused.json()["error"]) == (409, "audit_quota")
        assert "limit of" in refused.json()["reason"] and "tomorrow" in refused.json()["reason"]
        assert [q for _, q, _ in held(api)] == [1, 2, 3, 4]  # nothing of the batch stored
        state = AuditChainState.objects.get(device__uid=api.device_id)
        assert (state.over_limit, state.reported_sequence, state.behind) == (1, 6, 2)
        assert state.over_limit_at is not None
        families = {family.name: family for family in DatabaseCollector().collect()}
        assert _sample(families["jaga_hub_audit_batches_over_limit"], site=api.site) == 1
        listing = operator.get("/admin/hub/auditchainstate/").content.decode().lower()
        assert "batches over the daily limit" in listing
        assert send(api, chain[:4]).json()["stored"] == 0  # what it holds is no new bytes
        # The next day (UTC): its limit is whole again.
        AuditChainState.objects.filter(pk=state.pk).update(day=F("day") - timedelta(days=1))
        taken = send(api, chain)
        assert taken.json().get("stored") == 2, taken.content


def test_a_break_is_found_whatever_the_limit(api: Api, store: Store, clock: FakeClock) -> None:
    decide(store, clock, 3)
    chain = links(store)
    with override_settings(JAGA_HUB_AUDIT_DAILY_BYTES=size(chain)):
        assert send(api, chain).status_code == 200  # the whole day's bytes
        forged = rehashed(chain[1], actor="someone else")
        refused = send(api, [forged])
        assert refused.json()["error"] == "audit_chain_break"
    assert [b.kind for b in breaks(api)] == ["diverged"]
