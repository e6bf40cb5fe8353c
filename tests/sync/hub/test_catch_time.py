"""A catch dated later than any clock vouches for is refused, that catch alone, for good.

A catch is dated by when it was caught (``observed_at``), which no device takes later than
its own clock (``desktop.catch_time``), save one that knows its clock is behind the hub's
time. The hub holds a catch's time to its own clock, or the pushing device's when it queued
the entry, plus the skew it allows a device clock (``JAGA_HUB_MAX_CLOCK_SKEW_S``): a boat
whose clock runs hours ahead still hands its catches over (``test_faults_skew``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from sync.hub.models import FishObservation
from sync.protocol import format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

FAR_AHEAD = "2099-01-01T00:00:00.000000Z"  # as format_timestamp writes it


def _skew() -> timedelta:
    return timedelta(seconds=settings.JAGA_HUB_MAX_CLOCK_SKEW_S)


def _catch(observed_at: datetime | str, **fields: Any) -> dict[str, Any]:
    when = observed_at if isinstance(observed_at, str) else format_timestamp(observed_at)
    return e.observation(observed_at=when, **fields)


def _stored(catch: dict[str, Any]) -> bool:
    stored: bool = FishObservation.objects.filter(uid=catch["observation_uid"]).exists()
    return stored


def test_a_catch_dated_in_the_future_is_refused_for_good_with_the_reason(api: Api) -> None:
    now = timezone.now()
    future = _catch(FAR_AHEAD)
    today = _catch(now - timedelta(minutes=5))
    result = api.push(
        e.entry("fish_observation", "upsert", future, when=now),
        e.entry("fish_observation", "upsert", today, when=now),
    )
    assert len(result["acknowledged"]) == 1 and _stored(today)
    (refused,) = result["rejected"]
    assert refused["retryable"] is False
    assert f"the catch's time {FAR_AHEAD} is in the future" in refused["reason"]
    assert str(settings.JAGA_HUB_MAX_CLOCK_SKEW_S) in refused["reason"]
    assert not _stored(future)
    assert future["observation_uid"] not in str(api.pull_all())


def test_a_catch_within_the_skew_of_the_hubs_clock_is_applied(api: Api) -> None:
    now = timezone.now()
    catch = _catch(now + _skew() / 2)
    assert api.push(e.entry("fish_observation", "upsert", catch, when=now))["rejected"] == []
    assert _stored(catch)


def test_a_boat_whose_clock_runs_hours_ahead_hands_over_its_catch(api: Api) -> None:
    """Its clock vouches for the catch's time, as it does on the boat; its edits' stamps are
    still held to the hub's clock plus the skew."""
    ahead = timezone.now() + timedelta(hours=5)
    catch = _catch(ahead - timedelta(minutes=2))
    assert api.push(e.entry("fish_observation", "upsert", catch, when=ahead))["rejected"] == []
    stamps = FishObservation.objects.get(uid=catch["observation_uid"]).field_versions
    assert max(stamp[0] for stamp in stamps.values()) <= format_timestamp(timezone.now() + _skew())


def test_a_time_typed_ahead_on_a_boat_whose_clock_is_behind_is_refused(api: Api) -> None:
    """Its clock behind the hub time it saw, a boat takes a typed time up to 90 days past
    that (``CLOCK_BEHIND_SLACK``): neither clock vouches for one still ahead of the hub's."""
    now = timezone.now()
    typed = _catch(now + timedelta(days=30))
    result = api.push(e.entry("fish_observation", "upsert", typed, when=now - timedelta(days=400)))
    assert [r["retryable"] for r in result["rejected"]] == [False]
    assert not _stored(typed)


def test_an_authors_edit_to_a_future_time_is_refused_and_the_catch_kept(api: Api) -> None:
    now = timezone.now()
    catch = _catch(now - timedelta(hours=1))
    api.push(e.entry("fish_observation", "upsert", catch, when=now - timedelta(minutes=50)))
    edit = catch | {"observed_at": FAR_AHEAD, "notes": "moved"}
    result = api.push(e.entry("fish_observation", "upsert", edit, when=now))
    assert [r["retryable"] for r in result["rejected"]] == [False]
    stored = FishObservation.objects.get(uid=catch["observation_uid"])
    assert (format_timestamp(stored.observed_at), stored.notes) == (catch["observed_at"], "")


def test_a_catch_stored_with_a_future_time_before_this_check_still_takes_reviews(
    api: Api,
) -> None:
    """An earlier hub took such a time: the author's review and another device's, which
    send the catch as they hold it, are not refused for a time the hub already holds."""
    now = timezone.now()
    catch = _catch(now)
    api.push(e.entry("fish_observation", "upsert", catch, when=now))
    FishObservation.objects.filter(uid=catch["observation_uid"]).update(
        observed_at=datetime.fromisoformat(FAR_AHEAD)
    )
    held = catch | {"observed_at": FAR_AHEAD}
    other = Api.register_new(api.site, "other-boat")
    for minute, (device, officer) in enumerate(((api, "officer-7"), (other, "officer-h")), 1):
        reviewed_at = now + timedelta(minutes=minute)
        review = {"reviewed_by": officer, "reviewed_at": format_timestamp(reviewed_at)}
        reviewed = held | review | {"confirmed_species": "Lutjanus synagris", "needs_review": False}
        result = device.push(e.entry("fish_observation", "upsert", reviewed, when=reviewed_at))
        assert result["rejected"] == []
        assert FishObservation.objects.get(uid=catch["observation_uid"]).reviewed_by == officer
