"""Decision retention on the hub: ``jaga hub purge-expired`` deletes the access events the
hub has held for its window and their idempotency keys a window later, so a replay of a
deleted event is still acknowledged without being stored again; no event is dropped for its
date alone."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from time import monotonic, sleep
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Max
from django.test import override_settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase

from sync.hub import review
from sync.hub.erasure_replay import REAPPLIED_REASON
from sync.hub.metrics import hub_metrics
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import AccessEvent, AppliedEntry, DecisionPurge, Person, Site
from sync.hub.reason_retention import REASON_NOT_KEPT
from sync.hub.reclaim import rewrite_due
from sync.hub.retention import BATCH, due_events, purge_decisions
from sync.protocol import RETENTION_REASON, OutboxEntry, format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import REPO, Api, jaga_hub

WINDOW = 365


def _event(api: Api, occurred_at: datetime, **fields: Any) -> OutboxEntry:
    payload = e.access_event(api.site, occurred_at=format_timestamp(occurred_at), **fields)
    return e.entry("access_event", "upsert", payload)


def _stored(api: Api) -> set[str]:
    events = AccessEvent.objects.filter(site__slug=api.site)
    return {str(uid) for uid in events.values_list("uid", flat=True)}


def _keys(entries: tuple[OutboxEntry, ...]) -> set[str]:
    applied = AppliedEntry.objects.filter(key__in=[entry.idempotency_key for entry in entries])
    return {str(key) for key in applied.values_list("key", flat=True)}


def _counted(counter: MetricWrapperBase, **labels: str) -> float:
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _push(api: Api, *entries: OutboxEntry) -> list[str]:
    pushed = api.push(*entries)
    assert pushed["rejected"] == [], pushed
    return [str(key) for key in pushed["acknowledged"]]


def test_the_purge_deletes_events_held_past_the_window_and_their_keys_a_window_later(
    api: Api,
) -> None:
    now = timezone.now()
    old = _event(api, now - timedelta(days=100))
    recent = _event(api, now + timedelta(days=5))
    ahead = _event(api, now + timedelta(days=3 * WINDOW))  # a clock years ahead
    _push(api, old, recent, ahead)
    everything = (old, recent, ahead)
    later = now + timedelta(days=WINDOW + 1)  # the cutoff: a day after all were taken
    listed = purge_decisions(later, keep_days=WINDOW, dry_run=True)
    assert listed.by_site.get(api.site) == 1
    assert len(_stored(api)) == 3  # a dry run deletes none
    done = purge_decisions(later, keep_days=WINDOW)
    assert done.by_site[api.site] == 1
    assert _stored(api) == {str(recent.entity_uid), str(ahead.entity_uid)}
    assert len(_keys(everything)) == 3  # a replay finds its key
    assert purge_decisions(later, keep_days=WINDOW).by_site.get(api.site) is None
    two_windows_on = now + timedelta(days=2 * WINDOW + 1)
    done = purge_decisions(two_windows_on, keep_days=WINDOW)
    assert done.by_site[api.site] == 1
    assert _stored(api) == {str(ahead.entity_uid)}
    assert _keys(everything) == {str(ahead.idempotency_key)}  # its event is still held
    assert done.applied_entries >= 2  # and any other site's of the session


def test_an_event_goes_once_it_happened_and_was_received_the_window_ago(api: Api) -> None:
    """A device's clock behind by 400 days (or a device back after so long offline, had the
    hub stored it): the hub keeps it the whole window from when it took it. A clock 30 days
    ahead: kept until its own time is past the window, never deleted before."""
    now = timezone.now()
    behind = _event(api, now - timedelta(days=400))
    ahead = _event(api, now + timedelta(days=30))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=WINDOW):
        _push(api, behind, ahead)
    assert _stored(api) == {str(behind.entity_uid), str(ahead.entity_uid)}
    assert purge_decisions(now, keep_days=WINDOW).by_site.get(api.site) is None
    a_window_on = now + timedelta(days=WINDOW + 1)
    assert purge_decisions(a_window_on, keep_days=WINDOW).by_site[api.site] == 1
    assert _stored(api) == {str(ahead.entity_uid)}
    past_its_own_time = a_window_on + timedelta(days=30)
    assert purge_decisions(past_its_own_time, keep_days=WINDOW).by_site[api.site] == 1
    assert _stored(api) == set()


def test_a_window_of_zero_keeps_every_decision(api: Api) -> None:
    now = timezone.now()
    _push(api, _event(api, now - timedelta(days=4000)))
    report = purge_decisions(now + timedelta(days=8000), keep_days=0)
    assert report.by_site == {}
    assert len(_stored(api)) == 1


def test_a_replay_of_a_purged_event_is_acknowledged_and_not_stored_again(api: Api) -> None:
    """An acknowledgement lost on the way: the device pushes the entry again at its next
    sync, after the hub's purge deleted the event. Its key, kept a window longer, answers."""
    now = timezone.now()
    event = _event(api, now - timedelta(days=35))
    _push(api, event)
    assert purge_decisions(now + timedelta(days=WINDOW + 1), keep_days=WINDOW).by_site[api.site]
    assert _stored(api) == set()
    decisions = hub_metrics().decisions
    stored_before = _counted(decisions, decision="verified")
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=WINDOW):
        assert _push(api, event) == [str(event.idempotency_key)]
    assert _stored(api) == set()
    assert _counted(decisions, decision="verified") == stored_before


def test_an_event_dated_before_the_window_is_stored_and_kept_from_its_receipt(api: Api) -> None:
    """A kiosk whose clock is years behind (a board without a clock battery), or back after
    more than the window offline: its decisions are the only record of who went in, so the
    hub stores them and keeps them a window from when it took them, never drops them for
    their date."""
    now = timezone.now()
    long_ago = _event(api, datetime(1970, 1, 1, tzinfo=now.tzinfo))
    past_window = _event(api, now - timedelta(days=WINDOW + 1))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=WINDOW):
        _push(api, long_ago, past_window)
    taken = {str(long_ago.entity_uid), str(past_window.entity_uid)}
    assert _stored(api) == taken
    assert purge_decisions(now + timedelta(days=WINDOW - 1), keep_days=WINDOW).by_site == {}
    assert _stored(api) == taken
    assert purge_decisions(now + timedelta(days=WINDOW + 1), keep_days=WINDOW).by_site


def _received_long_ago(api: Api, days: int) -> str:
    """An access event the hub took ``days`` ago (no push can date its receipt)."""
    site = Site.objects.get(slug=api.site)
    uid = e.uid()
    then = timezone.now() - timedelta(days=days)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO hub_accessevent (uid, site_id, device_name, occurred_at, decision,"
            " received_at) VALUES (%s, %s, 'kiosk-1', %s, 'verified', %s)",
            [uid, site.pk, then, then],
        )
    return uid


def _purge_metrics() -> Iterator[tuple[str, dict[str, str], float]]:
    for family in DatabaseCollector().collect():
        assert isinstance(family, GaugeMetricFamily)
        if family.name.startswith("jaga_hub_decision_purge"):
            for sample in family.samples:
                yield sample.name, sample.labels, sample.value


def test_the_purge_command_deletes_and_records_it_and_its_dry_run_only_says(
    api: Api, hub_database: str
) -> None:
    held = _received_long_ago(api, days=WINDOW + 2)
    runs = DecisionPurge.objects.count()
    listed = jaga_hub("purge-expired", "--dry-run", database_url=hub_database)
    assert listed.returncode == 0, listed.stderr
    assert "would delete" in listed.stdout
    assert f"site {api.site}: 1 access event" in listed.stdout
    assert re.search(r"^would delete \d+ idempotency keys", listed.stdout, re.MULTILINE)
    assert _stored(api) == {held}
    assert DecisionPurge.objects.count() == runs  # a dry run records nothing
    done = jaga_hub("purge-expired", database_url=hub_database)
    assert done.returncode == 0, done.stderr
    assert f"site {api.site}: 1 access event" in done.stdout
    assert "kept 365 days" in done.stdout
    assert "anchored audit entries" in done.stdout
    assert "the reasons typed of 0 erasures" in done.stdout
    assert _stored(api) == set()
    run = DecisionPurge.objects.order_by("-pk").first()  # this run: others may be dated ahead
    assert run is not None and run.keep_days == WINDOW and run.access_events >= 1
    assert "deleted" in done.stderr  # the hub's log says how many
    samples = list(_purge_metrics())
    total = [v for name, labels, v in samples if labels.get("kind") == "access_events"]
    assert total and total[0] >= 1
    assert any(name == "jaga_hub_decision_purge_last_run_timestamp_seconds" for name, *_ in samples)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_a_purge_stopped_midway_has_recorded_what_it_deleted(
    api: Api, other_api: Api, hub_database: str, stop: signal.Signals
) -> None:
    """``jaga hub purge-expired`` killed after one site's batch (SIGKILL; or stopped by
    systemd, SIGTERM, at its timeout): the run's record counts what it deleted, each batch
    with its deletion, so the hub's log and /metrics totals hold them; SIGTERM also closes
    the record, as stopped before its end."""
    first, second = sorted(
        Site.objects.filter(slug__in=[api.site, other_api.site]), key=lambda site: site.pk
    )
    apis = {api.site: api, other_api.site: other_api}  # each site is purged in turn, by pk
    gone = [_received_long_ago(apis[first.slug], days=WINDOW + 5) for _ in range(3)]
    _received_long_ago(apis[second.slug], days=WINDOW + 5)
    before = DecisionPurge.objects.aggregate(newest=Max("pk"))["newest"] or 0
    with transaction.atomic():
        # Hold the second site's change-log lock, as a push of that site would.
        list(Site.objects.select_for_update().filter(pk=second.pk).values("pk"))
        purge = subprocess.Popen(
            [sys.executable, str(REPO / "main.py"), "hub", "purge-expired"],
            env={"DATABASE_URL": hub_database, "PATH": "/usr/bin:/bin"}, cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = monotonic() + 120
            while AccessEvent.objects.filter(uid__in=gone).exists():
                assert purge.poll() is None and monotonic() < deadline
                sleep(0.1)
        finally:
            purge.send_signal(stop)
            code = purge.wait(timeout=60)
    assert code != 0
    run = DecisionPurge.objects.get(pk__gt=before)
    assert run.access_events >= len(gone) and not run.complete
    assert (run.finished_at is not None) == (stop == signal.SIGTERM)


TYPED = "asked by her lawyer Jane Doe, ticket 4411"


def _erased(api: Api, reason: str, days_ago: int) -> str:
    """A person pushed and erased (in the admin) with ``reason``, the hub having taken the erasure
    ``days_ago`` days ago (no push can date its receipt); their uid."""
    person = e.person(api.site)
    _push(api, e.entry("person", "upsert", person))
    review.erase_person(Person.objects.get(uid=person["person_uid"]).pk, reason)
    then = timezone.now() - timedelta(days=days_ago)
    Person.objects.filter(uid=person["person_uid"]).update(erased_at=then, updated_at=then)
    return str(person["person_uid"])


def _reasons(api: Api, *uids: str) -> tuple[list[str], list[str]]:
    """The people's ``erasure_reason`` and their tombstones' reasons as a device pulls them."""
    people = [Person.objects.get(uid=uid).erasure_reason for uid in uids]
    pulled = {
        c["entity_uid"]: c["payload"]["reason"]
        for c in Api.register_new(api.site, f"kiosk-{e.uid()[:8]}").pull_all()
        if c["operation"] == "tombstone"
    }
    return people, [pulled[uid] for uid in uids]


def test_an_erasures_reason_typed_is_kept_for_the_window_then_forgotten(api: Api) -> None:
    """The reason an operator typed may name whoever asked: the hub shows it (admin, the
    tombstone devices pull) for the decision window after it took the erasure, then only
    ``REASON_NOT_KEPT``; the retention purge's own reason names no one and stays. The
    tombstone itself stays, so a device that pulls late still erases the person."""
    old = _erased(api, TYPED, days_ago=WINDOW + 1)
    recent = _erased(api, TYPED, days_ago=WINDOW - 1)
    retention = _erased(api, RETENTION_REASON, days_ago=WINDOW + 1)
    dry = purge_decisions(keep_days=WINDOW, dry_run=True)
    assert dry.erasure_reasons == 1
    assert _reasons(api, old)[0] == [TYPED]  # a dry run changes nothing

    report = purge_decisions(keep_days=WINDOW)

    assert report.erasure_reasons == 1
    assert _reasons(api, old, recent, retention) == (
        [REASON_NOT_KEPT, TYPED, RETENTION_REASON],
        [REASON_NOT_KEPT, TYPED, RETENTION_REASON],
    )
    assert Person.objects.get(uid=old).erased
    assert rewrite_due()  # the old rows leave the files at the next rewrite
    assert purge_decisions(keep_days=WINDOW).erasure_reasons == 0


def test_a_device_that_replays_an_erasure_after_its_reason_was_forgotten_is_acknowledged(
    api: Api,
) -> None:
    """A lost acknowledgement: the device pushes the tombstone again under its key, with the
    reason it typed, after the hub forgot it; the hub answers by the key and changes nothing."""
    person = e.person(api.site)
    tombstone = e.entry(
        "person", "tombstone", {**e.tombstone(person["person_uid"]), "reason": TYPED}
    )
    _push(api, e.entry("person", "upsert", person), tombstone)
    then = timezone.now() - timedelta(days=WINDOW + 1)
    Person.objects.filter(uid=person["person_uid"]).update(erased_at=then, updated_at=then)
    assert purge_decisions(keep_days=WINDOW).erasure_reasons == 1
    assert _push(api, tombstone) == [str(tombstone.idempotency_key)]
    assert Person.objects.get(uid=person["person_uid"]).erasure_reason == REASON_NOT_KEPT


def _rows_read_past(plan: dict[str, Any]) -> int:
    """Rows the plan's nodes read and then set aside (filtered out after the index)."""
    removed = int(plan.get("Rows Removed by Filter", 0))
    removed += int(plan.get("Rows Removed by Index Recheck", 0))
    return removed + sum(_rows_read_past(child) for child in plan.get("Plans", ()))


def test_a_batch_reads_only_due_events_however_many_old_ones_came_lately(api: Api) -> None:
    """A kiosk whose clock was years behind hands the hub many events dated long ago: none
    is due until the hub has held it the window. Each batch of each run finds the due
    events without reading those again (an index of when an event falls due, 0033)."""
    site = Site.objects.get(slug=api.site)
    now = timezone.now()
    with connection.cursor() as cursor:
        for occurred, received, count in (
            (datetime(1970, 1, 2, tzinfo=now.tzinfo), now, 300),  # taken lately: not due
            (now - timedelta(days=2 * WINDOW), now - timedelta(days=WINDOW + 5), 5),
        ):
            cursor.execute(
                "INSERT INTO hub_accessevent (uid, site_id, device_name, occurred_at, decision,"
                " received_at) SELECT gen_random_uuid(), %s, 'kiosk-1', %s, 'verified', %s"
                " FROM generate_series(1, %s)",
                [site.pk, occurred, received, count],
            )
    cutoff = now - timedelta(days=WINDOW)
    batch = due_events(site.pk, cutoff).values_list("uid", flat=True)[:BATCH]
    sql, params = batch.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # as on a hub with many events
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()[0]
    assert len(batch) == 5
    assert _rows_read_past(plan["Plan"]) == 0


def test_the_reason_an_erasure_applied_again_gets_is_not_forgotten_as_typed(api: Api) -> None:
    """An erasure the journal applied again after a restore carries a fixed reason that names
    no one: retention leaves it, as it leaves the consent purge's, and counts only the typed."""
    replayed = _erased(api, REAPPLIED_REASON, days_ago=WINDOW + 1)
    typed = _erased(api, TYPED, days_ago=WINDOW + 1)
    assert purge_decisions(keep_days=WINDOW).erasure_reasons == 1
    assert _reasons(api, replayed, typed)[0] == [REAPPLIED_REASON, REASON_NOT_KEPT]
