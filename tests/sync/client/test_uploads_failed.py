"""A photo upload the hub refused for good is never forgotten: its bytes are only on the
device. ``jaga sync status``, ``jaga store info``, each sync's summary and the metrics name
it until ``jaga sync retry-uploads`` sends its metadata, then its bytes, again.

The refusal is the real hub's ``upload_conflict``: the hub's metadata of the photo is not
the device's any more (as when another device replaced it), written into the hub's
database between the device's push and its upload.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlcipher3

from main import main
from sync.client import failed_uploads as failed_uploads_module
from sync.client.failed_uploads import failed_uploads, retry_failed_uploads
from sync.client.metrics import read_sample
from sync.protocol import MAX_PAYLOAD_BYTES
from tests.sync.client.devices import Device, add_photo_observation, new_device
from tests.sync.hub.hubkit import HubProcess
from tests.sync.test_store_outbox import fail_writes

OTHER_BYTES = b"another device's photo"


def _pushed_photo(device: Device, seed: int = 11) -> str:
    """A catch with a photo whose metadata the hub acknowledged, its bytes not uploaded."""
    with device.open() as store, httpx.Client() as http:
        photo = add_photo_observation(store, 4096, seed=seed, tag="refused")
        device.client(store, http).push()
    return photo


def _replace_hub_metadata(hub: HubProcess, photo: str) -> None:
    """The hub's photo of other contents: what another device's metadata made of it."""
    with psycopg.connect(hub.database_url) as database:
        database.execute(
            "UPDATE hub_photo SET sha256 = %s, byte_size = %s WHERE uid = %s",
            (hashlib.sha256(OTHER_BYTES).hexdigest(), len(OTHER_BYTES), photo),
        )


def _hub_holds_bytes(hub: HubProcess, photo: str) -> bool:
    with psycopg.connect(hub.database_url) as database:
        row = database.execute("SELECT data FROM hub_photo WHERE uid = %s", (photo,)).fetchone()
    return row is not None and row[0] is not None


def _last_success_line(status: str) -> str:
    (line,) = [line for line in status.splitlines() if line.startswith("last success ")]
    return line


def _retried(device: Device) -> list[tuple[str, str, dict[str, object]]]:
    """The ``uploads.retried`` audit entries: actor, subject, details."""
    with device.open() as store:
        assert store.audit.verify().ok
        entries = [e for e in store.audit.entries() if e.action == "uploads.retried"]
    return [(e.actor, e.subject, json.loads(e.details_json)) for e in entries]


def _jaga(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


@pytest.fixture
def refused(
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[Device, str]:
    """A device whose photo upload the hub refused (409 upload_conflict) in a sync; the
    device's environment set for ``jaga``."""
    device = new_device(tmp_path, live_hub.url, site_slug)
    for name, value in device.environment(live_hub.url).items():
        if name.startswith("JAGA_"):
            monkeypatch.setenv(name, value)
    photo = _pushed_photo(device)
    _replace_hub_metadata(live_hub, photo)
    first = _jaga(capsys, "sync", "now", "--db", str(device.path))
    assert "(0 resumed, 1 failed)" in first
    return device, photo


def test_a_refused_upload_stays_in_view_after_the_next_sync(
    refused: tuple[Device, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: the next sync said `0 failed`, status `uploads 0 pending` and `(ok)`, and
    nothing anywhere said the photo's bytes were only on the boat."""
    device, photo = refused
    db = str(device.path)

    summary = _jaga(capsys, "sync", "now", "--db", db)
    status = _jaga(capsys, "sync", "status", "--db", db)
    info = _jaga(capsys, "store", "info", "--db", db)

    assert "1 photo failed to upload, the bytes only on this device" in summary
    assert "uploads      0 pending, 1 failed, " in status
    assert f"upload failed photo {photo} " in status and "upload_conflict" in status
    assert "(ok, 1 photo failed to upload: hub refused (409 upload_conflict)" in status
    assert "jaga sync retry-uploads PHOTO" in status
    assert "not uploaded 1 photo the hub refused" in info
    with device.open() as store:
        assert read_sample(store, {}).failed_uploads == 1


def test_the_last_success_says_how_many_photos_failed_to_upload_and_since_when(
    refused: tuple[Device, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a sync whose photo the hub refused showed "last success <that sync>" with
    nothing beside it, so a glance read "synced just now" while the bytes were stuck, and
    the success gauge's help did not say that such photos do not stop it. It is still a
    success (as with quarantined entries: one photo no retry can send must not freeze it
    for good), but never shown alone."""
    device, _ = refused
    db = str(device.path)
    with device.open() as store:
        (failed,) = failed_uploads(store)

    _jaga(capsys, "sync", "now", "--db", db)  # a later sync: the photo is still refused
    status = _jaga(capsys, "sync", "status", "--db", db)
    metrics = _jaga(capsys, "sync", "status", "--db", db, "--prometheus", "-")

    line = _last_success_line(status)
    assert line.endswith(
        f", with 1 photo failed to upload since {failed.at} (the bytes only on this device)"
    ), line
    success_help = next(h for h in metrics.splitlines() if "last_success_timestamp" in h)
    assert "jaga_sync_photo_uploads_failed" in success_help, success_help


def test_retry_uploads_sends_the_metadata_again_then_the_bytes(
    refused: tuple[Device, str], live_hub: HubProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    device, photo = refused
    db = str(device.path)

    retried = _jaga(capsys, "sync", "retry-uploads", photo, "--db", db)
    summary = _jaga(capsys, "sync", "now", "--db", db)
    status = _jaga(capsys, "sync", "status", "--db", db)

    assert "queued 1 photo again" in retried
    assert "uploaded 1 photo (0 resumed, 0 failed)" in summary
    assert "failed to upload" not in summary
    assert _hub_holds_bytes(live_hub, photo)
    assert "upload failed" not in status and "1 failed" not in status
    assert "(ok)" in status
    assert "failed to upload" not in _last_success_line(status)


def test_retry_uploads_is_in_the_audit_trail(
    refused: tuple[Device, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: `retry-uploads` queued the photo's metadata again and wrote no audit entry,
    unlike `requeue`, the operator's other move of what the next sync sends."""
    device, photo = refused
    monkeypatch.setenv("USER", "officer-7")
    _jaga(capsys, "sync", "retry-uploads", photo, "--db", str(device.path))
    assert _retried(device) == [("cli:officer-7", "uploads", {"photos": 1, "photo_uids": [photo]})]


def test_a_large_retry_is_audited_in_parts(
    refused: tuple[Device, str],
    live_hub: HubProcess,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each entry names at most ``RETRIED_PER_AUDIT_ENTRY`` photos, as a requeue's names
    its sequences: one listing every photo of ``--all`` could outgrow what the hub takes."""
    device, first = refused
    second = _pushed_photo(device, seed=12)
    _replace_hub_metadata(live_hub, second)
    _jaga(capsys, "sync", "now", "--db", str(device.path))
    monkeypatch.setattr(failed_uploads_module, "RETRIED_PER_AUDIT_ENTRY", 1)
    monkeypatch.setenv("USER", "officer-7")
    _jaga(capsys, "sync", "retry-uploads", "--all", "--db", str(device.path))
    parts = [details for _, _, details in _retried(device)]
    assert parts == [
        {"photos": 2, "part": number, "parts": 2, "photo_uids": [uid]}
        for number, uid in enumerate(sorted([first, second]), start=1)
    ]


def test_the_largest_retry_part_fits_what_an_audit_entry_may_carry() -> None:
    biggest = {
        "photos": 10**9,
        "part": 10**9,
        "parts": 10**9,
        "photo_uids": [str(uuid.uuid4())] * failed_uploads_module.RETRIED_PER_AUDIT_ENTRY,
    }
    assert len(json.dumps(biggest).encode()) < MAX_PAYLOAD_BYTES // 2


def test_a_retry_whose_audit_entry_fails_changes_nothing(refused: tuple[Device, str]) -> None:
    device, photo = refused
    with device.open() as store:
        fail_writes(store, "BEFORE INSERT ON audit_log")
        with pytest.raises(sqlcipher3.IntegrityError, match="injected failure"):
            retry_failed_uploads(store, None, operator="cli:officer-7")
        assert [failed.photo_uid for failed in failed_uploads(store)] == [photo]
        assert not [e for e in store.outbox.queued() if e.entity_uid == photo]


def test_retry_uploads_refuses_a_photo_that_did_not_fail(
    refused: tuple[Device, str], capsys: pytest.CaptureFixture[str]
) -> None:
    device, _ = refused
    other = "00000000-0000-4000-8000-000000000000"
    assert main(["sync", "retry-uploads", other, "--db", str(device.path)]) == 1
    assert f"no failed upload of photo {other}" in capsys.readouterr().err
    status = _jaga(capsys, "sync", "status", "--db", str(device.path))
    assert "uploads      0 pending, 1 failed, " in status  # nothing changed
    assert _retried(device) == []  # and nothing audited
