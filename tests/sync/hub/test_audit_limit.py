"""A device may add only so many bytes of audit entries in any 24 hours
(``JAGA_HUB_AUDIT_DAILY_BYTES``): a stolen token cannot grow the hub's audit table without
bound. A batch past the limit is refused whole, counted where operators look, and taken once
the bytes before it are a day old; a day cut at midnight UTC would let twice the limit
through around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

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


class HubClock:
    """The hub's ``timezone.now()``, set by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.moment = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # half an hour to midnight
        monkeypatch.setattr(timezone, "now", lambda: self.moment)


@pytest.fixture
def hub_clock(monkeypatch: pytest.MonkeyPatch) -> HubClock:
    return HubClock(monkeypatch)


def test_a_batch_past_the_daily_limit_is_refused_counted_and_taken_a_day_later(
    api: Api, store: Store, clock: FakeClock, operator: Client, hub_clock: HubClock
) -> None:
    decide(store, clock, 5)
    chain = links(store)
    with override_settings(JAGA_HUB_AUDIT_DAILY_BYTES=size(chain[:4]) + 100):
        assert send(api, chain[:4]).status_code == 200
        refused = send(api, chain)
        assert (refused.status_code, refused.json()["error"]) == (409, "audit_quota")
        reason = refused.json()["reason"]
        assert "limit of" in reason and "in any 24 hours" in reason
        assert "2026-12-01T00:00:00" in reason  # their hour is a day old: the next hour
        assert [q for _, q, _ in held(api)] == [1, 2, 3, 4]  # nothing of the batch stored
        state = AuditChainState.objects.get(device__uid=api.device_id)
        assert (state.over_limit, state.reported_sequence, state.behind) == (1, 6, 2)
        assert state.over_limit_at is not None
        families = {family.name: family for family in DatabaseCollector().collect()}
        assert _sample(families["jaga_hub_audit_batches_over_limit"], site=api.site) == 1
        listing = operator.get("/admin/hub/auditchainstate/").content.decode().lower()
        assert "batches over the daily limit" in listing
        assert send(api, chain[:4]).json()["stored"] == 0  # what it holds is no new bytes
        hub_clock.moment += timedelta(hours=24)  # a day later: still within its slices
        assert send(api, chain).json()["error"] == "audit_quota"
        hub_clock.moment += timedelta(minutes=30)  # the hour of the first bytes is a day old
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


def test_the_limit_holds_over_midnight(
    api: Api, store: Store, clock: FakeClock, hub_clock: HubClock
) -> None:
    """The limit's worth just before midnight UTC and more just after is more than the limit
    in an hour: refused, as it would be at noon."""
    decide(store, clock, 5)
    chain = links(store)
    with override_settings(JAGA_HUB_AUDIT_DAILY_BYTES=size(chain[:4]) + 100):
        assert send(api, chain[:4]).status_code == 200  # at 23:30
        hub_clock.moment += timedelta(hours=1)  # 00:30, the next day (UTC)
        refused = send(api, chain)
        assert (refused.status_code, refused.json().get("error")) == (409, "audit_quota")
        assert [q for _, q, _ in held(api)] == [1, 2, 3, 4]
