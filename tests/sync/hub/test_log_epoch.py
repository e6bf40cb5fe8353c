"""The hub's safety net for a rewound change log (``sync.hub.log_epoch``): a pull from past
the site's log, or from a cursor where the hub holds another change than the device applied,
renews the site's epoch once, but only on a tip the hub sealed itself (``LOG_SEAL_HEADER``):
a device's word alone (any token's made-up cursor or fingerprint) renews nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sync.protocol import (
    LOG_EPOCH_HEADER,
    LOG_SEAL_HEADER,
    LOG_TIP_HEADER,
    NO_LOG_EPOCH,
    PROTOCOL_VERSION,
    change_fingerprint,
)
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def _pull(
    api: Api, cursor: int, known: str, tip: str | None = None, seal: str | None = None
) -> Any:
    headers = {**api.auth(), LOG_EPOCH_HEADER: known}
    if tip is not None:
        headers[LOG_TIP_HEADER] = tip
    if seal is not None:
        headers[LOG_SEAL_HEADER] = seal
    params = {"cursor": cursor, "protocol_version": PROTOCOL_VERSION}
    return api.get(api.site_path("changes"), params, headers=headers)


def _epoch(
    api: Api,
    known: str = NO_LOG_EPOCH,
    cursor: int = 0,
    tip: str | None = None,
    seal: str | None = None,
) -> str:
    response = _pull(api, cursor, known, tip, seal)
    assert response.status_code == 200, response.content
    return str(response.json()["log_epoch"])


def _tip(site: str, cursor: int) -> str:
    """The fingerprint of the change at ``cursor``, as a device that pulled it holds it."""
    from sync.hub.models import Change

    row = Change.objects.get(site__slug=site, cursor=cursor)
    return change_fingerprint(cursor, row.entity, row.entity_uid, row.operation, row.changed_at)


def _sealed(api: Api, known: str, cursor: int) -> tuple[str, str]:
    """The tip at ``cursor`` and the hub's seal of it, as a device keeps them from a pull
    whose last change is there."""
    response = _pull(api, cursor - 1, known)
    assert response.status_code == 200, response.content
    assert response.json()["changes"][0]["cursor"] == cursor
    return _tip(api.site, cursor), str(response.headers[LOG_SEAL_HEADER])


def _rewind(site: str, to: int) -> None:
    """What a restore of a backup taken at cursor ``to`` leaves of the site's log."""
    from sync.hub.models import Change, Site

    Change.objects.filter(site__slug=site, cursor__gt=to).delete()
    Site.objects.filter(slug=site).update(last_cursor=to)


def _renewed_at(site: str) -> object:
    from sync.hub.models import Site

    return Site.objects.get(slug=site).log_epoch_renewed_at


def test_a_sealed_pull_from_past_the_log_renews_the_sites_epoch_once(api: Api) -> None:
    for _ in range(3):
        api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    tip, seal = _sealed(api, epoch, 2)
    assert _epoch(api, epoch, 2, tip, seal) == epoch  # in the log: nothing rewound
    last, last_seal = _sealed(api, epoch, 3)
    _rewind(api.site, 1)
    renewed = _epoch(api, epoch, 3, last, last_seal)
    assert renewed != epoch
    assert _epoch(api, epoch, 3, last, last_seal) == renewed  # knows the old one: starts again
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    again, again_seal = _sealed(api, renewed, 2)
    _rewind(api.site, 1)
    assert _epoch(api, renewed, 2, again, again_seal) == renewed  # not again within the hour
    assert "log_epoch" not in api.pull(cursor=99)  # a release before epochs is not told


def test_a_forged_cursor_past_the_log_renews_nothing(api: Api) -> None:
    """Any device token may send any cursor: past the log, with or without a made-up tip,
    it is no evidence (review round 4: every device of the site pushed again all it held)."""
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    made_up = "ab" * 16

    assert _epoch(api, epoch, cursor=50) == epoch
    assert _epoch(api, NO_LOG_EPOCH, cursor=50) == epoch
    assert _epoch(api, epoch, 50, made_up) == epoch
    assert "log_epoch" not in api.pull(cursor=50)  # nor a release before epochs
    assert _renewed_at(api.site) is None


def test_a_forged_tip_renews_nothing_and_a_bad_seal_is_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """A made-up fingerprint at a cursor the log holds, unsealed or with a seal the hub did
    not make, is answered as any pull (no 400: a device whose hub's key changed is not
    locked out), the bad seal logged."""
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    made_up = "cd" * 16

    assert _epoch(api, epoch, 1, made_up) == epoch
    with caplog.at_level(logging.WARNING, logger="sync.hub.log_epoch"):
        assert _epoch(api, epoch, 1, made_up, "ef" * 32) == epoch
    assert "seal" in caplog.text
    assert _renewed_at(api.site) is None


def test_a_seal_of_another_site_or_epoch_is_no_evidence(api: Api, other_api: Api) -> None:
    from sync.hub.log_epoch import renew_log_epochs
    from sync.hub.models import Site

    other_api.push(e.entry("fish_observation", "upsert", e.observation()))
    elsewhere, elsewhere_seal = _sealed(other_api, _epoch(other_api), 1)
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    assert _epoch(api, epoch, 1, elsewhere, elsewhere_seal) == epoch  # another change at 1
    tip, seal = _sealed(api, epoch, 1)
    _rewind(api.site, 0)
    renewed = renew_log_epochs().renewed[api.site]
    Site.objects.filter(slug=api.site).update(log_epoch_renewed_at=None)  # no cap in the way

    assert _epoch(api, str(renewed), 1, tip, seal) == str(renewed)  # sealed in the old epoch
    assert _renewed_at(api.site) is None


def test_a_pull_from_where_the_hub_holds_another_change_renews_the_epoch(api: Api) -> None:
    """A log that grew back past the device (a restore, then pushes) holds another change at
    its cursor; a change erased since (its row deleted) is no evidence of a rewind."""
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    person = e.person(api.site)
    api.push(e.entry("person", "upsert", person))
    epoch = _epoch(api)
    held, seal = _sealed(api, epoch, 2)
    assert _epoch(api, epoch, 2, held, seal) == epoch  # the change it applied
    api.push(e.entry("person", "tombstone", e.tombstone(person["person_uid"])))
    from sync.hub.models import Change

    assert not Change.objects.filter(site__slug=api.site, cursor=2).exists()
    assert _epoch(api, epoch, 2, held, seal) == epoch  # erased: no change there now
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    lost, lost_seal = _sealed(api, epoch, 4)
    _rewind(api.site, 3)
    api.push(e.entry("fish_observation", "upsert", e.observation()))  # takes 4 again
    renewed = _epoch(api, epoch, 4, lost, lost_seal)  # another change at its cursor
    assert renewed != epoch
    assert _epoch(api, renewed, 4, lost, lost_seal) == renewed  # its seal: the old epoch


def test_a_change_erased_at_the_cursor_is_told_from_another_one_the_device_applied(
    api: Api,
) -> None:
    """An erasure deletes the person's changes but keeps each one's fingerprint: a device
    that applied another change at that cursor (one a restore lost, the cursor handed out
    again and erased since) is evidence of a rewind; one that applied the erased change is
    not, nor is a cursor erased by a release that kept no fingerprint."""
    from sync.hub.models import ErasedChange, Site

    api.push(e.entry("fish_observation", "upsert", e.observation()))
    person = e.person(api.site)
    api.push(e.entry("person", "upsert", person))
    epoch = _epoch(api)
    held, seal = _sealed(api, epoch, 2)
    api.push(e.entry("person", "tombstone", e.tombstone(person["person_uid"])))
    assert _epoch(api, epoch, 2, held, seal) == epoch  # the change it applied, erased
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    lost, lost_seal = _sealed(api, epoch, 4)
    _rewind(api.site, 3)
    other = e.person(api.site)
    api.push(e.entry("person", "upsert", other))  # takes 4 again
    api.push(e.entry("person", "tombstone", e.tombstone(other["person_uid"])))
    site = Site.objects.get(slug=api.site)
    erased_there = ErasedChange.objects.get(site=site, cursor=4).fingerprint
    ErasedChange.objects.filter(site=site, cursor=4).update(fingerprint="")
    assert _epoch(api, epoch, 4, lost, lost_seal) == epoch  # erased before they were kept
    ErasedChange.objects.filter(site=site, cursor=4).update(fingerprint=erased_there)
    assert _epoch(api, epoch, 4, lost, lost_seal) != epoch  # another change was there


def test_a_change_row_gone_with_no_erasure_named_there_is_no_evidence(api: Api) -> None:
    """Only an erasure deletes a change, and this release's name each one it deletes: a gap
    named by none was left by an erasure of the release before, run by its `jaga hub run`
    still serving once another command had applied migration 0026 (an upgrade's first
    minutes). Taken as evidence, it renewed the site: every device pushing all it holds
    again (final review)."""
    from sync.hub.models import Change

    api.push(e.entry("person", "upsert", e.person(api.site)))
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    held, seal = _sealed(api, epoch, 1)
    Change.objects.filter(site__slug=api.site, cursor=1).delete()  # as the old release erased

    assert _epoch(api, epoch, 1, held, seal) == epoch


def test_a_log_epoch_that_is_not_a_uuid_is_refused(api: Api) -> None:
    response = _pull(api, 0, "yesterday")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_header"


def test_a_log_tip_that_is_not_a_digest_is_refused(api: Api) -> None:
    response = _pull(api, 1, NO_LOG_EPOCH, "not a digest")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_header"


def test_a_log_seal_that_is_not_a_digest_is_refused(api: Api) -> None:
    response = _pull(api, 1, NO_LOG_EPOCH, "ab" * 16, "not a digest")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_header"


def _quiet_seal(api: Api, known: str, cursor: int, tip: str | None, seal: str | None = None) -> Any:
    """The seal of an answer that brings nothing (the site quiet since ``cursor``), if any."""
    response = _pull(api, cursor, known, tip, seal)
    assert response.status_code == 200, response.content
    assert response.json()["changes"] == []
    return response.headers.get(LOG_SEAL_HEADER)


def test_an_answer_with_no_changes_seals_the_tip_the_hub_holds_at_the_cursor(api: Api) -> None:
    """A device that kept no seal of its tip (it pulled it from the hub before seals) or a
    seal the hub no longer takes (its key changed) learns one on a quiet site's pull, which
    brings no change to seal: the hub seals the tip it holds there (or erased, by its kept
    fingerprint), never one it does not (review s18b: such a device never learned a seal, and
    the restore after it was missed)."""
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    person = e.person(api.site)
    api.push(e.entry("person", "upsert", person))
    epoch = _epoch(api)
    held, sealed = _sealed(api, epoch, 2)

    assert _quiet_seal(api, epoch, 2, held) == sealed  # unsealed: the same seal
    assert _quiet_seal(api, epoch, 2, held, "ef" * 32) == sealed  # a seal of an old key
    assert _quiet_seal(api, NO_LOG_EPOCH, 2, held) == sealed  # the epoch it is answered
    assert _quiet_seal(api, epoch, 2, "cd" * 16) is None  # not the change the hub holds
    assert _quiet_seal(api, epoch, 2, None) is None
    assert _quiet_seal(api, epoch, 9, held) is None  # past the log: nothing there
    api.push(e.entry("person", "tombstone", e.tombstone(person["person_uid"])))
    assert _quiet_seal(api, epoch, 3, _tip(api.site, 3)) is not None  # the erasure's change
    _rewind(api.site, 2)  # stands for a log whose last change was erased (nothing after)
    assert _quiet_seal(api, epoch, 2, held) == sealed  # by the fingerprint kept of it
    assert _quiet_seal(api, epoch, 2, "cd" * 16) is None
    assert _renewed_at(api.site) is None


def test_a_bad_seal_is_logged_once_per_device_in_an_interval(
    api: Api, other_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Any device token can send a made-up seal with every pull: logged once per device per
    interval (``BAD_SEAL_LOG_INTERVAL``, in each hub process), not a warning per request."""
    for each in (api, other_api):
        each.push(e.entry("fish_observation", "upsert", e.observation()))
    made_up = "ef" * 32
    with caplog.at_level(logging.WARNING, logger="sync.hub.log_epoch"):
        for each in (api, other_api, api, other_api, api):
            epoch = _epoch(each)
            held, _ = _sealed(each, epoch, 1)
            assert _epoch(each, epoch, 1, held, made_up) == epoch
    bad = [r for r in caplog.records if "seal this hub did not make" in r.getMessage()]
    assert len(bad) == 2  # one for each device


def test_a_bad_seal_is_logged_once_per_device_for_every_worker_of_the_hub(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Each gunicorn worker kept its own note of when it logged a device's bad seal: the
    same device's was logged once an hour by each (review s18). The note is in the hub's
    cache, which every worker shares with ``REDIS_URL`` (here one process's local memory
    stands for it): a worker that has no note of its own finds the other's."""
    from sync.hub import log_epoch

    api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    held, _ = _sealed(api, epoch, 1)
    with caplog.at_level(logging.WARNING, logger="sync.hub.log_epoch"):
        assert _epoch(api, epoch, 1, held, "ef" * 32) == epoch
        log_epoch._bad_seal_logged.clear()  # another worker's memory: nothing noted in it
        assert _epoch(api, epoch, 1, held, "ef" * 32) == epoch
    bad = [r for r in caplog.records if "seal this hub did not make" in r.getMessage()]
    assert len(bad) == 1


def _renew_by_itself(api: Api) -> str:
    """The hub's own renewal of the site's epoch: a device's sealed tip past its log."""
    for _ in range(2):
        api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    tip, seal = _sealed(api, epoch, 2)
    _rewind(api.site, 1)
    renewed = _epoch(api, epoch, 2, tip, seal)
    assert renewed != epoch
    return renewed


def test_the_command_told_when_the_hub_was_restored_keeps_the_sites_renewed_since(
    api: Api, other_api: Api
) -> None:
    """Run after the hub has served since the restore, the command renewed a site the hub
    had renewed by itself a second time: every device of it pushed all again and pulled
    from 0 again (review s18). Told when the database was restored, it keeps the epoch of a
    site renewed since, still vouching for the restore (the audit's pruned gaps); one the
    hub renewed before it (the renewal was in the backup) is renewed."""
    from django.utils import timezone

    from sync.hub.log_epoch import renew_log_epochs
    from sync.hub.models import Site

    _renew_by_itself(other_api)  # before the restore: the backup holds it
    restored = timezone.now()
    renewed = _renew_by_itself(api)
    by_hub = _renewed_at(api.site)

    result = renew_log_epochs(restored_at=restored)

    assert result.kept.get(api.site) == by_hub and api.site not in result.renewed
    assert other_api.site in result.renewed and other_api.site not in result.kept
    assert _epoch(api) == renewed and _renewed_at(api.site) == by_hub
    assert Site.objects.get(slug=api.site).log_epoch_restored_at is not None
    assert not renew_log_epochs().renewed  # renewed for this restore already
    assert api.site in renew_log_epochs(again=True).renewed  # every site, as before


def test_a_renewal_by_the_command_is_never_kept_only_one_the_hub_made_by_itself(
    api: Api, other_api: Api
) -> None:
    """The command kept any site renewed since ``restored_at``, its own renewals too: a
    restore time too early (a day, read from its start, or a local time read as UTC) kept a
    renewal the backup held, and the decisions pushed after the backup were lost for good
    (review s19b). A renewal by the command is no evidence of a rewind since the restore:
    only the hub's own is (a sealed tip past its log), so only that is kept."""
    from datetime import timedelta

    from django.utils import timezone

    from sync.hub.log_epoch import renew_log_epochs
    from sync.hub.models import Site

    early = timezone.now() - timedelta(hours=1)
    by_command = renew_log_epochs().renewed[other_api.site]  # the backup holds it
    earlier = timezone.now() - timedelta(hours=2)  # the command renewed api's site long ago
    Site.objects.filter(slug=api.site).update(
        log_epoch_renewed_at=earlier, log_epoch_restored_at=earlier
    )
    renewed = _renew_by_itself(api)

    result = renew_log_epochs(restored_at=early)

    assert other_api.site in result.renewed and other_api.site not in result.kept
    assert _epoch(other_api) != str(by_command)
    assert api.site in result.kept and _epoch(api) == renewed
