"""Species packs reach the device: the announced pack is downloaded, checked against its
announcement, unpacked safely; a bad download keeps the previous pack and is tried again.

The first tests run against the in-memory hub (a real encrypted store, scripted answers,
the store's fake clock moved by hand to step through the back-off of a failing pack); the
last ones against a real hub process and PostgreSQL, publishing a pack folder and comparing
what the device unpacked with it byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from sync.client import RequestTiming, SyncClient
from sync.client.packs import (
    ERROR_NAME,
    FAILURES_NAME,
    INSTALLED_NAME,
    PACKS_DIR_ENV,
    installed_species_packs,
    packs_dir_for,
    record_pack_in_use,
)
from sync.client.state import put_values, read_values
from sync.client.status import read_status
from sync.species_packs import archive_pack
from sync.store import Store
from sync.store.clock import format_timestamp
from sync.store.key_sources import PASSPHRASE_ENV
from tests.sync.client.devices import SkewedClock, add_observations, new_device
from tests.sync.client.fakehub import FakeHub, Fault
from tests.sync.client.faultproxy import Action, FaultProxy, Rule, page
from tests.sync.client.hubcheck import drained
from tests.sync.client.units import client_of, observations, states
from tests.sync.conftest import FakeClock
from tests.sync.hub.hubkit import REPO, HubProcess
from tests.sync.test_species_packs import file_digests, make_pack, zip_members

pytestmark = pytest.mark.usefixtures("species_packs_removed")

# The default species pack `jaga models install` builds (scripts/test.sh sets JAGA_MODELS_DIR).
REAL_PACK = Path(os.environ.get("JAGA_MODELS_DIR", REPO / ".cache" / "models")) / "fish-default"
PACK_FILE = "/species-packs/"


def announce(hub: FakeHub, version: str, data: bytes) -> None:
    payload = {
        "version": version,
        "sha256": hashlib.sha256(data).hexdigest(),
        "byte_size": len(data),
    }
    hub.add_change("species_pack", "publish", payload)


def serve(hub: FakeHub, data: bytes) -> None:
    """The hub's next species pack download answers with ``data`` (and its ETag, as every
    hub sends it)."""
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    hub.faults.append(Fault(PACK_FILE, body=data, headers={"ETag": etag}))


def folders(packs_dir: Path) -> list[str]:
    return sorted(path.name for path in packs_dir.iterdir())


def downloads(hub: FakeHub) -> int:
    return sum(PACK_FILE in line for line in hub.requests)


def test_an_announced_pack_is_downloaded_checked_and_unpacked_once(
    store: Store, tmp_path: Path
) -> None:
    pack = make_pack(tmp_path / "pack", seed=1)
    data = archive_pack(pack)
    hub = FakeHub()
    announce(hub, "v1", data)
    serve(hub, data)
    client = client_of(store, hub)
    report = client.sync_once()
    assert (
        report.new_species_pack == client.packs_dir / "v1" == store.path.parent / "species-packs/v1"
    )
    assert report.species_pack_error is None
    assert file_digests(report.new_species_pack) == file_digests(pack)
    assert installed_species_packs(store, client.packs_dir)[:1] == (report.new_species_pack,)
    again = client.sync_once()
    assert again.new_species_pack is None and again.species_pack_error is None
    assert sum(PACK_FILE in line for line in hub.requests) == 1  # not downloaded twice
    assert folders(client.packs_dir) == ["v1"]
    assert "installed the species pack" in report.summary()


BAD_ANSWERS: dict[str, Callable[[bytes], bytes]] = {
    "one byte changed": lambda good: good[:-100] + bytes([good[-100] ^ 1]) + good[-99:],
    "longer than announced": lambda good: good + b"extra",
    "shorter than announced": lambda good: good[:-1],
    "not the pack at all": lambda good: b"<html>captive portal</html>",
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_a_wrong_download_is_refused_and_the_installed_pack_stays(
    case: str, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    hub = FakeHub()
    first, second = make_pack(tmp_path / "one", seed=1), make_pack(tmp_path / "two", seed=2)
    announce(hub, "v1", archive_pack(first))
    serve(hub, archive_pack(first))
    client = client_of(store, hub)
    installed = client.sync_once().new_species_pack
    announce(hub, "v2", archive_pack(second))
    serve(hub, BAD_ANSWERS[case](archive_pack(second)))
    observations(store, 5)
    report = client.sync_once()
    assert report.push.acknowledged == 5 and states(store) == {"acknowledged": 5}  # records synced
    assert report.new_species_pack is None
    assert report.species_pack_error is not None and "v2 not installed" in report.species_pack_error
    assert installed_species_packs(store, client.packs_dir)[:1] == (installed,)
    assert installed is not None and file_digests(installed) == file_digests(first)
    assert folders(client.packs_dir) == ["v1"]  # no half-written v2, no download left over
    lines = read_status(store, {}).lines()
    assert "species pack announced v2, installed v1" in "\n".join(lines)
    assert any(line.startswith("pack error") for line in lines)
    serve(hub, archive_pack(second))  # tried again after a minute, and this time it is right
    clock.advance(seconds=60)
    retried = client.sync_once()
    assert retried.new_species_pack == client.packs_dir / "v2"
    assert file_digests(retried.new_species_pack) == file_digests(second)
    assert read_values(store.database)[ERROR_NAME] == ""


def test_a_refusal_or_a_dropped_link_is_reported_and_retried(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    data = archive_pack(make_pack(tmp_path / "pack"))
    hub = FakeHub()
    announce(hub, "v1", data)
    hub.faults.append(Fault(PACK_FILE, status=404, error="no_species_pack"))
    hub.faults.append(Fault(PACK_FILE, drop=True))
    client = client_of(store, hub)
    refused = client.sync_once()
    clock.advance(seconds=60)  # the first failure's wait
    dropped = client.sync_once()
    assert (
        refused.species_pack_error is not None and "no_species_pack" in refused.species_pack_error
    )
    assert dropped.species_pack_error is not None and "cannot reach" in dropped.species_pack_error
    assert installed_species_packs(store, client.packs_dir) == ()
    serve(hub, data)
    clock.advance(seconds=120)  # the second failure's wait
    assert client.sync_once().new_species_pack == client.packs_dir / "v1"


def held_download(client: SyncClient, data: bytes, version: str, held: bytes) -> Path:
    """What a download of ``version`` cut short by the link would have left."""
    client.packs_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    path = client.packs_dir / f".download-{version}-{digest[:16]}.zip"
    path.write_bytes(held)
    return path


def the_rest_from(data: bytes, start: int) -> Fault:
    """The hub's 206 answer: ``data`` from byte ``start`` on."""
    content_range = f"bytes {start}-{len(data) - 1}/{len(data)}"
    return Fault(
        PACK_FILE, body=data[start:], body_status=206, headers={"Content-Range": content_range}
    )


def test_a_hub_that_sends_the_whole_pack_to_a_resumed_download_is_written_from_the_start(
    store: Store, tmp_path: Path
) -> None:
    data = archive_pack(make_pack(tmp_path / "pack"))
    hub = FakeHub()
    announce(hub, "v1", data)
    serve(hub, data)  # a 200 with the pack's ETag: the bytes held are not the pack's own
    client = client_of(store, hub)
    held_download(client, data, "v1", b"x" * 100)
    assert client.sync_once().new_species_pack == client.packs_dir / "v1"
    assert folders(client.packs_dir) == ["v1"]


def test_a_resumed_download_that_does_not_add_up_is_dropped_and_fetched_whole(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    data = archive_pack(make_pack(tmp_path / "pack"))
    hub = FakeHub()
    announce(hub, "v1", data)
    hub.faults.append(the_rest_from(data, 100))
    client = client_of(store, hub)
    held = held_download(client, data, "v1", b"x" * 100)  # not the pack's first bytes
    report = client.sync_once()
    assert report.species_pack_error is not None and "not the announced" in (
        report.species_pack_error
    )
    assert not held.exists() and folders(client.packs_dir) == []
    serve(hub, data)
    clock.advance(seconds=60)
    assert client.sync_once().new_species_pack == client.packs_dir / "v1"


def test_a_resumed_answer_that_starts_elsewhere_is_refused(store: Store, tmp_path: Path) -> None:
    data = archive_pack(make_pack(tmp_path / "pack"))
    hub = FakeHub()
    announce(hub, "v1", data)
    hub.faults.append(the_rest_from(data, 50))
    client = client_of(store, hub)
    held = held_download(client, data, "v1", data[:100])
    report = client.sync_once()
    assert report.species_pack_error is not None and "not at byte 100" in report.species_pack_error
    assert held.read_bytes() == data[:100]  # not the hub's answer: what is held stays
    assert installed_species_packs(store, client.packs_dir) == ()


def test_an_oversize_answer_is_refused_before_its_body_is_read(
    store: Store, tmp_path: Path
) -> None:
    data = archive_pack(make_pack(tmp_path / "pack"))
    hub = FakeHub()
    announce(hub, "v1", data)
    serve(hub, data + bytes(10_000_000))
    timings: list[RequestTiming] = []
    client = SyncClient(store, hub.client(), client_of(store, hub).config, observer=timings.append)
    report = client.sync_once()
    assert report.species_pack_error is not None and "longer than" in report.species_pack_error
    assert [t.status for t in timings if t.operation == "species_pack"] == [200]


def test_an_archive_that_matches_its_checksum_but_escapes_its_folder_is_refused(
    store: Store, tmp_path: Path
) -> None:
    hostile = zip_members([("manifest.json", b"{}"), ("../../escaped.txt", b"owned")])
    hub = FakeHub()
    announce(hub, "v1", hostile)
    serve(hub, hostile)
    client = client_of(store, hub)
    report = client.sync_once()
    assert report.species_pack_error is not None and "unsafe name" in report.species_pack_error
    assert not list(tmp_path.rglob("escaped.txt"))
    assert folders(client.packs_dir) == []


def test_a_version_that_is_not_a_folder_name_is_refused_without_a_download(
    store: Store, tmp_path: Path
) -> None:
    hub = FakeHub()
    announce(hub, "../../etc", archive_pack(make_pack(tmp_path / "pack")))
    report = client_of(store, hub).sync_once()
    assert report.species_pack_error is not None and "version" in report.species_pack_error
    assert not any(PACK_FILE in line for line in hub.requests)


def test_the_pack_before_last_is_removed_and_leftovers_are_swept(
    store: Store, tmp_path: Path
) -> None:
    hub = FakeHub()
    client = client_of(store, hub)
    client.packs_dir.mkdir(parents=True)
    (client.packs_dir / ".download-cut.zip").write_bytes(b"half")
    (client.packs_dir / ".staging-v1-cut").mkdir()
    for number in (1, 2, 3):
        data = archive_pack(make_pack(tmp_path / f"p{number}", seed=number))
        announce(hub, f"v{number}", data)
        serve(hub, data)
        assert client.sync_once().new_species_pack == client.packs_dir / f"v{number}"
    # None noted in use (a device that only syncs): the newest and the one before it.
    assert folders(client.packs_dir) == ["v2", "v3"]
    # What the app tries at start-up, newest first (it falls back to v2 if v3 is refused).
    kept = installed_species_packs(store, client.packs_dir)
    assert kept == (client.packs_dir / "v3", client.packs_dir / "v2")


def test_the_pack_in_use_is_kept_beside_the_newest_until_another_is_in_use(
    store: Store, tmp_path: Path
) -> None:
    hub = FakeHub()
    client = client_of(store, hub)

    def install(number: int) -> None:
        data = archive_pack(make_pack(tmp_path / f"p{number}", seed=number))
        announce(hub, f"v{number}", data)
        serve(hub, data)
        assert client.sync_once().new_species_pack == client.packs_dir / f"v{number}"

    install(1)
    record_pack_in_use(store, client.packs_dir / "v1")  # the app verified and loaded it
    for number in (2, 3, 4):  # none of them is loaded (refused, or the app was not started)
        install(number)
        assert folders(client.packs_dir) == ["v1", f"v{number}"]
    assert installed_species_packs(store, client.packs_dir) == (
        client.packs_dir / "v4", client.packs_dir / "v1",
    )  # fmt: skip
    record_pack_in_use(store, client.packs_dir / "v4")
    install(5)
    assert folders(client.packs_dir) == ["v4", "v5"]  # v1 is no longer needed


def test_the_packs_folder_follows_the_environment(store: Store, tmp_path: Path) -> None:
    assert packs_dir_for(Path("/data/jaga.db"), {}) == Path("/data/species-packs")
    elsewhere = tmp_path / "packs"
    assert packs_dir_for(store.path, {PACKS_DIR_ENV: str(elsewhere)}) == elsewhere
    data = archive_pack(make_pack(tmp_path / "pack"))
    hub = FakeHub()
    announce(hub, "v1", data)
    serve(hub, data)
    config = client_of(store, hub).config
    client = SyncClient(store, hub.client(), config, packs_dir=elsewhere)
    assert client.sync_once().new_species_pack == elsewhere / "v1"
    assert installed_species_packs(store, elsewhere)[:1] == (elsewhere / "v1",)
    assert installed_species_packs(store, tmp_path / "nowhere") == ()  # folder gone: none


# --- a pack that keeps failing backs off ---------------------------------------------


def failures_kept(store: Store) -> dict[str, object]:
    text = read_values(store.database)[FAILURES_NAME]
    body: dict[str, object] = json.loads(text) if text else {}
    return body


def test_a_failed_pack_waits_its_delay_while_the_records_keep_syncing(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    data = archive_pack(make_pack(tmp_path / "pack"))
    hub = FakeHub()
    announce(hub, "v1", data)
    serve(hub, b"<html>captive portal</html>")
    client = client_of(store, hub)
    failed_at = clock.now()
    failed = client.sync_once().species_pack_error
    retry_at = format_timestamp(failed_at + timedelta(seconds=60))
    assert failed is not None and "is not the announced pack" in failed and retry_at in failed
    kept = failures_kept(store)
    assert str(kept.pop("error")) in failed
    assert kept == {
        "version": "v1",
        "sha256": hashlib.sha256(data).hexdigest(),
        "failures": 1,
        "last_failure_at": format_timestamp(failed_at),
    }
    serve(hub, data)  # what a download would get now; none must happen yet
    for seconds in (0, 30, 29):
        clock.advance(seconds=seconds)
        observations(store, 3, f"waiting-{seconds}")
        waiting = client.sync_once()
        assert waiting.push.acknowledged == 3  # records sync while the pack waits
        assert waiting.species_pack_error == failed  # the last error, and when it is retried
        assert downloads(hub) == 1
    assert read_values(store.database)[ERROR_NAME] == failed  # what `jaga sync status` shows
    clock.advance(seconds=1)  # a minute after the failure
    assert client.sync_once().new_species_pack == client.packs_dir / "v1"
    assert downloads(hub) == 2
    stored = read_values(store.database)
    assert (stored[FAILURES_NAME], stored[ERROR_NAME]) == ("", "")  # a success clears both


def test_the_wait_doubles_after_each_failure_up_to_six_hours(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    hub, client, _ = failing_pack(store, tmp_path)
    waits = [60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600]  # 6 h at most
    for failures, wait in enumerate(waits, start=1):
        serve(hub, b"wrong")
        clock.advance(seconds=wait - 1)
        early = client.sync_once().species_pack_error
        retry_at = clock.now() + timedelta(seconds=1)
        assert early is not None and f"failed {failures} time" in early
        assert format_timestamp(retry_at) in early
        assert downloads(hub) == failures  # a second early: not downloaded
        clock.advance(seconds=1)
        client.sync_once()
        assert downloads(hub) == failures + 1 and failures_kept(store)["failures"] == failures + 1


def test_a_new_announcement_is_tried_at_once_and_counts_afresh(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    packs = [archive_pack(make_pack(tmp_path / f"p{n}", seed=n)) for n in (1, 2, 3)]
    hub = FakeHub()
    announce(hub, "v1", packs[0])
    client = client_of(store, hub)
    for _ in range(3):  # three failures: the next try of this pack waits four minutes
        serve(hub, b"wrong")
        client.sync_once()
        clock.advance(seconds=120)
    assert failures_kept(store)["failures"] == 3 and downloads(hub) == 3
    announce(hub, "v1", packs[1])  # the same version rebuilt: another sha256
    serve(hub, b"wrong")
    rebuilt = client.sync_once().species_pack_error
    assert downloads(hub) == 4 and rebuilt is not None and "failed 1 time" in rebuilt
    announce(hub, "v2", packs[2])  # a new version, at the same moment
    serve(hub, packs[2])
    assert client.sync_once().new_species_pack == client.packs_dir / "v2"
    assert downloads(hub) == 5 and failures_kept(store) == {}


def failing_pack(store: Store, tmp_path: Path) -> tuple[FakeHub, SyncClient, bytes]:
    """A hub announcing pack v1 whose first download is wrong, and a client that tried it
    once; returns the pack's right bytes too."""
    data = archive_pack(make_pack(tmp_path / "pack"))
    hub = FakeHub()
    announce(hub, "v1", data)
    serve(hub, b"wrong")
    client = client_of(store, hub)
    client.sync_once()
    return hub, client, data


def test_an_explicit_request_tries_a_waiting_pack_at_once(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    hub, client, data = failing_pack(store, tmp_path)
    serve(hub, data)
    assert client.install_species_pack().error is not None and downloads(hub) == 1
    assert client.install_species_pack(force=True).installed == client.packs_dir / "v1"
    assert downloads(hub) == 2 and failures_kept(store) == {}


@pytest.mark.parametrize("damage", ["a file changed", "a file gone"])
def test_a_pack_damaged_on_disk_is_downloaded_again_when_someone_asks(
    damage: str, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """The card under the installed pack fails (the app refuses the pack): Retry / Sync now
    (``retry_pack``) checks its files against the pack's manifest and fetches the pack
    again; the pack kept to fall back on stays."""
    hub = FakeHub()
    client = client_of(store, hub)
    for version, seed in (("v1", 1), ("v2", 2)):
        data = archive_pack(make_pack(tmp_path / version, seed=seed))
        announce(hub, version, data)
        serve(hub, data)
        assert client.sync_once().new_species_pack == client.packs_dir / version
    model = client.packs_dir / "v2" / "species_fp32.onnx"
    if damage == "a file changed":
        model.write_bytes(b"garbage")
    else:
        model.unlink()
    serve(hub, data)
    report = client.sync_once(retry_pack=True)
    assert report.new_species_pack == client.packs_dir / "v2" and downloads(hub) == 3
    assert file_digests(client.packs_dir / "v2") == file_digests(tmp_path / "v2")
    assert installed_species_packs(store, client.packs_dir) == (
        client.packs_dir / "v2", client.packs_dir / "v1",
    )  # fmt: skip
    assert client.sync_once(retry_pack=True).new_species_pack is None  # whole: not again
    assert downloads(hub) == 3


def installed_twice(store: Store, hub: FakeHub, tmp_path: Path) -> tuple[SyncClient, bytes]:
    """A client that installed v1 then v2 (v2's archive returned), v2 noted in use."""
    client = client_of(store, hub)
    for version, seed in (("v1", 1), ("v2", 2)):
        data = archive_pack(make_pack(tmp_path / version, seed=seed))
        announce(hub, version, data)
        serve(hub, data)
        assert client.sync_once().new_species_pack == client.packs_dir / version
    record_pack_in_use(store, client.packs_dir / "v2")
    return client, data


def damage_pack(folder: Path, damage: str = "a file changed") -> None:
    model = folder / "species_fp32.onnx"
    if damage == "a file changed":
        model.write_bytes(b"garbage")
    else:
        model.unlink()


@pytest.mark.parametrize("damage", ["a file changed", "a file gone"])
def test_a_pack_damaged_on_disk_is_downloaded_again_by_the_next_sync(
    damage: str, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """A device on a boat syncs in the background and nobody asks: the sync finds the
    newest pack's files no longer match its manifest and fetches it again, while the app,
    which refused it, goes on with the pack before it, which stays."""
    hub = FakeHub()
    client, data = installed_twice(store, hub, tmp_path)
    damage_pack(client.packs_dir / "v2", damage)
    record_pack_in_use(store, client.packs_dir / "v1")  # the app refused v2, fell back
    serve(hub, data)
    observations(store, 2)
    report = client.sync_once()
    assert report.push.acknowledged == 2
    assert report.new_species_pack == client.packs_dir / "v2" and downloads(hub) == 3
    assert report.species_pack_error is None
    assert file_digests(client.packs_dir / "v2") == file_digests(tmp_path / "v2")
    assert file_digests(client.packs_dir / "v1") == file_digests(tmp_path / "v1")
    assert installed_species_packs(store, client.packs_dir) == (
        client.packs_dir / "v2", client.packs_dir / "v1",
    )  # fmt: skip
    assert client.sync_once().new_species_pack is None and downloads(hub) == 3  # whole now


def test_a_pack_damaged_again_and_again_is_downloaded_again_after_a_growing_wait(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """A card that damages the pack after every repair must not cost the pack's size at
    every sync: each repair of the same pack waits twice as long as the one before (from a
    minute, at most six hours), the damage is reported meanwhile, and a person asking
    (Retry / Sync now) repairs it at once."""
    hub = FakeHub()
    client, data = installed_twice(store, hub, tmp_path)
    folder = client.packs_dir / "v2"
    damage_pack(folder)
    serve(hub, data)
    assert client.sync_once().new_species_pack == folder and downloads(hub) == 3
    for repairs, wait in ((1, 60), (2, 120)):
        damage_pack(folder)
        clock.advance(seconds=wait - 1)
        early = client.sync_once()
        assert early.new_species_pack is None and downloads(hub) == 2 + repairs
        assert early.species_pack_error is not None
        assert "v2 is damaged on disk" in early.species_pack_error
        assert f"downloaded again {repairs} time" in early.species_pack_error
        assert read_values(store.database)[ERROR_NAME] == early.species_pack_error
        assert installed_species_packs(store, client.packs_dir)[1:] == (client.packs_dir / "v1",)
        clock.advance(seconds=1)
        serve(hub, data)
        assert client.sync_once().new_species_pack == folder and downloads(hub) == 3 + repairs
        assert read_values(store.database)[ERROR_NAME] == ""
    damage_pack(folder)
    assert client.sync_once().new_species_pack is None and downloads(hub) == 5  # waits 4 min
    serve(hub, data)
    assert client.sync_once(retry_pack=True).new_species_pack == folder  # someone asked
    assert downloads(hub) == 6 and file_digests(folder) == file_digests(tmp_path / "v2")


def test_a_failed_repair_of_a_damaged_pack_is_tried_again_after_its_wait(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    hub = FakeHub()
    data = archive_pack(make_pack(tmp_path / "pack", seed=1))
    announce(hub, "v1", data)
    serve(hub, data)
    client = client_of(store, hub)
    client.sync_once()
    (client.packs_dir / "v1" / "species.json").write_text("{}")
    serve(hub, b"wrong")
    assert client.sync_once(retry_pack=True).species_pack_error is not None
    assert client.sync_once().new_species_pack is None and downloads(hub) == 2  # waits
    clock.advance(seconds=61)
    serve(hub, data)
    assert client.sync_once().new_species_pack == client.packs_dir / "v1"
    assert file_digests(client.packs_dir / "v1") == file_digests(tmp_path / "pack")


@pytest.mark.parametrize("case", ["clock set back", "record unreadable"])
def test_a_failure_record_that_cannot_be_trusted_does_not_hold_the_pack_back(
    case: str, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    hub, client, data = failing_pack(store, tmp_path)
    if case == "clock set back":  # the failure was stamped by a clock that ran a day ahead
        clock.advance(days=-1)
    else:
        unreadable = '{"version": "v1", "failures": "x"'
        put_values(store.database, {FAILURES_NAME: unreadable}, clock.now())
    serve(hub, data)
    assert client.sync_once().new_species_pack == client.packs_dir / "v1"
    assert downloads(hub) == 2


def test_a_kept_pack_damaged_again_and_again_waits_between_repairs(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """The kept pack (v1 beside v2) is fetched again when damaged, checked against what was
    noted when it was installed; damaged again at once, the next try waits a minute
    (doubling, as the newest pack's repairs do), the wait shown in `jaga sync status`."""
    hub = FakeHub()
    client, _ = installed_twice(store, hub, tmp_path)
    kept, first = client.packs_dir / "v1", archive_pack(tmp_path / "v1")
    damage_pack(kept)
    serve(hub, first)
    report = client.sync_once()
    assert report.species_pack_error is None and downloads(hub) == 3
    assert file_digests(kept) == file_digests(tmp_path / "v1")
    damage_pack(kept, "a file gone")
    clock.advance(seconds=59)
    waiting = client.sync_once()
    assert waiting.species_pack_error is not None and downloads(hub) == 3
    assert "v1 (kept to fall back on) is damaged on disk" in waiting.species_pack_error
    assert "next try after" in waiting.species_pack_error
    assert read_status(store, {}).species_pack.lines()[1].startswith("kept pack    species pack v1")
    clock.advance(seconds=1)
    serve(hub, first)
    assert client.sync_once().species_pack_error is None and downloads(hub) == 4
    assert file_digests(kept) == file_digests(tmp_path / "v1")
    assert read_status(store, {}).species_pack.lines()[1:] == []


def test_a_kept_pack_installed_before_its_checksum_was_noted_is_reported_not_fetched(
    store: Store, tmp_path: Path
) -> None:
    hub = FakeHub()
    client, _ = installed_twice(store, hub, tmp_path)
    record = json.loads(read_values(store.database)[INSTALLED_NAME])
    old = {k: v for k, v in record.items() if not k.startswith("previous_")}
    put_values(store.database, {INSTALLED_NAME: json.dumps(old)}, store.clock.now())
    damage_pack(client.packs_dir / "v1")
    report = client.sync_once()
    assert report.species_pack_error is not None and downloads(hub) == 2
    assert "cannot be fetched again" in report.species_pack_error


# --- a real hub process and PostgreSQL -------------------------------------------------


def publish(pack: Path, version: str, *, allow_species_change: bool = False) -> bytes:
    from sync.hub.review import publish_pack_archive

    data = archive_pack(pack)
    publish_pack_archive(version, data, notes="test", allow_species_change=allow_species_change)
    return data


def pack_source(kind: str, tmp_path: Path) -> Path:
    if kind == "fake":
        return make_pack(tmp_path / "pack", seed=5)
    if not (REAL_PACK / "manifest.json").is_file():
        pytest.skip(f"no species pack built by `jaga models install` in {REAL_PACK}")
    return REAL_PACK


@pytest.mark.parametrize("kind", ["fake", "real"])
def test_a_published_pack_reaches_a_registered_device_byte_for_byte(
    kind: str, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    source = pack_source(kind, tmp_path)
    device = new_device(tmp_path, live_hub.url, site_slug)
    version = f"2026.{site_slug}"
    publish(source, version)
    with device.open() as store, httpx.Client() as http:
        add_observations(store, 3, "with-pack")
        report = device.client(store, http).sync_once()
        assert report.species_pack_error is None
        assert report.new_species_pack == device.path.parent / "species-packs" / version
        assert file_digests(report.new_species_pack) == file_digests(source)
        assert drained(store)
        status = read_status(store, {})
        assert (status.species_pack.announced, status.species_pack.installed) == (version,) * 2


def test_a_corrupted_download_is_refused_and_the_next_good_one_installs(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    from sync.hub.models import SpeciesPack

    device = new_device(tmp_path, live_hub.url, site_slug)
    first, second = make_pack(tmp_path / "one", seed=1), make_pack(tmp_path / "two", seed=2)
    old, new = f"1.{site_slug}", f"2.{site_slug}"
    publish(first, old)
    clock = SkewedClock(timedelta(0))  # the wall clock, moved past the pack's back-off by hand
    with device.open(clock) as store, httpx.Client() as http:
        client = device.client(store, http)
        installed = client.sync_once().new_species_pack
        good = publish(second, new)
        damaged = bytearray(good)
        damaged[len(damaged) // 2] ^= 0xFF  # same size: only the checksum can tell
        SpeciesPack.objects.filter(version=new).update(data=bytes(damaged))
        add_observations(store, 4, "during-bad-pack")
        report = client.sync_once()
        assert report.species_pack_error is not None and "not the announced" in (
            report.species_pack_error
        )
        assert drained(store)  # the records synced all the same
        assert installed_species_packs(store, client.packs_dir)[:1] == (installed,)
        assert installed is not None and file_digests(installed) == file_digests(first)
        assert folders(client.packs_dir) == [old]
        SpeciesPack.objects.filter(version=new).update(data=good)
        clock.offset += timedelta(seconds=60)  # the failed pack waits a minute before its retry
        fixed = client.sync_once()
        assert fixed.new_species_pack == client.packs_dir / new
        assert file_digests(fixed.new_species_pack) == file_digests(second)
        assert folders(client.packs_dir) == sorted([old, new])


def test_a_pack_damaged_on_disk_is_fetched_again_from_the_real_hub(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    device = new_device(tmp_path, live_hub.url, site_slug)
    pack = make_pack(tmp_path / "pack", seed=7)
    version = f"damaged.{site_slug}"
    publish(pack, version)
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        installed = client.sync_once().new_species_pack
        assert installed == client.packs_dir / version
        (installed / "species.json").write_text("{}")  # the card under it fails
        repaired = client.sync_once()
        assert repaired.new_species_pack == installed and repaired.species_pack_error is None
        assert file_digests(installed) == file_digests(pack)
        assert folders(client.packs_dir) == [version]


def test_a_download_cut_midway_is_resumed_from_where_it_stopped(
    proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """The link breaks 20,000 bytes into the answer: the device keeps what arrived, installs
    nothing, and its retry asks the real hub only for the rest (a 206), then installs the
    pack byte for byte."""
    device = new_device(tmp_path, proxy.url, site_slug)
    pack = make_pack(tmp_path / "pack", seed=9)
    version = f"cut.{site_slug}"
    data = publish(pack, version)
    proxy.add(Rule(Action.TRUNCATE, PACK_FILE, after_bytes=20_000))
    clock = SkewedClock(timedelta(0))  # the wall clock, moved past the pack's back-off by hand
    with device.open(clock) as store, httpx.Client() as http:
        client = device.client(store, http)
        cut = client.sync_once()
        assert cut.species_pack_error is not None and cut.new_species_pack is None
        (held,) = [p for p in client.packs_dir.iterdir() if p.name.startswith(".download-")]
        kept = held.read_bytes()
        assert 0 < len(kept) < 20_000 and data.startswith(kept)
        assert installed_species_packs(store, client.packs_dir) == ()
        proxy.add(Rule(Action.PASS, PACK_FILE, record=True))
        clock.offset += timedelta(seconds=60)  # the failed pack waits a minute before its retry
        again = client.sync_once()
        assert again.new_species_pack == client.packs_dir / version
        assert file_digests(again.new_species_pack) == file_digests(pack)
        assert folders(client.packs_dir) == [version]  # the download is gone once used
    assert proxy.applied[Action.TRUNCATE.value] == 1
    (request,) = proxy.recorded
    assert f"range: bytes={len(kept)}-".encode() in request.lower()


@pytest.mark.parametrize("status", ["403 Forbidden", "502 Bad Gateway"])
def test_a_middlebox_page_between_a_cut_and_its_resume_keeps_what_arrived(
    status: str, proxy: FaultProxy, site_slug: str, tmp_path: Path
) -> None:
    """After a cut, the next try meets a captive portal's or gateway's page (no byte of the
    pack): what arrived before stays, and the try after that asks only for the rest."""
    device = new_device(tmp_path, proxy.url, site_slug)
    data = publish(make_pack(tmp_path / "pack", seed=9), f"portal.{site_slug}")
    proxy.add(
        Rule(Action.TRUNCATE, PACK_FILE, after_bytes=20_000),
        Rule(Action.ANSWER, PACK_FILE, answer=page(status)),
    )
    clock = SkewedClock(timedelta(0))  # the wall clock, moved past the pack's back-off by hand
    with device.open(clock) as store, httpx.Client() as http:
        client = device.client(store, http)
        assert client.sync_once().new_species_pack is None
        (held,) = [p for p in client.packs_dir.iterdir() if p.name.startswith(".download-")]
        kept = held.read_bytes()
        clock.offset += timedelta(seconds=60)
        paged = client.sync_once()
        assert paged.species_pack_error is not None and status[:3] in paged.species_pack_error
        assert held.read_bytes() == kept and data.startswith(kept)
        proxy.add(Rule(Action.PASS, PACK_FILE, record=True))
        clock.offset += timedelta(seconds=600)  # past the doubled back-off
        assert client.sync_once().new_species_pack is not None
    (request,) = proxy.recorded
    assert f"range: bytes={len(kept)}-".encode() in request.lower()


# --- the pack kept to fall back on (the one in use), damaged on disk -------------------


def kept_in_use(
    client: SyncClient, store: Store, source: Path, site_slug: str, tmp_path: Path
) -> tuple[str, str]:
    """Install ``source`` as the first pack (noted in use by the app), then a newer one the
    app has not taken: the first is the one kept beside it. (first, newer) versions."""
    first, newer = f"kept.{site_slug}", f"newer.{site_slug}"
    publish(source, first)
    assert client.sync_once().new_species_pack == client.packs_dir / first
    record_pack_in_use(store, client.packs_dir / first)
    # The fake pack lists one species: after the real pack, a species change on purpose.
    publish(make_pack(tmp_path / "newer", seed=11), newer, allow_species_change=True)
    assert client.sync_once().new_species_pack == client.packs_dir / newer
    assert folders(client.packs_dir) == sorted([first, newer])
    return first, newer


@pytest.mark.parametrize("kind", ["fake", "real"])
def test_a_damaged_pack_kept_in_use_is_fetched_again_from_the_real_hub(
    kind: str, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """The newest pack was refused (or not loaded yet): the app goes on with the one kept
    beside it, so that one damaged on disk is repaired as the newest would be."""
    source = pack_source(kind, tmp_path)
    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        first, newer = kept_in_use(client, store, source, site_slug, tmp_path)
        kept = client.packs_dir / first
        (kept / "manifest.json").unlink()  # the card under it fails
        repaired = client.sync_once()
        assert repaired.species_pack_error is None
        assert repaired.new_species_pack is None  # the newest pack is as it was
        assert file_digests(kept) == file_digests(source)
        assert installed_species_packs(store, client.packs_dir) == (
            client.packs_dir / newer, kept,
        )  # fmt: skip
        assert folders(client.packs_dir) == sorted([first, newer])
        assert client.sync_once().species_pack_error is None  # whole: left alone
        assert read_status(store, {}).species_pack.lines()[1:] == []


def test_a_damaged_kept_pack_the_hub_no_longer_offers_is_reported(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """Withdrawn from the hub, it cannot be fetched again: `jaga sync status` and the log
    say so, and the app falls back past it (the default pack) as it does for any pack
    that fails its check; a pack published later replaces it."""
    from sync.hub.models import SpeciesPack

    device = new_device(tmp_path, live_hub.url, site_slug)
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        first, newer = kept_in_use(
            client, store, make_pack(tmp_path / "p", seed=3), site_slug, tmp_path
        )
        SpeciesPack.objects.filter(version=first).delete()
        (client.packs_dir / first / "species.json").write_text("{}")
        report = client.sync_once()
        assert report.species_pack_error is not None
        assert f"species pack {first}" in report.species_pack_error
        assert "the hub no longer offers it" in report.species_pack_error
        assert drained(store)  # the records synced all the same
        lines = read_status(store, {}).species_pack.lines()
        assert any("no longer offers" in line for line in lines[1:]), lines
        assert installed_species_packs(store, client.packs_dir)[0] == client.packs_dir / newer


def test_a_pack_the_hub_no_longer_holds_is_dropped_not_fetched_for_ever(
    live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    """A hub restored from a backup taken before its pack (or whose pack was removed) names
    no pack in its answer. The device drops the pack it was told of, which it would otherwise
    fetch for ever (a 404, with back-off), keeps what it has, and `jaga sync status` says so;
    a pack published later installs at once."""
    from sync.hub.models import SpeciesPack

    device = new_device(tmp_path, live_hub.url, site_slug)
    gone, later = f"gone.{site_slug}", f"later.{site_slug}"
    good = publish(make_pack(tmp_path / "gone", seed=12), gone)
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # its first download fails: it waits for a retry
    SpeciesPack.objects.filter(version=gone).update(data=bytes(damaged))
    with device.open() as store, httpx.Client() as http:
        client = device.client(store, http)
        assert client.sync_once().species_pack_error is not None
        SpeciesPack.objects.filter(version=gone).delete()
        report = client.sync_once()
        assert (report.species_pack_error, report.new_species_pack) == (None, None)
        values = read_values(store.database)
        assert (values[FAILURES_NAME], values[ERROR_NAME]) == ("", "")
        assert read_status(store, {}).species_pack.lines() == [
            "species pack announced -, installed -",
            f"pack note    the hub no longer offers species pack {gone}, which it announced:"
            " not fetched any more; this device goes on with the pack it has",
        ]
        publish(make_pack(tmp_path / "later", seed=13), later)
        assert client.sync_once().new_species_pack == client.packs_dir / later
        assert read_status(store, {}).species_pack.lines() == [
            f"species pack announced {later}, installed {later} ({client.packs_dir / later})"
        ]


def test_a_sync_short_of_the_end_of_the_log_installs_the_pack_the_answer_names(
    store: Store, tmp_path: Path
) -> None:
    """A device catching up a long log (its pull stopped at its page limit) installs the
    pack the hub's answer names at once: the newest it reads. Not the older one its log
    announces first, and not only once its pull reaches the end of a log that may keep
    growing faster than it pulls."""
    from dataclasses import replace

    from sync.protocol import SpeciesPackPublished
    from tests.sync.client.units import SMALL

    hub = FakeHub()
    client = client_of(store, hub, replace(SMALL, pull_limit=1, max_pages_per_sync=1))
    v1, v2 = (archive_pack(make_pack(tmp_path / v, seed=s)) for v, s in (("v1", 1), ("v2", 2)))
    announce(hub, "v1", v1)
    announce(hub, "v2", v2)
    hub.names_pack = SpeciesPackPublished.model_validate(
        {"version": "v2", "sha256": hashlib.sha256(v2).hexdigest(), "byte_size": len(v2)}
    )
    serve(hub, v2)
    report = client.sync_once()
    assert report.pull.complete is False and report.species_pack_error is None
    assert report.new_species_pack == client.packs_dir / "v2"
    assert client.sync_once().new_species_pack is None and downloads(hub) == 1


@pytest.mark.parametrize("damage", ["a file changed", "a file gone"])
def test_sync_status_says_the_installed_pack_does_not_verify_and_which_is_in_use(
    damage: str, store: Store, tmp_path: Path
) -> None:
    """After the newest pack's file was edited on disk, ``jaga sync status`` said "installed
    v2" as if nothing were wrong. Read by sync alone (no model loader, as here), "in use" is
    the newest kept pack whose files verify; ``jaga`` gives status ``jaga catch``'s own choice
    (tests/desktop/test_catch.py)."""
    client, _ = installed_twice(store, FakeHub(), tmp_path)
    assert read_status(store, {}, check_pack=True).species_pack.lines()[1:] == []
    damage_pack(client.packs_dir / "v2", damage)
    lines = read_status(store, {}, check_pack=True).species_pack.lines()
    assert lines[0].startswith("species pack announced v2, installed v2")
    assert lines[1].startswith("pack damaged installed species pack v2 does not verify (")
    assert "species_fp32.onnx" in lines[1]
    assert lines[1].endswith("); in use: v1, until a sync downloads v2 again")
    damage_pack(client.packs_dir / "v1", damage)
    lines = read_status(store, {}, check_pack=True).species_pack.lines()
    assert lines[1].endswith("); in use: the default pack, until a sync downloads v2 again")
    assert read_status(store, {}).species_pack.lines()[1:] == []  # the app's: no pack read


def test_sync_status_promises_no_repair_of_a_pack_the_hub_no_longer_announces(
    store: Store, tmp_path: Path
) -> None:
    """A sync downloads again only the pack the hub announces: with v3 announced (failing to
    install) the damaged v2 is never fetched again, and the status said it would be."""
    hub = FakeHub()
    client, _ = installed_twice(store, hub, tmp_path)
    announce(hub, "v3", b"not an archive")
    serve(hub, b"not an archive")
    client.sync_once()
    damage_pack(client.packs_dir / "v2")

    lines = read_status(store, {}, check_pack=True).species_pack.lines()

    assert lines[1].endswith(
        "); in use: v1; no sync downloads v2 again (the hub announces v3 now)"
    ), lines


def test_the_status_command_checks_the_installed_pack(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from main import main

    client, _ = installed_twice(store, FakeHub(), tmp_path)
    damage_pack(client.packs_dir / "v2")
    store.close()
    env = {PASSPHRASE_ENV: "correct horse battery staple", PACKS_DIR_ENV: str(client.packs_dir)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["sync", "status", "--db", str(store.path)]) == 0
    assert "installed species pack v2 does not verify" in capsys.readouterr().out
