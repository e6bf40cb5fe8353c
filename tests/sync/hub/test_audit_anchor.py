"""The hub anchors each device's audit chain: it keeps what extends it, refuses and records
what rewrites or rewinds it, and refuses hostile bodies with nothing stored.

Chains come from a real device store (SQLCipher) and travel through Django's test client to
the hub on the session's PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import DatabaseError, connection, transaction
from django.test import Client
from prometheus_client.core import GaugeMetricFamily

from sync.hub.audit_breaks import acknowledge
from sync.hub.audit_head import current_head, held_hashes
from sync.hub.auth import issue_code
from sync.hub.errors import OpenAuditBreakError
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import (
    AnchoredAuditEntry,
    AuditBreak,
    AuditChainState,
    Device,
    Site,
    SiteMembership,
)
from sync.protocol import MAX_AUDIT_BODY_BYTES, MAX_PAYLOAD_BYTES
from sync.protocol.audit_messages import AuditLink, audit_entry_hash
from sync.store import AccessEvent, Passphrase, Store
from tests.sync.conftest import FAST, FakeClock
from tests.sync.hub.hubkit import Api, one_shot_token
from tests.sync.test_store_audit import tamper

FIELDS = ("sequence", "at", "actor", "action", "subject", "details", "prev_hash", "entry_hash")


def decide(store: Store, clock: FakeClock, count: int, decision: str = "not_matched") -> None:
    for _ in range(count):
        clock.advance(seconds=30)
        store.access.record(AccessEvent(clock.now(), "gate", "kiosk-1", decision, None, 0.2))


def links(store: Store, after: int = 0) -> list[dict[str, Any]]:
    return [dict(zip(FIELDS, row, strict=True)) for row in store.audit.links(after, 1000)]


def send(
    api: Api,
    entries: list[dict[str, Any]],
    device_id: str | None = None,
    head: tuple[int, str] | None = None,
    number: int | None = None,
) -> Any:
    """A batch of ``entries`` whose device's head is ``head`` (by default, the last entry),
    numbered ``number`` by the device (by default, one past its highest so far)."""
    sequence, digest = head or (entries[-1]["sequence"], entries[-1]["entry_hash"])
    device = device_id or api.device_id
    number = NUMBERED.get(device, 0) + 1 if number is None else number
    NUMBERED[device] = max(NUMBERED.get(device, 0), number)
    body = {
        "device_id": device,
        "head_sequence": sequence,
        "head_hash": digest,
        "entries": entries,
        "batch_number": number,
    }
    return api.post(api.site_path("audit"), body)


NUMBERED: dict[str, int] = {}  # each device's highest batch number sent by these tests


def held(api: Api) -> list[tuple[int, int, str]]:
    rows = AnchoredAuditEntry.objects.filter(device__uid=api.device_id)
    return list(
        rows.order_by("segment", "sequence").values_list("segment", "sequence", "entry_hash")
    )


def rehashed(link: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``link`` with ``changes``, its hash computed again: what a key holder can make."""
    changed = {**link, **changes}
    changed["entry_hash"] = audit_entry_hash([changed[name] for name in FIELDS[:7]])
    return changed


def breaks(api: Api) -> list[AuditBreak]:
    return list(AuditBreak.objects.filter(device__uid=api.device_id).order_by("pk"))


def test_the_hub_anchors_a_chain_batch_after_batch(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 3)
    first = send(api, links(store))
    assert first.status_code == 200, first.content
    head = store.audit.head()
    assert first.json() == {"sequence": head[0], "entry_hash": head[1], "stored": 4}
    decide(store, clock, 2)
    second = send(api, links(store, after=head[0]))
    assert second.json()["stored"] == 2
    chain = [(0, row["sequence"], row["entry_hash"]) for row in links(store)]
    assert held(api) == chain
    for row in AnchoredAuditEntry.objects.filter(device__uid=api.device_id):
        fields = (row.sequence, row.at, row.actor, row.action, row.subject, row.details)
        assert audit_entry_hash((*fields, row.prev_hash)) == row.entry_hash


def test_a_batch_sent_again_is_held_already_and_stores_nothing(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 3)
    assert send(api, links(store)).status_code == 200
    again = send(api, links(store))  # the first answer was lost
    assert again.status_code == 200 and again.json()["stored"] == 0
    assert len(held(api)) == 4 and not breaks(api)


def test_removed_newest_entries_appended_again_differently_are_a_recorded_break(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200  # the hub holds 1..5
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    decide(store, clock, 3, decision="verified")  # 4, 5 and 6 again, another story
    assert store.audit.verify_chain().ok  # whole on its own
    assert not store.audit.verify().ok  # but the removed entries' events are left
    refused = send(api, links(store, after=5))
    assert refused.status_code == 409
    assert refused.json()["error"] == "audit_chain_break"
    assert "entry 6 does not follow entry 5" in refused.json()["reason"]
    (recorded,) = breaks(api)
    assert (recorded.kind, recorded.sequence, recorded.is_open) == ("unlinked", 5, True)
    assert recorded.device_hash == links(store)[4]["entry_hash"]  # the device's entry 5
    overlap = send(api, links(store, after=3))  # sent from before: entry 4 differs
    assert overlap.status_code == 409 and len(breaks(api)) == 1  # refused while open
    assert [sequence for _, sequence, _ in held(api)] == [1, 2, 3, 4, 5]


def test_a_chain_whose_newest_entries_were_removed_is_a_break_at_once(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200  # the hub holds 1..5
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    refused = send(api, [], head=store.audit.head())  # nothing new to send: only the head
    assert refused.status_code == 409
    assert "ends at entry 3, before entry 5 that the hub holds" in refused.json()["reason"]
    (recorded,) = breaks(api)
    assert (recorded.kind, recorded.sequence) == ("rewound", 3)
    assert recorded.hub_hash == recorded.device_hash == store.audit.head()[1]  # at entry 3


def test_a_rewound_head_with_another_hash_than_the_hubs_is_diverged_not_rewound(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 9)
    chain = links(store)
    assert send(api, chain).status_code == 200  # the hub holds 1..10
    forged = rehashed(chain[5], actor="forged")  # a restore would append store.restored
    assert send(api, [], head=(6, forged["entry_hash"])).status_code == 409
    (recorded,) = breaks(api)
    assert (recorded.kind, recorded.sequence) == ("diverged", 6)
    assert (recorded.hub_hash, recorded.device_hash) == (
        chain[5]["entry_hash"], forged["entry_hash"]
    )  # fmt: skip


def test_a_head_the_hub_holds_with_another_hash_is_a_break(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 2)
    chain = links(store)
    assert send(api, chain).status_code == 200
    assert send(api, [], head=(3, "e" * 64)).status_code == 409
    (recorded,) = breaks(api)
    assert (recorded.kind, recorded.sequence, recorded.device_hash) == ("diverged", 3, "e" * 64)


def test_an_entry_the_hub_holds_sent_with_another_hash_is_a_break(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 2)
    chain = links(store)
    assert send(api, chain).status_code == 200
    forged = [*chain[:2], rehashed(chain[2], actor="someone else")]
    assert send(api, forged).status_code == 409
    (recorded,) = breaks(api)
    assert (recorded.kind, recorded.sequence) == ("diverged", 3)
    assert (recorded.hub_hash, recorded.device_hash) == (
        chain[2]["entry_hash"],
        forged[2]["entry_hash"],
    )


def test_an_acknowledged_break_lets_a_new_segment_start_and_keeps_the_old(
    api: Api, store: Store, clock: FakeClock, operator: Client
) -> None:
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    decide(store, clock, 3, decision="verified")
    assert send(api, links(store, after=5)).status_code == 409
    (recorded,) = breaks(api)
    listing = operator.get("/admin/hub/auditbreak/")
    assert "audit entry 6 does not follow entry 5" in listing.content.decode()
    operator.post(f"/admin/hub/auditbreak/{recorded.pk}/change/", {"note": "tampering: reported"})
    recorded.refresh_from_db()
    assert not recorded.is_open and recorded.acknowledged_by == "operator"
    assert recorded.acknowledged_note == "tampering: reported"
    accepted = send(api, links(store, after=4))  # from the entry the break names
    assert accepted.status_code == 200, accepted.content
    assert [(s, q) for s, q, _ in held(api)] == [
        (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 5), (1, 6)
    ]  # fmt: skip
    decide(store, clock, 1)
    assert send(api, links(store, after=6)).json()["stored"] == 1  # the segment goes on


def test_breaks_and_anchored_entries_are_counted_in_the_hub_metrics(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 2)
    chain = links(store)
    send(api, chain)
    send(api, [rehashed(chain[0], at="2020-01-01T00:00:00.000000Z", prev_hash="0" * 64)])
    families = {f.name: f for f in DatabaseCollector().collect()}
    assert _sample(families["jaga_hub_audit_entries"], site=api.site) == 3
    assert _sample(families["jaga_hub_audit_breaks"], site=api.site, state="open") == 1
    assert _sample(families["jaga_hub_audit_breaks"], site=api.site, state="acknowledged") == 0


def _sample(family: GaugeMetricFamily, **labels: str) -> float:
    (value,) = [s.value for s in family.samples if s.labels == labels]
    return value


def test_a_chain_ahead_of_what_the_hub_holds_is_told_where_to_send_from(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 4)
    chain = links(store)
    send(api, chain[:2])
    gap = send(api, chain[3:])
    assert gap.status_code == 409
    assert (gap.json()["error"], gap.json()["expected_offset"]) == ("audit_gap", 2)
    assert not breaks(api) and len(held(api)) == 2


def test_anchored_entries_are_append_only_in_the_database(
    api: Api, store: Store, clock: FakeClock
) -> None:
    send(api, links(store))
    rows = AnchoredAuditEntry.objects.filter(device__uid=api.device_id)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        rows.update(actor="someone else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        rows.delete()
    assert rows.get().actor != "someone else"


# Hostile bodies: each refused with a reason, nothing stored, no break recorded.


def _hostile(store: Store, clock: FakeClock) -> dict[str, Any]:
    decide(store, clock, 2)
    chain = links(store)
    huge = json.dumps({"x": "a" * MAX_PAYLOAD_BYTES})
    return {
        "a bad hash": [*chain[:2], {**chain[2], "entry_hash": "f" * 64}],
        "huge details": [rehashed(chain[0], details=huge)],
        "details not an object": [rehashed(chain[0], details="[1]")],
        "NUL in the actor": [rehashed(chain[0], actor="a\x00b")],
        "a time not in the store's form": [rehashed(chain[0], at="2026-01-01 00:00:00")],
        "entry 1 not the creation": [rehashed(chain[0], action="person.erased")],
        "not contiguous": [chain[0], chain[2]],
        "an unknown field": [{**chain[0], "extra": 1}],
        "entries past the head": [chain[0], chain[1]],
    }


@pytest.mark.parametrize(
    "name",
    [
        "a bad hash",
        "huge details",
        "details not an object",
        "NUL in the actor",
        "a time not in the store's form",
        "entry 1 not the creation",
        "not contiguous",
        "an unknown field",
        "entries past the head",
    ],
)
def test_a_hostile_body_is_refused_and_nothing_is_stored(
    api: Api, store: Store, clock: FakeClock, name: str
) -> None:
    entries = _hostile(store, clock)[name]
    head = (1, entries[0]["entry_hash"]) if name == "entries past the head" else None
    response = send(api, entries, head=head)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_body" and response.json()["reason"]
    assert not held(api) and not breaks(api)


def test_another_devices_chain_is_refused(
    api: Api, other_api: Api, store: Store, site_slug: str
) -> None:
    neighbour = Api.register_new(site_slug, "kiosk-2")
    wrong_device = send(api, links(store), device_id=neighbour.device_id)
    assert (wrong_device.status_code, wrong_device.json()["error"]) == (403, "wrong_device")
    other_site = api.post(
        api.site_path("audit", site=other_api.site),
        {"device_id": api.device_id, "entries": links(store)},
    )
    assert other_site.status_code == 403
    no_token = api.post(api.site_path("audit"), {}, headers={})
    assert no_token.status_code == 401
    assert not held(api) and not held(neighbour)
    assert not AnchoredAuditEntry.objects.filter(
        device__in=Device.objects.filter(site__slug=site_slug)
    )


def test_a_body_over_the_limit_is_refused_before_it_is_read(api: Api) -> None:
    response = api.post(api.site_path("audit"), b"x" * (MAX_AUDIT_BODY_BYTES + 1))
    assert response.status_code == 413


# After an acknowledged break, only the chain the operator looked at goes on.


def _acknowledged_unlinked_break(api: Api, store: Store, clock: FakeClock) -> AuditBreak:
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200  # the hub holds 1..5
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    decide(store, clock, 3, decision="verified")
    assert send(api, links(store, after=5)).status_code == 409
    (recorded,) = breaks(api)
    acknowledge(recorded, "operator")
    return recorded


def test_after_an_acknowledged_break_another_chain_is_refused(
    api: Api, store: Store, clock: FakeClock
) -> None:
    recorded = _acknowledged_unlinked_break(api, store, clock)
    chain = links(store)
    assert chain[recorded.sequence - 1]["entry_hash"] == recorded.device_hash
    far = [rehashed(chain[0], sequence=10**12, action="access.decision", prev_hash="a" * 64)]
    assert send(api, far).json()["error"] == "audit_gap"  # not where the break was
    assert send(api, [], head=(999_999, "b" * 64)).json()["error"] == "audit_gap"
    other = rehashed(chain[recorded.sequence - 1], actor="someone else")
    refused = send(api, [other])
    assert refused.json()["error"] == "audit_chain_break"
    assert [(s, q) for s, q, _ in held(api)] == [(0, q) for q in range(1, 6)]
    assert len(breaks(api)) == 2


def test_after_an_acknowledged_break_the_chain_looked_at_goes_on_contiguously(
    api: Api, store: Store, clock: FakeClock
) -> None:
    recorded = _acknowledged_unlinked_break(api, store, clock)
    told = send(api, links(store, after=5))  # the entry the break names comes first
    assert (told.json()["error"], told.json()["expected_offset"]) == ("audit_gap", 4)
    accepted = send(api, links(store, after=4))
    assert accepted.status_code == 200, accepted.content
    assert [(s, q) for s, q, _ in held(api) if s == 1] == [(1, 5), (1, 6)]
    assert held(api)[5][2] == recorded.device_hash
    decide(store, clock, 2)
    gap = send(api, links(store, after=7))
    assert gap.json()["error"] == "audit_gap" and gap.json()["expected_offset"] == 6
    assert send(api, links(store, after=6)).json()["stored"] == 2


def test_a_batch_older_than_one_the_hub_took_is_stale_not_a_break(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 300)
    chain = links(store)
    assert send(api, chain[:301], number=2).status_code == 200  # the later sync lands first
    late = send(api, chain[:200], number=1)  # the earlier one, delayed, with an older head
    assert late.status_code == 409, late.content
    assert (late.json()["error"], late.json()["expected_offset"]) == ("audit_stale", 2)
    assert send(api, chain[:301], number=2).json()["stored"] == 0  # a retry: same number
    assert not breaks(api)
    decide(store, clock, 1)
    assert send(api, links(store, after=301), number=3).json()["stored"] == 1


def test_the_hub_keeps_each_devices_reported_head_and_shows_how_far_behind_it_is(
    api: Api, store: Store, clock: FakeClock, operator: Client
) -> None:
    decide(store, clock, 4)
    chain = links(store)
    assert send(api, chain[:3], head=(5, chain[4]["entry_hash"])).status_code == 200
    assert send(api, [], head=(5, chain[4]["entry_hash"])).status_code == 200  # stuck at 4
    state = AuditChainState.objects.get(device__uid=api.device_id)
    assert (state.reported_sequence, state.anchored_sequence, state.behind) == (5, 3, 2)
    families = {f.name: f for f in DatabaseCollector().collect()}
    assert _sample(families["jaga_hub_audit_unanchored_entries"], site=api.site) == 2
    assert _sample(families["jaga_hub_audit_devices_behind"], site=api.site) == 1
    listing = operator.get("/admin/hub/auditchainstate/").content.decode()
    assert api.site in listing and ">2<" in listing
    assert send(api, chain[3:]).status_code == 200
    state.refresh_from_db()
    assert (state.reported_sequence, state.anchored_sequence, state.behind) == (5, 5, 0)


def test_checking_held_entries_reads_only_the_entries_named(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 1200)
    chain = links(store)
    for start in range(0, len(chain), 500):
        assert send(api, chain[start : start + 500]).status_code == 200
    device = Device.objects.get(uid=api.device_id)
    first, last = AuditLink.model_validate(chain[0]), chain[-1]
    held_now = held_hashes(device, current_head(device), [first], last["sequence"])
    assert held_now == {1: first.entry_hash, last["sequence"]: last["entry_hash"]}


class _RolledBackError(Exception):
    pass


def test_anchored_entries_cannot_be_truncated_either(api: Api, store: Store) -> None:
    send(api, links(store))
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE hub_anchoredauditentry")
        raise _RolledBackError  # should it succeed: undone, and the test fails
    assert held(api)


def test_a_new_registration_code_starts_the_devices_chain_anew(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path, passphrase: Passphrase
) -> None:
    decide(store, clock, 3)
    assert send(api, links(store)).status_code == 200
    device = Device.objects.get(uid=api.device_id)
    issued = issue_code(device, by="operator")  # a replacement device, its own store
    registered = api.client.post(
        "/api/v1/devices/register", {"code": issued.code}, content_type="application/json"
    )
    replacement = Api(api.site, api.device_id, registered.json()["token"], api.client)
    with Store.create(tmp_path / "replacement.db", passphrase, clock=clock, config=FAST) as fresh:
        decide(fresh, clock, 1)
        accepted = send(replacement, links(fresh))
        assert accepted.status_code == 200, accepted.content
        assert [(s, q) for s, q, _ in held(api) if s == 1] == [(1, 1), (1, 2)]
    (record,) = breaks(api)
    assert (record.kind, record.is_open, record.acknowledged_by) == ("reissued", False, "operator")
    families = {f.name: f for f in DatabaseCollector().collect()}
    counted = families["jaga_hub_audit_breaks"].samples
    assert [s.value for s in counted if s.labels["site"] == api.site] == [0, 0]  # not a break


def _staff(name: str, site: str, *codenames: str) -> Client:
    """A staff user with ``codenames`` who works for ``site`` (the admin lists only theirs)."""
    user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": True})
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    SiteMembership.objects.get_or_create(user=user, site=Site.objects.get(slug=site))
    client = Client()
    client.force_login(user)
    return client


def test_acknowledging_a_break_takes_its_own_permission_one_break_and_a_note(
    api: Api, store: Store, clock: FakeClock, operator: Client
) -> None:
    decide(store, clock, 2)
    send(api, links(store))
    send(api, [], head=(1, "e" * 64))
    (recorded,) = breaks(api)
    page = f"/admin/hub/auditbreak/{recorded.pk}/change/"
    changer = _staff("changer", api.site, "view_auditbreak", "change_auditbreak")
    assert changer.post(page, {"note": "looked"}).status_code == 403
    bulk = {"action": "acknowledge_breaks", "_selected_action": [recorded.pk]}
    operator.post("/admin/hub/auditbreak/", bulk)  # no bulk acknowledging, no note: nothing
    recorded.refresh_from_db()
    assert recorded.is_open
    acknowledger = _staff("acknowledger", api.site, "view_auditbreak", "acknowledge_auditbreak")
    assert 'name="note"' in acknowledger.get(page).content.decode()
    refused = acknowledger.post(page, {"note": ""})
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    recorded.refresh_from_db()
    assert recorded.is_open
    acknowledger.post(page, {"note": "restored from last week's backup"})
    recorded.refresh_from_db()
    assert (recorded.acknowledged_by, recorded.acknowledged_note) == (
        "acknowledger", "restored from last week's backup"
    )  # fmt: skip
    closed = acknowledger.get(page)  # read-only now, the note shown
    assert closed.status_code == 200 and 'name="note"' not in closed.content.decode()
    assert "restored from last week&#x27;s backup" in closed.content.decode()


def _issue(client: Client, api: Api, action: str = "issue_code") -> list[str]:
    """Post a Device admin action for ``api``'s device; the messages it left and the page
    it answered with (where a code is shown)."""
    device = Device.objects.get(uid=api.device_id)
    url = "/admin/hub/device/"
    once = one_shot_token(client.get(url).content.decode())
    form = {"action": action, "_once": once, "_selected_action": [device.pk], "post": "yes"}
    answer = client.post(url, form)  # "post": the page Revoke asks on, confirmed
    shown = [str(message) for message in get_messages(answer.wsgi_request)]
    return [*shown, answer.content.decode()]


def _registered_again(api: Api, code: str) -> Api:
    registered = api.client.post(
        "/api/v1/devices/register", {"code": code}, content_type="application/json"
    )
    return Api(api.site, api.device_id, registered.json()["token"], api.client)


def test_issuing_a_code_or_revoking_takes_the_change_permission(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 1)
    assert send(api, links(store)).status_code == 200
    viewer = _staff("viewer", api.site, "view_device")
    for action in ("issue_code", "revoke"):
        assert not any("One-time code" in shown for shown in _issue(viewer, api, action))
    device = Device.objects.get(uid=api.device_id)
    assert (device.code_hash, device.revoked_at) == (None, None)
    assert not breaks(api)  # no reissued record either
    changer = _staff("changer", api.site, "view_device", "change_device")
    assert any("One-time code" in shown for shown in _issue(changer, api))


def test_no_code_is_issued_while_the_devices_audit_chain_has_an_open_break(
    api: Api, store: Store, clock: FakeClock, operator: Client
) -> None:
    decide(store, clock, 2)
    assert send(api, links(store)).status_code == 200
    send(api, [], head=(1, "e" * 64))  # an open break
    with pytest.raises(OpenAuditBreakError):
        issue_code(Device.objects.get(uid=api.device_id), by="operator")
    shown = _issue(operator, api)  # even a superuser: the break is acknowledged with a note
    assert not any("One-time code" in message for message in shown)
    assert any("has an open break" in message for message in shown)
    (recorded,) = breaks(api)
    assert recorded.is_open and Device.objects.get(uid=api.device_id).code_hash is None
    acknowledge(recorded, "operator", "the kiosk was stolen; replaced")
    issued = issue_code(Device.objects.get(uid=api.device_id), by="operator")
    assert issued.code and [b.kind for b in breaks(api)] == ["diverged", "reissued"]
    assert breaks(api)[0].acknowledged_note == "the kiosk was stolen; replaced"


def test_the_same_store_registering_with_a_new_code_is_judged_against_its_old_chain(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 4)
    chain = links(store)
    assert send(api, chain).status_code == 200  # the hub holds 1..5
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    forged = chain[:2]
    for link in chain[2:]:
        forged.append(rehashed(link, actor="forged", prev_hash=forged[-1]["entry_hash"]))
    refused = send(again, forged)  # entry 1 as the hub holds it: the same store
    assert refused.status_code == 409 and refused.json()["error"] == "audit_chain_break"
    recorded = breaks(api)[-1]
    assert (recorded.kind, recorded.sequence, recorded.is_open) == ("diverged", 3, True)
    assert recorded.hub_hash == chain[2]["entry_hash"]
    assert [(s, q) for s, q, _ in held(api) if s > 0] == []


def test_the_same_store_coming_back_with_its_chain_goes_on_from_where_it_was(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 2)
    assert send(api, links(store)).status_code == 200  # the hub holds 1..3
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    decide(store, clock, 2)
    chain = links(store)
    accepted = send(again, chain)
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["sequence"] == 5
    assert [(s, q) for s, q, _ in held(api) if s == 1] == [(1, 3), (1, 4), (1, 5)]
    decide(store, clock, 1)
    assert send(again, links(store, after=5)).status_code == 200
    assert send(again, links(store)).status_code == 200  # sent again from entry 1: held


def test_a_batch_number_far_past_the_last_taken_is_refused_with_the_number_to_go_on_from(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 2)
    chain = links(store)
    assert send(api, chain[:1], number=7).status_code == 200
    leap = send(api, chain, number=2**63 - 1)  # would leave the honest device no number
    assert leap.status_code == 409
    assert (leap.json()["error"], leap.json()["expected_offset"]) == ("audit_stale", 7)
    assert AuditChainState.objects.get(device__uid=api.device_id).batch_number == 7
    assert [q for _, q, _ in held(api)] == [1]
    assert send(api, chain, number=8).status_code == 200


def test_a_new_registration_code_numbers_the_devices_batches_from_the_start(
    api: Api, store: Store, clock: FakeClock, tmp_path: Path, passphrase: Passphrase
) -> None:
    decide(store, clock, 1)
    assert send(api, links(store), number=500).status_code == 200
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    with Store.create(tmp_path / "replacement.db", passphrase, clock=clock, config=FAST) as fresh:
        accepted = send(again, links(fresh), number=1)  # a new store numbers from 1
    assert accepted.status_code == 200, accepted.content


def test_the_break_that_opened_a_segment_is_found_by_its_segment_not_its_clock(
    api: Api, store: Store, clock: FakeClock
) -> None:
    first = _acknowledged_unlinked_break(api, store, clock)
    assert send(api, links(store, after=4)).status_code == 200  # segment 1 holds 5, 6
    store.database.connection.execute("DELETE FROM audit_log WHERE sequence > 5")  # unguarded
    decide(store, clock, 1, decision="not_matched")
    assert send(api, links(store, after=5)).status_code == 409  # entry 6 differs
    second = breaks(api)[-1]
    acknowledge(second, "operator", "looked")
    second.refresh_from_db()
    assert second.acknowledged_at is not None
    skewed = second.acknowledged_at + timedelta(hours=1)  # another worker's clock ahead
    AuditBreak.objects.filter(pk=first.pk).update(acknowledged_at=skewed)
    accepted = send(api, links(store, after=5))  # from entry 6, as the second break names
    assert accepted.status_code == 200, accepted.content
    assert [(s, q) for s, q, _ in held(api) if s == 2] == [(2, 6)]


def test_the_same_store_coming_back_may_go_on_from_the_entry_an_acknowledged_break_names(
    api: Api, store: Store, clock: FakeClock
) -> None:
    _acknowledged_unlinked_break(api, store, clock)  # segment 1 is to start at entry 5
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    # A chain longer than a batch, sent from entry 1, is told to send from entry 5 (the old
    # chain's judge); from there it must be taken, not sent back to entry 1.
    accepted = send(again, links(store, after=4))
    assert accepted.status_code == 200, accepted.content
    assert [(s, q) for s, q, _ in held(api) if s == 2] == [(2, 5), (2, 6)]
    held_already = send(again, links(store))  # from entry 1 again: held already
    assert held_already.status_code == 200 and held_already.json()["stored"] == 0


def test_the_admins_audit_list_finds_entries_by_who_acted(
    api: Api, store: Store, clock: FakeClock
) -> None:
    """An investigation starts from a name: "what did operator X do?". The list showed the
    actor but searched only the device and the subject (review round 3)."""
    decide(store, clock, 1)
    store.audit.record(actor="cli:bytes:jos\\xe9", action="backup", subject="probe", details={})
    assert send(api, links(store)).status_code == 200
    staff = _staff(f"auditor-{api.site}", api.site, "view_anchoredauditentry")

    found = staff.get("/admin/hub/anchoredauditentry/", {"q": "cli:bytes:jos"})

    assert found.status_code == 200
    assert "1 result" in found.content.decode()
