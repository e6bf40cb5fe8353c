"""A device tells the hub the newest species pack schema it reads, and installs only such
packs: a real hub process and PostgreSQL, a real store. An earlier release's pull is this
client's without the header (what those releases sent), so the hub takes it for a device
that reads schema 1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from inference.fish.pack import MULTI_INPUT_PACK_SCHEMA, PACK_SCHEMA, SIZED_PACK_SCHEMA
from sync.client.status import read_status
from sync.hub.models import SpeciesPack
from sync.hub.review import publish_pack_archive
from sync.protocol import PACK_SCHEMA_HEADER
from sync.species_packs import READABLE_PACK_SCHEMA
from tests.sync.client.devices import add_observations, new_device
from tests.sync.hub.hubfixtures import any_pack_loads, loader_installed
from tests.sync.hub.hubkit import HubProcess
from tests.sync.hub.test_pack_schema import pack_of_schema

pytestmark = pytest.mark.usefixtures("species_packs_removed")


@pytest.fixture(autouse=True)
def device_pack_loader() -> Iterator[None]:
    """These packs claim a schema their 224 px model does not have (the hub reads no more
    than the number), which the devices' loader refuses: published here on purpose."""
    yield from loader_installed(any_pack_loads)


def test_the_schema_a_device_says_it_reads_is_the_newest_its_classifier_reads() -> None:
    assert max(PACK_SCHEMA, SIZED_PACK_SCHEMA, MULTI_INPUT_PACK_SCHEMA) == READABLE_PACK_SCHEMA


def _as_earlier_release(request: httpx.Request) -> None:
    request.headers.pop(PACK_SCHEMA_HEADER, None)  # the pulls of releases before it


def test_an_earlier_release_keeps_its_pack_and_learns_the_newer_one_once_upgraded(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    first, second = f"s1.{site_slug}", f"s2.{site_slug}"
    publish_pack_archive(first, pack_of_schema(tmp_path / first, 1, seed=1))
    with device.open() as store:
        with httpx.Client(event_hooks={"request": [_as_earlier_release]}) as http:
            client = device.client(store, http)
            assert client.sync_once().new_species_pack == client.packs_dir / first
            publish_pack_archive(second, pack_of_schema(tmp_path / second, 2, seed=2))
            add_observations(store, 1, "after-the-pack")  # the pull goes past its announcement
            report = client.sync_once()
            assert report.new_species_pack is None and report.species_pack_error is None
            status = read_status(store, {}).species_pack
            assert (status.announced, status.installed) == (first, first)
        with httpx.Client() as http:  # upgraded: this release says it reads schema 3
            client = device.client(store, http)
            assert client.sync_once().new_species_pack == client.packs_dir / second
        status = read_status(store, {}).species_pack
        assert (status.announced, status.installed) == (second, second)


def _published_a_day_ahead(version: str) -> None:
    """The hub's clock ran a day ahead when ``version`` was published, and was set right."""
    ahead = timezone.now() + timedelta(days=1)
    SpeciesPack.objects.filter(version=version).update(published_at=ahead)


def test_a_pack_published_while_the_hubs_clock_ran_ahead_gives_way_to_the_next(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    first, second = f"a1.{site_slug}", f"a2.{site_slug}"
    publish_pack_archive(first, pack_of_schema(tmp_path / first, 3, seed=1))
    _published_a_day_ahead(first)
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        assert client.sync_once().new_species_pack == client.packs_dir / first
        publish_pack_archive(second, pack_of_schema(tmp_path / second, 3, seed=2))
        assert client.sync_once().new_species_pack == client.packs_dir / second
        assert client.sync_once().new_species_pack is None
        status = read_status(store, {}).species_pack
        assert (status.announced, status.installed) == (second, second)


def test_an_upgraded_device_keeps_the_newest_pack_it_installed_before(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The newest pack is the one published last, whatever the hub's clock said: a device
    of an earlier release that installed it is not sent back to the one before."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    first, second = f"d1.{site_slug}", f"d2.{site_slug}"
    publish_pack_archive(first, pack_of_schema(tmp_path / first, 1, seed=1))
    _published_a_day_ahead(first)
    publish_pack_archive(second, pack_of_schema(tmp_path / second, 1, seed=2))
    with device.open() as store:
        with httpx.Client(event_hooks={"request": [_as_earlier_release]}) as http:
            client = device.client(store, http)
            assert client.sync_once().new_species_pack == client.packs_dir / second
        with httpx.Client() as http:  # upgraded: the hub's answer names the newest pack
            client = device.client(store, http)
            report = client.sync_once()
        assert report.new_species_pack is None and report.species_pack_error is None
        status = read_status(store, {}).species_pack
        assert (status.announced, status.installed) == (second, second)
