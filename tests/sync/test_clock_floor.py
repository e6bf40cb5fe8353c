"""A device that never synced, whose clock was reset (a flat RTC battery): no hub time was
seen, but the release date of the jaga build it runs is a floor under the true time
(``sync.store.clock``). Its clock is called wrong, and its edits are stamped after it."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest

from sync.client.status import read_clock_warning
from sync.store import Store
from sync.store.clock import parse_timestamp
from tests.sync.client.units import observations
from tests.sync.conftest import REPO_ROOT, FakeClock

RELEASED = datetime(2026, 11, 1, tzinfo=UTC)
RESET = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(RESET, released=RELEASED)


def test_a_never_synced_clock_before_the_release_is_called_wrong(store: Store) -> None:
    """``jaga sync status``, the sync log and the panel said nothing of a clock in 2000."""
    warning = read_clock_warning(store) or ""
    assert "clock looks wrong" in warning
    assert "2026-11-01" in warning and "release" in warning


def test_a_clock_after_the_release_is_not_called_wrong(store: Store, clock: FakeClock) -> None:
    clock.moment = RELEASED
    assert read_clock_warning(store) is None


def test_an_edit_on_a_reset_clock_is_stamped_after_the_release(store: Store) -> None:
    """Stamped in 2000, it would lose every conflict at the hub to any edit since."""
    observations(store, 1)
    (stamp,) = store.database.query("SELECT created_at FROM outbox")[0]
    assert parse_timestamp(str(stamp)) >= RELEASED


def test_the_release_date_is_past_and_no_older_than_the_model_packs_version() -> None:
    """Set at each release (``RELEASED``): a date to come would call every clock wrong, and
    one left behind by a release (its model pack's version names the month) vouches for
    less than it could."""
    from sync.store import clock

    with (REPO_ROOT / "assets" / "models.toml").open("rb") as manifest:
        year, month, _ = tomllib.load(manifest)["version"].split(".")
    assert datetime(int(year), int(month), 1, tzinfo=UTC) <= clock.RELEASED <= datetime.now(UTC)


def test_a_clock_set_back_before_a_time_recorded_here_is_warned_of(
    store: Store, clock: FakeClock
) -> None:
    """Past the release date, with no hub time seen, a clock set back a fortnight behind
    what this store recorded by it was named nowhere: not wrong by the floor, and rightly
    not corrected (it may be the earlier clock that was ahead), but worth a look."""
    from sync.client.pull import warn_if_clock_behind

    clock.moment = datetime(2026, 12, 1, tzinfo=UTC)
    observations(store, 1)  # its audit entry is dated 2026-12-01
    clock.moment = datetime(2026, 11, 15, tzinfo=UTC)
    for warning in (read_clock_warning(store) or "", warn_if_clock_behind(store) or ""):
        assert "2026-12-01" in warning and "recorded" in warning
        assert "16 days" in warning
    clock.moment = datetime(2026, 12, 1, tzinfo=UTC)
    assert read_clock_warning(store) is None


def test_a_reset_clock_still_erases_a_consent_ended_before_the_release(
    store: Store, clock: FakeClock
) -> None:
    """A kiosk with no hub, its clock reset to 2000, kept for ever the templates of people
    whose consent ended before the build it runs was released: no hub purge ever reaches
    it. The release date is a time certainly past (not a hub's clock that may be wrong), so
    retention goes by it when the clock reads before it."""
    from sync.store import Consent
    from tests.sync.conftest import template

    given = datetime(2026, 3, 1, tzinfo=UTC)
    uid = store.people.enrol(
        external_id="B-1",
        display_name="Ada",
        site="gate",
        consent=Consent("v1", given, "op", datetime(2026, 4, 1, tzinfo=UTC)),
        templates=[template(1)],
        operator="op",
        duplicate_threshold=0.6,
    ).person.person_uid
    assert store.people.purge_expired() == [uid]
    assert store.people.count() == 0
