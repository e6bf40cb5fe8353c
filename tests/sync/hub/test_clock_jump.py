"""The hub's clock check (``sync.hub.clock_check``) against what a clock that jumped with its
devices', or one device token, could make it trust; and every erasure behind it, and what a
pull withholds by it.

A clock ahead is the in-process hub's ``django.utils.timezone.now`` shifted, so every stamp
the hub makes moves with it (``received_at``, ``last_seen_at``, the purge's own time), as on a
host whose clock jumped. PostgreSQL runs on this host here, so its clock is this host's real
one: it is read as the hub's (``_database_behind`` 0), as it would be had it jumped with it.
The host's boot time (``CLOCK_BOOTTIME``) is real and does not move: a jump on this boot.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from sync.hub.clock_check import ClockEvidence, judge
from sync.hub.metrics_db import DatabaseCollector
from sync.hub.models import AccessEvent, Change, DecisionPurge, Device, Person
from sync.hub.retention import purge_all, purge_decisions
from sync.protocol import RETENTION_REASON, format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_clock_check import rebooted

REAL_NOW = timezone.now
JUMP = timedelta(days=60)
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

pytestmark = pytest.mark.skipif(not BOOT_ID.exists(), reason="no /proc boot id")


@pytest.fixture(autouse=True)
def _future_removed() -> Iterator[None]:
    """What a test's hub took by a clock ahead is not left for the next test's."""
    yield
    AccessEvent.objects.filter(received_at__gt=REAL_NOW() + timedelta(days=1)).delete()
    # Nor the runs it recorded: the next test's last run would lie in the future.
    DecisionPurge.objects.filter(started_at__gt=REAL_NOW() + timedelta(hours=1)).delete()


@contextlib.contextmanager
def clock_ahead(by: timedelta) -> Iterator[None]:
    with (
        mock.patch("django.utils.timezone.now", lambda: REAL_NOW() + by),
        mock.patch("sync.hub.clock_check._database_behind", lambda: timedelta(0)),
    ):
        yield


def _consented_until(api: Api, until: datetime, badge: str | None = None) -> str:
    person = e.person(api.site, badge=badge)
    person["consent"]["given_at"] = format_timestamp(REAL_NOW() - timedelta(days=400))
    person["consent"]["retain_until"] = format_timestamp(until)
    pushed = api.push(e.entry("person", "upsert", person))
    assert pushed["rejected"] == [], pushed
    return str(person["person_uid"])


def _erased(person_uid: str) -> bool:
    return Person.objects.get(uid=person_uid).erased_at is not None


def _event_at(api: Api, device: Api, occurred_at: datetime) -> None:
    event = e.access_event(api.site, occurred_at=format_timestamp(occurred_at))
    assert device.push(e.entry("access_event", "upsert", event))["rejected"] == []


def _refused_gauge() -> float:
    for family in DatabaseCollector().collect():
        if family.name == "jaga_hub_purge_refused_clock_ahead_seconds":
            return float(family.samples[0].value)
    raise AssertionError("no jaga_hub_purge_refused_clock_ahead_seconds")


def test_a_clock_that_jumped_with_its_devices_is_told_by_the_hosts_boot_time(api: Api) -> None:
    """A wrong NTP server for the whole site: the hub and both kiosks read 60 days ahead, the
    kiosks' events dated by it. The devices all agree with the hub; the host has been up a
    day since the last run, not 60: it erases nobody."""
    now = REAL_NOW()
    person = _consented_until(api, now + timedelta(days=30))
    second = Api.register_new(api.site, "kiosk-2")
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        purge_decisions(now - timedelta(days=1))
        with clock_ahead(JUMP):
            for device in (api, second):
                _event_at(api, device, now + JUMP)
            out = purge_all()
    assert not out.clock.trusted and out.decisions is None
    assert out.clock.ahead_by is not None and out.clock.ahead_by > JUMP - timedelta(hours=1)
    assert "the host has been up" in out.clock.reason, out.clock.reason
    assert not _erased(person)


def test_boot_time_that_explains_the_gap_trusts_the_clock(api: Api) -> None:
    """The hub's timer stopped for 40 days, the host up all along: its boot time elapsed as
    much as its clock, so the clock is trusted though no device synced."""
    now = REAL_NOW()
    person = _consented_until(api, now - timedelta(hours=1))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        purge_decisions(now)
        off = timedelta(days=40)
        DecisionPurge.objects.update(
            started_at=F("started_at") - off, boot_seconds=F("boot_seconds") - off.total_seconds()
        )
        done = purge_all(now)
    assert done.clock.trusted, done.clock.reason
    assert "boot" in done.clock.reason
    assert _erased(person)


def test_one_device_token_cannot_vouch_for_a_clock_ahead(api: Api, other_api: Api) -> None:
    """Rebooted (no boot time to compare), the clock 60 days ahead: the honest kiosk's event
    is dated 60 days before the hub took it; a second device token dating its event at the
    hub's wrong time is one of two, not a majority: nobody is erased."""
    now = REAL_NOW()
    person = _consented_until(api, now + timedelta(days=30))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        purge_decisions(now - timedelta(days=1))
        rebooted()
        with clock_ahead(JUMP):
            _event_at(api, api, now)
            _event_at(other_api, other_api, now + JUMP)
            out = purge_all()
    assert not out.clock.trusted and out.decisions is None
    assert "1 of the 2 devices" in out.clock.reason, out.clock.reason
    assert not _erased(person)


def test_devices_vote_by_strict_majority_and_a_clock_far_ahead_is_no_vote() -> None:
    now = REAL_NOW()
    last = now - timedelta(days=40)

    def verdict(*lag_days: float) -> bool:
        lags = tuple(timedelta(days=lag) for lag in lag_days)
        return judge(ClockEvidence(now, timedelta(0), last, device_lags=lags)).trusted

    assert verdict(0.01)
    assert verdict(0.01, 0.5, 60)
    assert not verdict(0.01, 60)
    assert not verdict(0.01, -40)  # a device clock 40 days ahead of the hub's
    assert not verdict(0.01, 0.02, 60, 60)


def test_keep_for_ever_records_its_runs_so_a_quiet_season_purges_daily(api: Api) -> None:
    """``JAGA_HUB_DECISION_KEEP_DAYS=0``, the clock right, the site's devices quiet for five
    weeks: the first run refuses; the operator's ``--trust-clock`` run is recorded, the gauge
    goes back to 0, and the next day's run compares with it and erases on its own."""
    DecisionPurge.objects.all().delete()
    now = REAL_NOW()
    expired = _consented_until(api, now - timedelta(days=1))
    Device.objects.update(last_seen_at=now - timedelta(weeks=5))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=0):
        first = purge_all(now)
        assert first.decisions is None and not _erased(expired)
        assert _refused_gauge() > 0
        told = purge_all(now, trust_clock=True)
        assert told.decisions is not None and _erased(expired)
        run = DecisionPurge.objects.get(refused="")
        assert run.cutoff is None and run.complete and run.finished_at is not None
        assert _refused_gauge() == 0.0
        later = _consented_until(api, now - timedelta(hours=1))
        Device.objects.update(last_seen_at=now - timedelta(weeks=5))
        next_day = purge_all(now + timedelta(hours=20))
    assert next_day.clock.trusted, next_day.clock.reason
    assert _erased(later)


def test_keep_for_ever_catches_a_jump_while_the_hub_serves(api: Api) -> None:
    """``JAGA_HUB_DECISION_KEEP_DAYS=0``: yesterday's run is recorded, so a clock that jumped
    60 days while the hub served (a device's sync stamped by it) is caught."""
    now = REAL_NOW()
    person = _consented_until(api, now + timedelta(days=30))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=0):
        assert purge_all(now, trust_clock=True).decisions is not None
        with clock_ahead(JUMP):
            _event_at(api, api, now)
            out = purge_all()
    assert not out.clock.trusted and out.decisions is None
    assert not _erased(person)


def test_a_badge_holder_is_not_erased_on_a_clock_not_trusted(api: Api) -> None:
    """A new enrolment under the badge of a holder past retention by the hub's clock only,
    60 days ahead: the holder is kept and the enrolment waits (retryable), as for any held
    badge, until the clock is trusted again."""
    now = REAL_NOW()
    badge = f"B-clock-{uuid.uuid4().hex[:8]}"
    holder = _consented_until(api, now + timedelta(days=30), badge=badge)
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        purge_decisions(now - timedelta(days=1))
        with clock_ahead(JUMP):
            pushed = api.push(e.entry("person", "upsert", e.person(api.site, badge=badge)))
    assert not _erased(holder)
    [rejected] = pushed["rejected"]
    assert rejected["retryable"], rejected
    assert "clock" in rejected["reason"], rejected


def test_a_retention_tombstone_is_not_applied_on_a_clock_not_trusted(api: Api) -> None:
    """The site's clocks all 60 days ahead: a kiosk's retention tombstone for someone with 30
    days of consent left is acknowledged without erasing them (``EARLY_RETENTION``)."""
    now = REAL_NOW()
    person = _consented_until(api, now + timedelta(days=30))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        purge_decisions(now - timedelta(days=1))
        with clock_ahead(JUMP):
            tomb = e.tombstone(person, now + JUMP)
            tomb["reason"] = RETENTION_REASON
            pushed = api.push(e.entry("person", "tombstone", tomb, entity_uid=person))
    assert pushed["rejected"] == [], pushed
    assert not _erased(person)


def _other_host_ran(api: Api, *, behind: timedelta) -> None:
    """This host's run, then another hub host's (another boot id, the same database) ten
    minutes later: the newest run is not this host's."""
    with clock_ahead(-behind):
        purge_all()
    with clock_ahead(-behind + timedelta(minutes=10)):
        purge_all()
    newest = DecisionPurge.objects.filter(refused="").order_by("-started_at")[0]
    DecisionPurge.objects.filter(pk=newest.pk).update(boot_id=str(uuid.uuid4()))


@pytest.mark.parametrize("site_wide", [False, True], ids=["one-host", "site-wide-ntp"])
def test_with_two_hub_hosts_a_jump_is_told_by_this_hosts_own_last_run(
    api: Api, site_wide: bool
) -> None:
    """Two hub hosts on one database, each with the daily timer: host B ran after host A. Host
    A's clock jumps (20 days, under the four weeks a gap may hide; or 60 days with the whole
    site's NTP, the kiosks' events dated by it): compared with its own run on this boot, not
    host B's, it erases nobody."""
    DecisionPurge.objects.all().delete()
    now = REAL_NOW()
    jump = JUMP if site_wide else timedelta(days=20)
    person = _consented_until(api, now + jump / 2)
    second = Api.register_new(api.site, "kiosk-2")
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        _other_host_ran(api, behind=timedelta(days=1))
        with clock_ahead(jump):
            for device in (api, second) if site_wide else ():
                _event_at(api, device, now + jump)
            out = purge_all()
    assert not out.clock.trusted and out.decisions is None, out.clock.reason
    assert "after the hub last ran a purge on this host and boot" in out.clock.reason, (
        out.clock.reason
    )
    assert not _erased(person)


def test_a_clock_behind_at_a_run_then_set_right_costs_one_trusted_run(api: Api) -> None:
    """The purge ran at boot with the clock 3 days behind (no battery-backed clock, before NTP
    set it), then NTP set it right. The next run cannot tell that from a jump ahead: it refuses,
    naming both; one ``--trust-clock`` run becomes the one the next compares with, and the day
    after, the purge runs on its own."""
    DecisionPurge.objects.all().delete()
    now = REAL_NOW()
    expired = _consented_until(api, now - timedelta(hours=1))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        with clock_ahead(-timedelta(days=3)):
            assert purge_all().clock.trusted
        with clock_ahead(timedelta(0)):
            refused = purge_all()
            assert not refused.clock.trusted and not _erased(expired)
            assert "the clock jumped ahead since" in refused.clock.reason, refused.clock.reason
            assert "or it read 3 days behind then" in refused.clock.reason, refused.clock.reason
            assert purge_all(trust_clock=True).decisions is not None and _erased(expired)
        later = _consented_until(api, now - timedelta(hours=1))
        # A day later on the same boot: the runs, their boot times and their clocks a day older.
        DecisionPurge.objects.update(
            started_at=F("started_at") - timedelta(days=1),
            boot_seconds=F("boot_seconds") - 86400.0,
        )
        with clock_ahead(timedelta(0)):
            next_day = purge_all()
    assert next_day.clock.trusted, next_day.clock.reason
    assert _erased(later)


def test_a_retention_tombstone_put_off_for_the_hubs_clock_blames_the_hub_not_the_device(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """The check refuses the hub's clock (behind at the last run, set right since). A kiosk,
    its clock right, erases someone whose consent ran out yesterday: the hub keeps them until
    its purge runs on a trusted clock, says its own clock is the cause, and does not send them
    back to the kiosk (the kiosk was right)."""
    DecisionPurge.objects.all().delete()
    now = REAL_NOW()
    person = _consented_until(api, now - timedelta(days=1))
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        with clock_ahead(-timedelta(days=3)):
            purge_all()
        logged = Change.objects.filter(entity_uid=person).count()
        with clock_ahead(timedelta(0)), caplog.at_level(logging.WARNING, "sync.hub.apply"):
            tomb = e.tombstone(person, now)
            tomb["reason"] = RETENTION_REASON
            pushed = api.push(e.entry("person", "tombstone", tomb, entity_uid=person))
    assert pushed["rejected"] == [], pushed
    assert not _erased(person)
    [warning] = [r.getMessage() for r in caplog.records if person in r.getMessage()]
    assert "the hub's clock, which it does not trust now" in warning, warning
    assert "its clock looks ahead" not in warning, warning
    assert Change.objects.filter(entity_uid=person).count() == logged


def _pulled(device: Api, cursor: int) -> tuple[set[tuple[str, str, str]], int]:
    """(entity, uid, operation) of every change after ``cursor``, and the cursor reached."""
    got: set[tuple[str, str, str]] = set()
    while True:
        page = device.pull(cursor)
        got |= {(c["entity"], c["entity_uid"], c["operation"]) for c in page["changes"]}
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return got, cursor


def test_a_pull_on_a_clock_not_trusted_withholds_nobody_its_cursor_would_skip(api: Api) -> None:
    """The hub's clock 60 days ahead, the check refusing it: a new kiosk's pull from 0 gets
    the person with 30 days of consent left and their template (their cursors lie before the
    catch's). Withheld, the kiosk's cursor would pass them for good: the purge, which refuses
    that clock, erases nobody, so no tombstone would ever follow."""
    now = REAL_NOW()
    person = _consented_until(api, now + timedelta(days=30))
    template = e.template(person, [0.1] * 128)
    assert api.push(e.entry("face_template", "upsert", template))["rejected"] == []
    assert api.push(e.entry("fish_observation", "upsert", e.observation()))["rejected"] == []
    kiosk = Api.register_new(api.site, "kiosk-new")
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        purge_decisions(now - timedelta(days=1))
        with clock_ahead(JUMP):
            first, cursor = _pulled(kiosk, 0)
            out = purge_all()
    assert not out.clock.trusted and not _erased(person)
    assert ("person", person, "upsert") in first
    assert ("face_template", template["template_uid"], "upsert") in first
    later, _ = _pulled(kiosk, cursor)  # the clock set right: nothing new, nothing missed
    assert later == set()


def test_a_person_past_retention_pulled_on_a_clock_not_trusted_gets_the_purges_tombstone(
    api: Api,
) -> None:
    """The check refuses the hub's clock (behind at the last run, right now): a pull cannot
    tell a jump from the truth, so it hands out a person whose consent ended yesterday (the
    kiosk's own clock keeps them out of its gallery and erases them at its next sync). The
    purge run the operator trusts erases them, and its tombstone reaches that kiosk."""
    DecisionPurge.objects.all().delete()
    now = REAL_NOW()
    person = _consented_until(api, now - timedelta(days=1))
    kiosk = Api.register_new(api.site, "kiosk-new")
    with override_settings(JAGA_HUB_DECISION_KEEP_DAYS=365):
        with clock_ahead(-timedelta(days=3)):
            assert purge_all().clock.trusted
        with clock_ahead(timedelta(0)):
            first, cursor = _pulled(kiosk, 0)
            assert ("person", person, "upsert") in first
            assert purge_all(trust_clock=True).decisions is not None
    assert _erased(person)
    later, _ = _pulled(kiosk, cursor)
    assert ("person", person, "tombstone") in later
