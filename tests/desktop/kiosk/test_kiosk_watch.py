"""A running kiosk sees the gallery change under it: an erasure made by another connection
(a sync, ``jaga store``) stops it verifying the person without a restart."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.errors import KioskError
from desktop.kiosk.gallery import GalleryWatch
from desktop.kiosk.session import KioskSession
from inference.face.match import MatchSettings
from inference.face.stages import Stages
from sync.store import AccessEvent, Passphrase, Store
from tests.conftest import shared_path
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import Ticks, webcam, webcam_paths
from tests.desktop.kiosk.test_kiosk_session import KIOSK, attempt, enrol, the_face
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared


def watched(store: Store, stages: Stages, claim: str | None = None) -> KioskSession:
    """A session whose watch looks at the gallery before every frame."""
    options = KioskOptions(site=KIOSK.site, device=KIOSK.device, claim=claim)
    return kiosk_session(store, stages, kiosk_settings(None), options, {}, watch_every_s=0.0)


def erase_elsewhere(store: Store, person_uid: str) -> None:
    with Store.open(store.path, Passphrase(PASSPHRASE), config=FAST) as other:
        other.people.erase(person_uid, operator="hub", reason="erasure request")


def test_an_erasure_by_another_connection_reaches_the_running_kiosk(
    kiosk_store: Store, stages: Stages
) -> None:
    person = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    kiosk = watched(kiosk_store, stages)
    assert the_face(attempt(kiosk, "live")).decision == "verified"
    erase_elsewhere(kiosk_store, person)
    after = the_face(attempt(kiosk, "live"))
    assert after.decision == "not_matched" and after.person_uid is None


def test_an_erased_badge_stops_a_one_to_one_kiosk(kiosk_store: Store, stages: Stages) -> None:
    person = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    kiosk = watched(kiosk_store, stages, claim="B-001")
    erase_elsewhere(kiosk_store, person)
    with pytest.raises(KioskError, match="erased"):
        attempt(kiosk, "live")


def test_the_gallery_is_looked_at_once_per_interval(kiosk_store: Store, stages: Stages) -> None:
    assert stages.recogniser is not None
    clock = Ticks()
    watch = GalleryWatch(
        kiosk_store, stages.recogniser.model, MatchSettings(), KIOSK.site, every_s=1.0, clock=clock
    )
    watch.load()
    with Store.open(kiosk_store.path, Passphrase(PASSPHRASE), config=FAST) as other:
        enrol(other, stages, "B-001", webcam_paths("live")[:1])  # as a sync would
    assert watch.changed() is None  # too soon to look
    clock.now += 1.0
    change = watch.changed()
    assert change is not None and len(change.index) == 1 and not change.left
    clock.now += 1.0
    assert watch.changed() is None  # looked, and nothing changed since


def test_a_person_erased_while_their_track_is_open_is_not_verified(
    kiosk_store: Store, stages: Stages
) -> None:
    """The open track had gathered evidence for the person: without starting it afresh it
    ended verified as them after the erasure."""
    person = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    kiosk = watched(kiosk_store, stages)
    frames = webcam("live", 10, 8)
    events = [e for i, f in enumerate(frames[:2]) for e in kiosk.process(f, i / 10).events]
    erase_elsewhere(kiosk_store, person)
    events += [e for i, f in enumerate(frames[2:], 2) for e in kiosk.process(f, i / 10).events]
    events += kiosk.finish()
    assert person not in {e.person_uid for e in events}
    assert "not_matched" in {e.decision for e in events}


def test_a_sync_page_that_reuses_template_row_ids_is_still_seen(
    kiosk_store: Store, stages: Stages
) -> None:
    """Erasing the last person enrolled and enrolling another with as many templates, from
    another connection, gives the new templates the old row ids: a (count, max id) version
    did not move, and the erased person stayed verifiable."""
    first = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    kiosk = watched(kiosk_store, stages)
    johns = shared_path("data", "faces", "johns")
    john = sorted(next(p for p in sorted(johns.iterdir()) if p.is_dir()).glob("*.jpg"))[:2]
    with Store.open(kiosk_store.path, Passphrase(PASSPHRASE), config=FAST) as other:
        other.people.erase(first, operator="hub", reason="erasure request")
        enrol(other, stages, "B-002", john)
    assert kiosk_store.database.query("SELECT max(id), count(*) FROM face_templates") == [(2, 2)]
    after = the_face(attempt(kiosk, "live"))
    assert after.decision == "not_matched" and after.person_uid is None


def test_an_erasure_just_after_the_first_load_is_seen(
    kiosk_store: Store, stages: Stages, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync starting beside the kiosk commits an erasure right after the kiosk read its
    gallery: a watch made after that read took the erasure as already seen."""
    from desktop.kiosk import gallery

    person = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    real_load = gallery.load_gallery

    def load_then_erase(*args: Any, **kwargs: Any) -> gallery.LoadedGallery:
        loaded = real_load(*args, **kwargs)
        monkeypatch.setattr(gallery, "load_gallery", real_load)  # once
        erase_elsewhere(kiosk_store, person)
        return loaded

    monkeypatch.setattr(gallery, "load_gallery", load_then_erase)
    after = the_face(attempt(watched(kiosk_store, stages), "live"))
    assert after.decision == "not_matched" and after.person_uid is None


def john(stages: Stages, store: Store, number: int) -> str:
    johns = shared_path("data", "faces", "johns")
    folder = sorted(p for p in johns.iterdir() if p.is_dir())[number]
    return enrol(store, stages, f"J-{number}", sorted(folder.glob("*.jpg"))[:1])


def run_with_an_erasure(
    store: Store, stages: Stages, kind: str, *, frames: int, erase_at: int, someone: str
) -> list[tuple[str, str | None]]:
    """NUAA's webcam session (``kind``), with ``someone`` erased elsewhere at a frame."""
    kiosk = watched(store, stages)
    events: list[AccessEvent] = []
    for index, frame in enumerate(webcam(kind, 10, frames)):
        if index == erase_at:
            erase_elsewhere(store, someone)
        events += kiosk.process(frame, index / 10).events
    events += kiosk.finish()
    return [(e.decision, e.person_uid) for e in events]


def test_an_unrelated_erasure_does_not_decide_a_person_standing_there_again(
    kiosk_store: Store, stages: Stages
) -> None:
    """Resetting every track on any erasure recorded the person in front a second time."""
    here = enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    other = john(stages, kiosk_store, 0)
    about = run_with_an_erasure(kiosk_store, stages, "live", frames=10, erase_at=6, someone=other)
    assert about == [("verified", here)]


def test_an_unrelated_erasure_does_not_lose_an_attempt_in_progress(
    kiosk_store: Store, stages: Stages
) -> None:
    """A print held up while someone else is erased: resetting its track lost the attempt."""
    enrol(kiosk_store, stages, "B-001", webcam_paths("live")[:2])
    other = john(stages, kiosk_store, 0)
    # three frames: just enough for a decision, had the second not started the track again
    about = run_with_an_erasure(kiosk_store, stages, "print", frames=3, erase_at=1, someone=other)
    assert about == [("spoof_detected", None)]
