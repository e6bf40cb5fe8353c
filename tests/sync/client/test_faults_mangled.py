"""Requests damaged on the way to a real hub (bytes of the body overwritten, the length kept):
a push batch and a photo chunk. Damage on the link is no verdict on the records: nothing is
quarantined for it, and the next clean request settles everything, each record once.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sync.client import HubUnavailableError
from sync.client.failed_uploads import count_failed_uploads
from sync.client.uploads import DAMAGED_CHUNKS_RESENT
from sync.store import OutboxState
from sync.store.photos import load_photo
from tests.sync.client import faults
from tests.sync.client.devices import (
    add_observations,
    add_photo_observation,
    new_device,
    sync_until_drained,
)
from tests.sync.client.faultproxy import Action, FaultProxy, Rule
from tests.sync.client.hubcheck import drained, hub_photo_sha256, hub_tally

DAMAGED_IN_A_ROW = 6  # enough for halving a batch of 20 down to one entry


def test_a_push_damaged_on_the_way_quarantines_nothing(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, proxy.url, site_slug)
    proxy.add(Rule(Action.MANGLE_REQUEST, "/push", times=DAMAGED_IN_A_ROW, after_bytes=300))
    with device.open() as store, httpx.Client() as http:
        add_observations(store, 20, "damaged")
        sync_until_drained(device.client(store, http))
        quarantined = store.outbox.counts()[OutboxState.REJECTED]
        assert quarantined == 0, f"{quarantined} entries quarantined for a damaged link"
        assert drained(store)
        tally = hub_tally(site_slug, [store])
    faults.record("push body damaged on the way, six times in a row", tally)
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
    assert proxy.applied[Action.MANGLE_REQUEST.value] == DAMAGED_IN_A_ROW


def test_a_chunk_damaged_on_the_way_is_sent_again_and_the_photo_arrives_whole(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, proxy.url, site_slug)
    proxy.add(
        Rule(Action.PASS, "PUT", times=1), Rule(Action.MANGLE_REQUEST, "PUT", after_bytes=999)
    )
    with device.open() as store, httpx.Client() as http:
        photo = add_photo_observation(store, 300_000, seed=11, tag="damaged chunk")
        report = device.client(store, http).sync_once()  # the sync it happened in: no failure
        assert (report.uploads.completed, report.uploads.failed) == (1, 0)
        assert hub_photo_sha256(photo) == load_photo(store.database, photo).sha256
    assert proxy.applied[Action.MANGLE_REQUEST.value] == 1


def test_chunks_damaged_every_time_are_an_outage_not_a_failed_photo(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, proxy.url, site_slug)
    proxy.add(Rule(Action.MANGLE_REQUEST, "PUT", times=None, after_bytes=5))
    with device.open() as store, httpx.Client() as http:
        photo = add_photo_observation(store, 100_000, seed=12, tag="a corrupting link")
        client = device.client(store, http)
        with pytest.raises(HubUnavailableError, match="damaged"):
            client.sync_once()
        assert proxy.applied[Action.MANGLE_REQUEST.value] == DAMAGED_CHUNKS_RESENT + 1
        assert count_failed_uploads(store) == 0  # nothing held against the photo
        proxy.clear()
        assert client.sync_once().uploads.completed == 1
        assert hub_photo_sha256(photo) == load_photo(store.database, photo).sha256


def test_an_upload_start_damaged_on_the_way_fails_no_photo(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """The start of an upload is JSON too: damaged, it read as ``invalid_body``, one of the
    refusals that mark a photo failed for good (its bytes then wait for an operator)."""
    device = new_device(tmp_path, proxy.url, site_slug)
    proxy.add(Rule(Action.MANGLE_REQUEST, "/uploads HTTP", after_bytes=30))
    with device.open() as store, httpx.Client() as http:
        photo = add_photo_observation(store, 70_000, seed=13, tag="damaged start")
        client = device.client(store, http)
        with pytest.raises(HubUnavailableError, match="damaged"):
            client.sync_once()
        assert count_failed_uploads(store) == 0
        assert client.sync_once().uploads.completed == 1
        assert hub_photo_sha256(photo) == load_photo(store.database, photo).sha256
    assert proxy.applied[Action.MANGLE_REQUEST.value] == 1


def test_a_push_the_hub_got_only_part_of_is_an_outage_not_a_refusal(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """A middlebox that lost the rest of the body and still relays the hub's answer: the
    hub reads the part as the whole, which its sha256 tells apart from records it refuses."""
    device = new_device(tmp_path, proxy.url, site_slug)
    proxy.add(Rule(Action.CUT_BODY, "/push", after_bytes=700))
    with device.open() as store, httpx.Client() as http:
        add_observations(store, 20, "cut")
        client = device.client(store, http)
        with pytest.raises(HubUnavailableError, match="damaged"):
            client.sync_once()
        assert client.sync_once().push.acknowledged == 20
        tally = hub_tally(site_slug, [store])
    assert (tally.lost, tally.duplicated) == (0, 0), tally.detail
