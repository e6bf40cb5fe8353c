"""A chain whose oldest entries retention deleted on the device, sent to a hub that holds
less than that: taken from the checkpoint the device names, and the entries the hub will
never hold recorded for an operator to acknowledge (``sync.hub.audit``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sync.hub.audit_breaks import acknowledge
from sync.hub.audit_head import current_head
from sync.hub.auth import issue_code
from sync.hub.errors import OpenAuditBreakError
from sync.hub.log_epoch import renew_log_epochs, seal_tip
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import Site
from sync.protocol import (
    AUDIT_CHECKPOINT_HEADER,
    LOG_EPOCH_HEADER,
    LOG_SEAL_HEADER,
    LOG_TIP_HEADER,
    PROTOCOL_VERSION,
)
from sync.store import Store
from tests.sync.conftest import FakeClock
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_audit_anchor import (
    NUMBERED,
    _registered_again,
    _sample,
    _staff,
    breaks,
    decide,
    held,
    links,
    rehashed,
    send,
)


def send_from(api: Api, chain: list[dict[str, Any]], checkpoint: int, header: str = "") -> Any:
    """The entries after ``checkpoint`` (the last one retention deleted), naming it."""
    kept = chain[checkpoint:]
    NUMBERED[api.device_id] = NUMBERED.get(api.device_id, 0) + 1
    body = {
        "device_id": api.device_id,
        "head_sequence": kept[-1]["sequence"],
        "head_hash": kept[-1]["entry_hash"],
        "entries": kept,
        "batch_number": NUMBERED[api.device_id],
    }
    named = header or f"{checkpoint} {chain[checkpoint - 1]['entry_hash']}"
    return api.post(
        api.site_path("audit"), body, headers={**api.auth(), AUDIT_CHECKPOINT_HEADER: named}
    )


def test_a_chain_kept_after_its_checkpoint_is_taken_by_a_new_device_and_recorded(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 5)
    chain = links(store)
    taken = send_from(api, chain, 3)
    assert taken.status_code == 200, taken.content
    assert [sequence for _, sequence, _ in held(api)] == [4, 5, 6]
    (record,) = breaks(api)
    assert (record.kind, record.sequence, record.is_open) == ("pruned_start", 1, True)
    assert "begins at entry 4 here: entries 1 to 3 were deleted" in record.reason
    decide(store, clock, 1)
    assert send(api, links(store, 6)).status_code == 200  # an open record refuses nothing
    families = {f.name: f for f in DatabaseCollector().collect()}
    assert _sample(families["jaga_hub_audit_pruned"], site=api.site, state="open") == 1
    counted = families["jaga_hub_audit_breaks"].samples
    ours = [s.value for s in counted if s.labels["site"] == api.site]
    assert ours == [0, 0]  # not a break: the site's open and acknowledged breaks stay 0


def test_a_chain_that_does_not_follow_the_checkpoint_it_names_is_a_gap_as_before(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 5)
    chain = links(store)
    for header in (f"3 {'e' * 64}", f"2 {chain[1]['entry_hash']}", ""):
        refused = send_from(api, chain, 3, header=header) if header else send(api, chain[3:])
        assert (refused.status_code, refused.json()["error"]) == (409, "audit_gap")
    assert held(api) == [] and breaks(api) == []
    bad = send_from(api, chain, 3, header="3")
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_header")


def test_a_gap_past_what_a_restored_hub_holds_is_taken_and_recorded_open(
    api: Api, store: Store, clock: FakeClock, operator: Client
) -> None:
    decide(store, clock, 6)
    chain = links(store)
    send(api, chain[:3])
    renew_log_epochs()  # the admin's step after a restore
    taken = send_from(api, chain, 5)
    assert taken.status_code == 200, taken.content
    assert [(segment, sequence) for segment, sequence, _ in held(api)] == [
        (0, 1), (0, 2), (0, 3), (0, 6), (0, 7)
    ]  # fmt: skip
    (record,) = breaks(api)
    assert (record.kind, record.sequence, record.is_open) == ("pruned_gap", 4, True)
    assert record.reason.startswith("entries 4 to 5 of the device's audit chain are missing")
    assert "change log was renewed" in record.reason
    assert (record.hub_hash, record.device_hash) == (chain[2]["entry_hash"], chain[4]["entry_hash"])
    assert send_from(api, chain, 5).json()["stored"] == 0  # sent again: held already
    # A break after it is still one: recorded, and the chain refused until acknowledged.
    broken = send(api, [rehashed(chain[6], at="2020-01-01T00:00:00.000000Z")])
    assert (broken.status_code, broken.json()["error"]) == (409, "audit_chain_break")
    assert [r.kind for r in breaks(api)] == ["pruned_gap", "diverged"]
    # Acknowledged in the admin as a break is; the chain goes on in its segment.
    page = f"/admin/hub/auditbreak/{record.pk}/change/"
    acknowledger = _staff("acknowledger", api.site, "view_auditbreak", "acknowledge_auditbreak")
    acknowledger.post(page, {"note": "the hub was restored from last night's backup"})
    record.refresh_from_db()
    assert not record.is_open and record.acknowledged_by == "acknowledger"
    assert current_head(api_device(api)).segment == 0
    assert acknowledge(breaks(api)[1], "operator", "looked")
    assert current_head(api_device(api)).segment == 1


def api_device(api: Api) -> Any:
    from sync.hub.models import Device

    return Device.objects.get(uid=api.device_id)


def test_after_a_new_code_a_pruned_chain_that_does_not_extend_the_old_one_starts_anew(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 6)
    chain = links(store)
    send(api, chain[:3])  # the hub holds 1..3; the store deleted 1..5 since
    again = _registered_again(api, issue_code(api_device(api)).code)
    taken = send_from(again, chain, 5)
    assert taken.status_code == 200, taken.content
    assert [(s, q) for s, q, _ in held(api) if s == 1] == [(1, 6), (1, 7)]
    code, record = breaks(api)
    assert (code.kind, code.continues_old_chain) == ("reissued", False)
    assert (record.kind, record.segment, record.sequence) == ("pruned_start", 1, 1)


def _rewritten_from(chain: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    """The chain with entry ``index`` (0-based) edited and every hash after it computed
    again: what a key holder can make."""
    out = [dict(link) for link in chain[:index]]
    prev = out[-1]["entry_hash"] if out else "0" * 64
    for i, link in enumerate(chain[index:]):
        edit = {"at": "2020-01-01T00:00:00.000000Z"} if i == 0 else {}
        out.append(rehashed({**link, "prev_hash": prev, **edit}))
        prev = out[-1]["entry_hash"]
    return out


def test_a_gap_claimed_past_entries_the_hub_still_holds_is_a_break(
    api: Api, store: Store, clock: FakeClock
) -> None:
    """A token holder rewrites entry 4, which the hub holds, and names its own entry 5 as
    deleted: nothing shows the hub lost entries (its change log was not renewed since it
    took entry 4), so it is a break, not a pruned gap."""
    decide(store, clock, 7)
    chain = links(store)
    assert send(api, chain[:4]).status_code == 200
    forged = _rewritten_from(chain, 3)
    refused = send_from(api, forged, 5)
    assert (refused.status_code, refused.json()["error"]) == (409, "audit_chain_break")
    assert [sequence for _, sequence, _ in held(api)] == [1, 2, 3, 4]
    (record,) = breaks(api)
    assert (record.kind, record.sequence, record.is_open) == ("unlinked", 6, True)
    assert record.hub_hash == chain[3]["entry_hash"]
    assert record.device_hash == forged[5]["entry_hash"]
    assert "saying entry 5 was deleted" in record.reason and "not renewed" in record.reason
    assert "restored from" not in record.reason
    refused = send(api, forged[6:])  # and every later batch, until acknowledged
    assert (refused.status_code, refused.json()["error"]) == (409, "audit_chain_break")
    # A log renewed only now does not make the earlier claim a pruned gap either.
    renew_log_epochs()
    again = send_from(api, forged, 5)
    assert (again.status_code, again.json()["error"]) == (409, "audit_chain_break")
    assert len(breaks(api)) == 1


def test_an_unexplained_gap_acknowledged_goes_on_from_the_entry_after_the_checkpoint(
    api: Api, store: Store, clock: FakeClock
) -> None:
    """A hub restored without its log renewed: the honest device's claim is a break; once
    an operator acknowledges it, the chain goes on from the entry after the checkpoint."""
    decide(store, clock, 6)
    chain = links(store)
    send(api, chain[:3])
    assert send_from(api, chain, 5).status_code == 409
    (record,) = breaks(api)
    assert acknowledge(record, "operator", "the hub was restored; log not renewed")
    taken = send_from(api, chain, 5)
    assert taken.status_code == 200, taken.content
    assert [(s, q) for s, q, _ in held(api) if s == 1] == [(1, 6), (1, 7)]


def test_while_a_pruned_record_is_open_another_checkpoint_claim_is_refused(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 8)
    chain = links(store)
    assert send_from(api, chain[:4], 3).status_code == 200  # pruned_start, open
    assert send(api, chain[4:5]).status_code == 200  # the chain goes on after it
    renew_log_epochs()  # even with a restore shown
    refused = send_from(api, chain, 6)
    assert (refused.status_code, refused.json()["error"]) == (409, "audit_pruned_open")
    (record,) = breaks(api)
    # The refusal names the record, so the operator knows which one to look into.
    assert f"{named(record)} of {api_device(api)}; " in refused.json()["reason"]
    assert "acknowledge it in the hub's admin (Audit breaks)" in refused.json()["reason"]
    assert [r.kind for r in breaks(api)] == ["pruned_start"]
    assert send(api, chain[5:]).status_code == 200  # the chain goes on as before
    assert [sequence for _, sequence, _ in held(api)] == [4, 5, 6, 7, 8, 9]


def named(record: Any) -> str:
    """A pruned record as a refusal names it: what finds it in the admin's list."""
    found = f"{record.detected_at:%Y-%m-%d %H:%M} UTC"
    return f"the pruned_start record at entry 1 (segment {record.segment}, found {found})"


def test_no_new_code_while_a_pruned_record_is_open_and_the_refusal_names_it(
    api: Api, store: Store, clock: FakeClock
) -> None:
    """A new code would start the chain anew, and the next store's would then be refused
    (``audit_pruned_open``) over a record of the store before: the code waits until the
    record is acknowledged, as for a break, and the refusal says which record it is."""
    decide(store, clock, 5)
    chain = links(store)
    assert send_from(api, chain, 3).status_code == 200  # pruned_start, open
    device = api_device(api)
    (record,) = breaks(api)
    with pytest.raises(OpenAuditBreakError) as refused:
        issue_code(device, by="admin")
    words = str(refused.value)
    assert named(record) in words and "(segment 0," in words
    assert "acknowledge it first (Audit breaks)" in words
    assert breaks(api) == [record]  # nothing changed: the token still works
    decide(store, clock, 1)
    assert send(api, links(store, 6)).status_code == 200
    assert acknowledge(record, "operator", "the store was registered again after a rebuild")
    again = _registered_again(api, issue_code(device, by="admin").code)
    assert send_from(again, links(store), 3).status_code == 200  # the new store is taken
    assert [(r.kind, r.segment, r.is_open) for r in breaks(api)] == [
        ("pruned_start", 0, False), ("reissued", 0, False), ("pruned_start", 1, True)
    ]  # fmt: skip


def test_a_token_cannot_flood_the_hub_with_pruned_records(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 20)
    chain = links(store)
    taken = 0
    for k in range(10):  # each batch skips an entry, naming it as the checkpoint
        sent = send_from(api, chain[: 2 * k + 2], 2 * k + 1)
        taken += sent.status_code == 200
    assert taken == 1
    assert [(r.kind, r.is_open) for r in breaks(api)] == [
        ("pruned_start", True), ("unlinked", True)
    ]  # fmt: skip


def test_a_renewal_a_device_set_off_does_not_explain_a_gap(
    api: Api, store: Store, clock: FakeClock
) -> None:
    """A device's pull can make the hub renew its site's log itself (a tip the hub sealed,
    past the log: the safety net). Taken as evidence of a restore, it let the token have a
    rewrite of entries the hub holds filed as a pruned gap (review round 3): the seal shows
    the hub handed out that change, not why its log ends before it. Only the admin's
    `jaga hub renew-log-epoch` shows a restore."""
    decide(store, clock, 7)
    chain = links(store)
    assert send(api, chain[:4]).status_code == 200
    site = Site.objects.get(slug=api.site)
    tip = "ab" * 16  # a change the hub sealed at that cursor before its log was rewound
    headers = {
        **api.auth(),
        LOG_EPOCH_HEADER: str(site.log_epoch),
        LOG_TIP_HEADER: tip,
        LOG_SEAL_HEADER: seal_tip(site, site.log_epoch, 10**9, tip),
    }
    params = {"cursor": 10**9, "protocol_version": PROTOCOL_VERSION}
    assert api.get(api.site_path("changes"), params, headers=headers).status_code == 200
    assert Site.objects.get(slug=api.site).log_epoch_renewed_at is not None  # it did renew

    refused = send_from(api, _rewritten_from(chain, 3), 5)

    assert (refused.status_code, refused.json()["error"]) == (409, "audit_chain_break")
    assert [sequence for _, sequence, _ in held(api)] == [1, 2, 3, 4]
    assert [record.kind for record in breaks(api)] == ["unlinked"]
