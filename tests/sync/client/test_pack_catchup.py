"""A device that catches up a long change log over several syncs (a new device of an
established site, a device registered again to another site, one whose site's log grows
faster than it pulls) installs only the newest pack, once, at its first sync: the pack the
pull's answer names on every page; a site whose log never announced the newest pack (a hub
that created it while that pack was being published) still gets it, and a device moved to
it keeps it.

Real parts: a ``jaga hub run`` process on embedded PostgreSQL (``live_hub``), in-process
Django on the same database, real SQLCipher stores, real HTTP. One-page syncs stand in for a
log longer than a sync's page limit (200 pages of 500 changes by default).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from sync.client.client import SyncClient
from sync.client.state import save_registration
from sync.client.status import read_status
from sync.hub.models import Change
from sync.hub.review import publish_pack_archive
from sync.protocol import PACK_SCHEMA_HEADER
from sync.store import Store
from tests.sync.client.devices import FAST_TUNING, Device, add_observations, new_device, register
from tests.sync.hub.hubkit import HubProcess
from tests.sync.hub.test_pack_schema import pack_of_schema

pytestmark = pytest.mark.usefixtures("species_packs_removed")

ONE_PAGE = replace(FAST_TUNING, pull_limit=1, max_pages_per_sync=1)


def _publish(tmp_path: Path, *versions: str) -> None:
    for i, version in enumerate(versions):
        publish_pack_archive(version, pack_of_schema(tmp_path / version, 1, seed=10 + i))


def _one_page_syncs(client: SyncClient, n: int) -> list[str | None]:
    """The pack each of ``n`` one-page syncs installed (None: none)."""
    return [getattr(client.sync_once().new_species_pack, "name", None) for _ in range(n)]


def _kept(store: Store) -> tuple[str | None, str | None]:
    status = read_status(store, {}).species_pack
    return status.announced, status.installed


def test_a_new_device_catching_up_a_long_log_installs_only_the_newest_pack(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    new_device(tmp_path, live_hub.url, site_slug, "kiosk-0")  # the site, before the packs
    versions = [f"h{i}.{site_slug}" for i in range(1, 4)]
    _publish(tmp_path, *versions)
    late = new_device(tmp_path, live_hub.url, site_slug, "boat-late")
    with late.open() as store, httpx.Client() as http:
        client = late.client(store, http, tuning=ONE_PAGE)
        assert _one_page_syncs(client, 4) == [versions[2], None, None, None]
        assert _kept(store) == (versions[2], versions[2])
        assert sorted(p.name for p in client.packs_dir.iterdir()) == [versions[2]]


def test_a_device_registered_to_another_site_never_goes_back_to_an_older_pack(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    other = f"{site_slug}-b"
    new_device(tmp_path, live_hub.url, other, "kiosk-b")  # site B, before the packs
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-a")
    first, second = f"g1.{site_slug}", f"g2.{site_slug}"
    _publish(tmp_path, first, second)
    with boat.open() as store, httpx.Client() as http:
        client = boat.client(store, http)
        assert client.sync_once().new_species_pack == client.packs_dir / second  # site A
        registration = register(live_hub.url, other, "boat-a-moved")
        save_registration(store.database, registration, store.clock.now(), send_face_images=False)
        add_observations(store, 1, "moved")
        moved = Device(boat.path, registration).client(store, http, tuning=ONE_PAGE)
        assert _one_page_syncs(moved, 4) == [None, None, None, None]  # g1, g2, its catch
        assert _kept(store) == (second, second)


def test_a_site_whose_log_missed_the_newest_pack_gets_it_from_the_answer(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A hub that created a site while a pack was being published (before it serialised
    the two) announced the pack before to it: the pull's answer names the newest, which
    the device installs."""
    first, second = f"r1.{site_slug}", f"r2.{site_slug}"
    _publish(tmp_path, first)
    device = new_device(tmp_path, live_hub.url, site_slug, "boat-race")  # announces r1
    _publish(tmp_path, second)
    # As that hub left the new site's log: r2 never announced to it.
    Change.objects.filter(site__slug=site_slug, payload__version=second).delete()
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        installed = [client.sync_once().new_species_pack for _ in range(2)]
        assert installed == [client.packs_dir / second, None]
        assert _kept(store) == (second, second)


def test_a_device_moved_to_a_site_whose_log_missed_the_newest_pack_keeps_the_newest(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Site B's log never announced the newest pack (created while it was being published,
    on a hub before it serialised the two). A device that installed the newest pack at
    site A, then registered to B, keeps it: the answer names the newest on every page, and
    B's log announcing only the older one does not take the boat back to it."""
    other = f"{site_slug}-b"
    v1, v2 = f"o1.{site_slug}", f"o2.{site_slug}"
    _publish(tmp_path, v1)
    new_device(tmp_path, live_hub.url, other, "kiosk-b")  # site B: told of v1
    _publish(tmp_path, v2)
    Change.objects.filter(site__slug=other, payload__version=v2).delete()  # as that hub left it
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-a")  # site A: told of v2 only
    with boat.open() as store, httpx.Client() as http:
        client = boat.client(store, http)
        assert client.sync_once().new_species_pack == client.packs_dir / v2
        registration = register(live_hub.url, other, "boat-a-moved")
        save_registration(store.database, registration, store.clock.now(), send_face_images=False)
        moved = Device(boat.path, registration).client(store, http)
        reports = [moved.sync_once() for _ in range(3)]
        assert reports[0].pull.complete
        assert [r.new_species_pack for r in reports] == [None, None, None]
        assert _kept(store) == (v2, v2)


def test_a_device_whose_log_grows_faster_than_it_pulls_installs_the_newest_pack(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A site that adds more changes between syncs than one sync pulls (a busy site, a small
    page limit): the device's pull never reaches the end of the log, and it installs the
    pack the answer names all the same, at its first sync."""
    kiosk = new_device(tmp_path, live_hub.url, site_slug, "kiosk-busy")
    v1 = f"n1.{site_slug}"
    _publish(tmp_path, v1)
    late = new_device(tmp_path, live_hub.url, site_slug, "boat-late")
    two_pages = replace(FAST_TUNING, pull_limit=2, max_pages_per_sync=2)
    installed, complete = [], []
    with kiosk.open() as kstore, late.open() as store, httpx.Client() as http:
        kclient = kiosk.client(kstore, http)
        client = late.client(store, http, tuning=two_pages)
        for i in range(3):
            add_observations(kstore, 5, f"busy{i}")  # 5 changes a round; a sync pulls 4
            kclient.sync_once()
            report = client.sync_once()
            installed.append(getattr(report.new_species_pack, "name", None))
            complete.append(report.pull.complete)
        assert not any(complete)
        assert installed == [v1, None, None]
        assert _kept(store) == (v1, v1)


def _answerless(request: httpx.Request) -> None:
    """A hub from before the pack-schema header: it names no pack in its answers (without the
    header this hub answers as one), so the log's announcements alone say which pack."""
    request.headers.pop(PACK_SCHEMA_HEADER, None)


def test_with_a_hub_that_names_no_pack_a_device_catching_up_installs_only_the_last(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Each page's newest announcement was installed in turn: three downloads for one."""
    new_device(tmp_path, live_hub.url, site_slug, "kiosk-0")
    versions = [f"a{i}.{site_slug}" for i in range(1, 4)]
    _publish(tmp_path, *versions)
    late = new_device(tmp_path, live_hub.url, site_slug, "boat-late")
    with late.open() as store, httpx.Client(event_hooks={"request": [_answerless]}) as http:
        client = late.client(store, http, tuning=ONE_PAGE)
        installed = [name for name in _one_page_syncs(client, 6) if name]
        assert installed == [versions[2]]


def test_with_a_hub_that_names_no_pack_a_moved_device_never_goes_back(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Registered to a site whose log announces g1 then g2, a boat holding g2 installed g1
    over it, mid catch-up, then g2 again."""
    other = f"{site_slug}-b"
    g1, g2 = f"g1.{site_slug}", f"g2.{site_slug}"
    new_device(tmp_path, live_hub.url, other, "kiosk-b")
    _publish(tmp_path, g1, g2)
    boat = new_device(tmp_path, live_hub.url, site_slug, "boat-a")
    with boat.open() as store, httpx.Client(event_hooks={"request": [_answerless]}) as http:
        boat.client(store, http).sync_once()
        assert _kept(store) == (g2, g2)
        registration = register(live_hub.url, other, "boat-a-moved")
        save_registration(store.database, registration, store.clock.now(), send_face_images=False)
        moved = Device(boat.path, registration).client(store, http, tuning=ONE_PAGE)
        assert [name for name in _one_page_syncs(moved, 5) if name] == []
        assert _kept(store) == (g2, g2)
