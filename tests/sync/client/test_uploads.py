"""Photo uploads in chunks: resumed after a cut from the hub's offset, never sent twice."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from sync.client import HubRefusedError, HubUnavailableError, SitePolicy
from sync.store import FishObservation, Photo, SpeciesScore, Store
from tests.sync.client.fakehub import FakeHub, Fault
from tests.sync.client.units import client_of
from tests.sync.conftest import FakeClock, enrol

SIZE = 5_500  # six chunks of 1000 bytes (the unit tuning), the last one short


def fish_photo(store: Store, seed: int = 1) -> Photo:
    photo = Photo(random.Random(seed).randbytes(SIZE), "image/jpeg", datetime.now(UTC))
    record = FishObservation(
        observed_at=datetime.now(UTC),
        predictions=(SpeciesScore("Gadus morhua", 0.4),),
        needs_review=True,
        officer="officer-7",
    )
    store.observations.add(record, photo)
    return photo


def test_a_photo_goes_up_in_checked_chunks_after_its_metadata(store: Store) -> None:
    photo = fish_photo(store)
    hub = FakeHub()
    report = client_of(store, hub).sync_once()
    assert report.uploads.completed == 1 and report.uploads.bytes_sent == SIZE
    assert hub.photos[photo.photo_uid] == photo.data
    chunk_puts = [r for r in hub.requests if r.startswith("PUT")]
    assert len(chunk_puts) == 6
    assert client_of(store, hub).upload_photos().completed == 0  # done means done


def test_a_cut_upload_resumes_where_the_hub_has_it(store: Store) -> None:
    photo = fish_photo(store)
    hub = FakeHub()
    client = client_of(store, hub)
    client.push()
    hub.faults.append(Fault("PUT", drop=True))  # first chunk never arrives
    with pytest.raises(HubUnavailableError):
        client.upload_photos()
    hub.faults.extend([Fault("PUT"), Fault("PUT"), Fault("PUT", lose_answer=True)])
    with pytest.raises(HubUnavailableError):
        client.upload_photos()  # three chunks stored, the answer to the third lost
    report = client.upload_photos()
    assert (report.completed, report.resumed, report.bytes_sent) == (1, 1, SIZE - 3000)
    assert hub.photos[photo.photo_uid] == photo.data


def test_a_chunk_whose_answer_was_lost_continues_at_the_hubs_offset(store: Store) -> None:
    photo = fish_photo(store)
    hub = FakeHub()
    client = client_of(store, hub)
    client.push()
    hub.faults.append(Fault("PUT", status=409, error="offset_mismatch", expected_offset=0))
    assert client.upload_photos().completed == 1
    assert hub.photos[photo.photo_uid] == photo.data


def test_a_photo_failing_its_checksum_is_sent_again_once(store: Store) -> None:
    fish_photo(store)
    hub = FakeHub()
    client = client_of(store, hub)
    client.push()
    for _ in range(2):
        hub.faults.append(Fault("PUT", status=400, error="photo_checksum_mismatch"))
    report = client.upload_photos()
    assert (report.completed, report.failed) == (0, 1)  # restarted once, then given up
    again = client.upload_photos()
    assert again.completed == 0  # failed uploads are not retried blindly
    assert again.still_failed == 1  # nor forgotten: each sync's summary names them
    assert "1 photo failed to upload" in client.sync_once().summary()


@pytest.mark.parametrize(
    ("status", "error"), [(410, "erased"), (404, "unknown_photo")], ids=["erased", "gone"]
)
def test_a_photo_of_an_erased_person_is_skipped(
    store: Store, clock: FakeClock, status: int, error: str
) -> None:
    """The hub refuses it as erased, or no longer knows it (erasing deletes the photo's
    row): skipped, not retried, and the sync goes on."""
    photo = Photo(b"face" * 100, "image/jpeg", clock.now())
    enrol(store, clock, "B-1", seed=1, photos=[photo])
    hub = FakeHub()
    client = client_of(store, hub, policy=SitePolicy(send_face_images=True))
    client.push()
    hub.faults.append(Fault("POST /api/v1/sites/north-gate/uploads", status=status, error=error))
    report = client.upload_photos()
    assert (report.completed, report.skipped) == (0, 1)
    assert client.upload_photos().completed == 0


def test_a_refusal_that_is_not_about_the_photo_fails_the_sync_not_the_photo(
    store: Store,
) -> None:
    photo = fish_photo(store)
    hub = FakeHub()
    client = client_of(store, hub)
    client.push()
    hub.faults.append(Fault("POST /api/v1/sites/north-gate/uploads", status=404, error="not_found"))
    with pytest.raises(HubRefusedError):
        client.upload_photos()
    assert client.upload_photos().completed == 1  # tried again, not written off
    assert hub.photos[photo.photo_uid] == photo.data
