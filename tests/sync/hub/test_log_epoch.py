"""The hub's safety net for a rewound change log (``sync.hub.log_epoch``): a pull from past
the site's log, or from a cursor where the hub holds another change than the device applied,
renews the site's epoch once, and a device cannot have it renewed at will."""

from __future__ import annotations

from typing import Any

from sync.protocol import (
    LOG_EPOCH_HEADER,
    LOG_TIP_HEADER,
    NO_LOG_EPOCH,
    PROTOCOL_VERSION,
    change_fingerprint,
)
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def _pull(api: Api, cursor: int, known: str, tip: str | None = None) -> Any:
    headers = {**api.auth(), LOG_EPOCH_HEADER: known}
    if tip is not None:
        headers[LOG_TIP_HEADER] = tip
    params = {"cursor": cursor, "protocol_version": PROTOCOL_VERSION}
    return api.get(api.site_path("changes"), params, headers=headers)


def _epoch(api: Api, known: str = NO_LOG_EPOCH, cursor: int = 0, tip: str | None = None) -> str:
    response = _pull(api, cursor, known, tip)
    assert response.status_code == 200, response.content
    return str(response.json()["log_epoch"])


def test_a_pull_from_past_the_log_renews_the_sites_epoch_once(api: Api) -> None:
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    assert _epoch(api, epoch, cursor=1) == epoch  # at the log's end: nothing rewound
    renewed = _epoch(api, epoch, cursor=50)
    assert renewed != epoch
    assert _epoch(api, epoch, cursor=50) == renewed  # knows the old one: starts again anyway
    assert _epoch(api, renewed, cursor=99) == renewed  # not again within the hour
    assert _epoch(api, NO_LOG_EPOCH, cursor=99) == renewed
    assert "log_epoch" not in api.pull(cursor=99)  # a release before epochs is not told


def test_a_log_epoch_that_is_not_a_uuid_is_refused(api: Api) -> None:
    response = _pull(api, 0, "yesterday")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_header"


def _tip(site: str, cursor: int) -> str:
    """The fingerprint of the change at ``cursor``, as a device that pulled it holds it."""
    from sync.hub.models import Change

    row = Change.objects.get(site__slug=site, cursor=cursor)
    return change_fingerprint(cursor, row.entity, row.entity_uid, row.operation, row.changed_at)


def test_a_pull_from_where_the_hub_holds_another_change_renews_the_epoch(api: Api) -> None:
    """A log that grew back past the device (a restore, then pushes) holds another change at
    its cursor; a change erased since (its row deleted) is no evidence of a rewind."""
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    person = e.person(api.site)
    api.push(e.entry("person", "upsert", person))
    epoch = _epoch(api)
    first, held = _tip(api.site, 1), _tip(api.site, 2)
    assert _epoch(api, epoch, cursor=2, tip=held) == epoch  # the change it applied
    api.push(e.entry("person", "tombstone", e.tombstone(person["person_uid"])))
    from sync.hub.models import Change

    assert not Change.objects.filter(site__slug=api.site, cursor=2).exists()
    assert _epoch(api, epoch, cursor=2, tip=held) == epoch  # erased: no change there now
    renewed = _epoch(api, epoch, cursor=1, tip=held)  # another change at its cursor
    assert renewed != epoch
    assert _epoch(api, renewed, cursor=1, tip=held) == renewed  # not again within the hour
    assert _epoch(api, renewed, cursor=1, tip=first) == renewed


def test_a_change_erased_at_the_cursor_is_told_from_another_one_the_device_applied(
    api: Api,
) -> None:
    """An erasure deletes the person's changes but keeps each one's fingerprint: a device
    that applied another change at that cursor (one a restore lost, the cursor handed out
    again and erased since) is evidence of a rewind; one that applied the erased change is
    not, nor is a cursor erased by a release that kept no fingerprint."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from sync.hub.models import Change, ErasedChange, Site

    api.push(e.entry("fish_observation", "upsert", e.observation()))
    person = e.person(api.site)
    api.push(e.entry("person", "upsert", person))
    epoch = _epoch(api)
    held = _tip(api.site, 2)
    api.push(e.entry("person", "tombstone", e.tombstone(person["person_uid"])))
    assert not Change.objects.filter(site__slug=api.site, cursor=2).exists()
    assert _epoch(api, epoch, cursor=2, tip=held) == epoch  # the change it applied, erased
    site = Site.objects.get(slug=api.site)
    ErasedChange.objects.filter(site=site, cursor=2).update(fingerprint="")
    lost = change_fingerprint(2, "fish_observation", uuid4(), "upsert", datetime.now(UTC))
    assert _epoch(api, epoch, cursor=2, tip=lost) == epoch  # erased before they were kept
    ErasedChange.objects.filter(site=site, cursor=2).update(fingerprint=held)
    assert _epoch(api, epoch, cursor=2, tip=lost) != epoch  # another change was there


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
    held = _tip(api.site, 1)
    Change.objects.filter(site__slug=api.site, cursor=1).delete()  # as the old release erased

    assert _epoch(api, epoch, cursor=1, tip=held) == epoch


def test_a_log_tip_that_is_not_a_digest_is_refused(api: Api) -> None:
    response = _pull(api, 1, NO_LOG_EPOCH, "not a digest")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_header"
