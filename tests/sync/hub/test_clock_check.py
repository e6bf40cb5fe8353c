"""``jaga hub purge-expired`` trusts the hub's clock only when what the hub records agrees
(``sync.hub.clock_check``): a clock far ahead erases and deletes nothing, says why and fails.

The session's hub holds other tests' data, taken by the real clock: a test judges a clock
ahead of it by passing ``now``, and dates what the hub "took" at such a time itself (SQL: no
push can date its receipt), removing it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from sync.hub.clock_check import QUIET_TOLERATED, ClockEvidence, judge
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import AccessEvent, DecisionPurge, Device, Person, Site
from sync.hub.retention import purge_all, purge_decisions
from sync.protocol import format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubfixtures import SERVER
from tests.sync.hub.hubkit import Api, jaga_hub

WINDOW = 365


def _consented_until(api: Api, until: datetime) -> str:
    """A person of ``api``'s site whose consent runs until ``until``; their uid."""
    person = e.person(api.site)
    person["consent"]["given_at"] = format_timestamp(timezone.now() - timedelta(days=1))
    person["consent"]["retain_until"] = format_timestamp(until)
    pushed = api.push(e.entry("person", "upsert", person))
    assert pushed["rejected"] == [], pushed
    return str(person["person_uid"])


def _erased(person_uid: str) -> bool:
    return Person.objects.get(uid=person_uid).erased_at is not None


@pytest.fixture
def taken() -> Iterator[Any]:
    """``taken(api, received_at, occurred_at)``: an access event of ``api``'s device the hub
    took at ``received_at`` (its clock), dated ``occurred_at`` (the device's); removed after."""
    uids: list[str] = []

    def take(api: Api, received_at: datetime, occurred_at: datetime) -> str:
        site = Site.objects.get(slug=api.site)
        device = Device.objects.get(uid=api.device_id)
        uids.append(e.uid())
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO hub_accessevent (uid, site_id, device_id, device_name, occurred_at,"
                " decision, received_at) VALUES (%s, %s, %s, 'kiosk-1', %s, 'verified', %s)",
                [uids[-1], site.pk, device.pk, occurred_at, received_at],
            )
        return uids[-1]

    yield take
    AccessEvent.objects.filter(uid__in=uids).delete()


def rebooted() -> None:
    """The runs recorded so far were made on another boot of the hub's host (switched off
    since): its boot time tells nothing (``sync.hub.clock_check``)."""
    DecisionPurge.objects.update(boot_id=str(uuid.uuid4()))


def _refused_gauge() -> float:
    for family in DatabaseCollector().collect():
        if family.name == "jaga_hub_purge_refused_clock_ahead_seconds":
            return float(family.samples[0].value)
    raise AssertionError("no jaga_hub_purge_refused_clock_ahead_seconds")


def test_a_clock_a_window_ahead_of_yesterdays_run_erases_and_deletes_nothing(api: Api) -> None:
    """A hub that ran its purge and took a kiosk's decisions today, its clock then set a year
    ahead: its next run would erase everyone whose consent ends within the year, on every
    device, and delete every decision. It does nothing, says why, and records it; the
    operator's ``trust_clock`` runs it."""
    now = timezone.now()
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=WINDOW):
        purge_decisions(now)  # the daily run, by the right clock
        person = _consented_until(api, now + timedelta(days=30))
        pushed = api.push(e.entry("access_event", "upsert", e.access_event(api.site)))
        assert pushed["rejected"] == [], pushed
        events = AccessEvent.objects.filter(site__slug=api.site).count()
        ahead = now + timedelta(days=WINDOW + 1)
        refused = purge_all(ahead)
        assert refused.decisions is None and refused.people == []
        assert not refused.clock.trusted and refused.clock.ahead_by is not None
        assert refused.clock.ahead_by > timedelta(days=WINDOW)
        assert "366 days after the hub last ran a purge" in refused.clock.reason
        assert not _erased(person)
        assert AccessEvent.objects.filter(site__slug=api.site).count() == events
        record = DecisionPurge.objects.order_by("-pk").first()
        assert record is not None and record.refused == refused.clock.reason
        assert _refused_gauge() == refused.clock.ahead_by.total_seconds()
        records = DecisionPurge.objects.count()
        assert purge_all(ahead, dry_run=True).decisions is None  # says the same
        assert DecisionPurge.objects.count() == records  # and records nothing
        assert purge_all(ahead).decisions is None  # a refusal is no run to compare with
        told = purge_all(ahead, trust_clock=True)
    assert told.decisions is not None and not told.clock.trusted
    assert _erased(person)
    assert AccessEvent.objects.filter(site__slug=api.site).count() == 0
    assert _refused_gauge() == 0.0  # the last run went ahead


def test_a_hub_back_after_three_weeks_off_with_its_clock_right_purges(api: Api) -> None:
    """Switched off for three weeks (a holiday, a broken disk), the hub boots with its clock
    right and the timer's missed run starts at once, before any device synced: it purges."""
    now = timezone.now()
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=WINDOW):
        purge_decisions(now)
    rebooted()
    person = _consented_until(api, now + timedelta(days=10))
    back = now + timedelta(weeks=3)
    done = purge_all(back)
    assert done.clock.trusted and done.decisions is not None
    assert [str(p.person_uid) for p in done.people] == [person]
    assert _erased(person)


def test_after_more_than_four_weeks_off_the_devices_clocks_vouch_for_the_hubs(
    api: Api, other_api: Api, taken: Any
) -> None:
    """Five weeks off: the run at boot waits for the devices (exit 1, the timer retries the
    next day); once devices synced and their clocks agree with the hub's, it purges."""
    now = timezone.now()
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=WINDOW):
        purge_decisions(now)
    rebooted()
    person = _consented_until(api, now + timedelta(days=10))
    back = now + QUIET_TOLERATED + timedelta(weeks=1)
    waiting = purge_all(back)
    assert waiting.decisions is None and "no device's data taken since" in waiting.clock.reason
    assert not _erased(person)
    taken(api, back - timedelta(hours=1), back - timedelta(hours=2))
    taken(other_api, back - timedelta(minutes=5), back - timedelta(minutes=6))
    done = purge_all(back)
    assert done.clock.trusted, done.clock.reason
    assert "the clocks of 2 of the 2 devices agree" in done.clock.reason
    assert _erased(person)


def test_a_clock_that_jumped_across_a_reboot_is_told_by_its_devices(
    api: Api, other_api: Api, taken: Any
) -> None:
    """The clock jumped 60 days ahead as the hub's host rebooted (no boot time to compare),
    the hub serving since: what it took is stamped 60 days past the devices' times. A device
    that agrees with the hub is one of two, no majority: the purge waits."""
    now = timezone.now()
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=WINDOW):
        purge_decisions(now)
    rebooted()
    person = _consented_until(api, now + timedelta(days=10))
    ahead = now + timedelta(days=60)
    taken(api, ahead - timedelta(hours=3), now)
    taken(other_api, ahead - timedelta(hours=1), now + timedelta(hours=1))
    refused = purge_all(ahead)
    assert refused.decisions is None
    assert "only 0 of the 2 devices" in refused.clock.reason
    assert "their median dates it 60 days before" in refused.clock.reason
    assert not _erased(person)
    taken(other_api, ahead - timedelta(minutes=30), ahead - timedelta(minutes=31))
    again = purge_all(ahead, dry_run=True)  # other_api agrees now: one of two
    assert not again.clock.trusted and "only 1 of the 2 devices" in again.clock.reason


def test_a_database_clock_a_day_behind_refuses() -> None:
    """PostgreSQL's clock, on another host, behind the hub's: one of them is wrong."""
    now = timezone.now()
    verdict = judge(ClockEvidence(now, timedelta(days=3), now - timedelta(days=1)))
    assert verdict.ahead_by == timedelta(days=3)
    assert verdict.reason == "PostgreSQL's clock reads 3 days behind the hub's"
    assert judge(ClockEvidence(now, timedelta(minutes=2), now - timedelta(days=1))).trusted


@pytest.fixture
def fresh_hub(hub_database: str) -> Iterator[str]:
    """A new, empty database on the session's server (the command migrates it)."""
    name = f"jaga_clock_{uuid.uuid4().hex[:12]}"
    SERVER.create_database(name)
    try:
        yield SERVER.url(name)
    finally:
        with psycopg.connect(SERVER.url(), autocommit=True) as server:
            server.execute(f'DROP DATABASE "{name}"')


def test_the_command_refuses_in_one_line_and_fails_until_told(fresh_hub: str) -> None:
    """The hub's last purge ran 40 days ago by its clock and nothing came since: the timer's
    run fails (exit 1, a failed unit) with one line saying why, erasing nothing."""
    first = jaga_hub("purge-expired", database_url=fresh_hub)  # migrates; a new hub runs
    assert first.returncode == 0, first.stderr
    with psycopg.connect(fresh_hub, autocommit=True) as database:
        database.execute("UPDATE hub_decisionpurge SET started_at = now() - interval '40 days'")
    for dry in ((), ("--dry-run",)):
        refused = jaga_hub("purge-expired", *dry, database_url=fresh_hub)
        assert refused.returncode == 1, refused.stdout
        said = [line for line in refused.stderr.splitlines() if line.startswith("jaga hub:")]
        assert len(said) == 1, refused.stderr
        assert "40 days after the hub last ran a purge" in said[0]
        assert "--trust-clock" in said[0] and "nothing" in said[0]
        assert "erased" not in refused.stdout
    told = jaga_hub("purge-expired", "--trust-clock", database_url=fresh_hub)
    assert told.returncode == 0, told.stderr
    assert "erased 0 people" in told.stdout and "--trust-clock" in told.stderr
    again = jaga_hub("purge-expired", database_url=fresh_hub)  # the next compares with that run
    assert again.returncode == 0, again.stderr
    assert "--trust-clock" not in again.stderr
