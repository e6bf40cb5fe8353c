"""What a kiosk records of the attempts a badge's end cuts short, and of the attempts it
parks for a badge: the pipeline's fakes (tests/inference/face/test_pipeline.py) against a
real store whose people hold the badges."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.session import BADGE_TIMEOUT_S, KioskSession
from inference.face.decide import ChallengePolicy
from inference.face.match import GalleryIndex
from inference.face.pipeline import DecisionPipeline
from inference.face.types import FaceBox
from sync.store import Passphrase, Store
from tests.desktop.kiosk.conftest import Ticks
from tests.inference.face.test_pipeline import MODEL, VECTORS, FakeChallenge, face_at, noise
from tests.inference.face.test_pipeline import pipeline as fake_pipeline
from tests.sync.conftest import FAST, FakeClock, enrol


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk passphrase"),
                      clock=FakeClock(), config=FAST) as opened:  # fmt: skip
        yield opened


@pytest.fixture
def uids(store: Store) -> dict[str, str]:
    """Badge A is ana's, badge B bo's (the fakes' two faces), enrolled in the store."""
    clock = FakeClock()
    return {"ana": enrol(store, clock, "A", seed=1), "bo": enrol(store, clock, "B", seed=2)}


def kiosk(
    store: Store,
    uids: dict[str, str],
    script: Sequence[Sequence[FaceBox]],
    clock: Ticks,
    *,
    challenge_frames: int = 100,
    policy: ChallengePolicy = ChallengePolicy.ALWAYS,
) -> KioskSession:
    """A 1:N kiosk whose site challenges every face (by default); the challenge would time
    out after ``challenge_frames`` frames (a photo held up does not blink)."""
    p, _, _ = fake_pipeline(script)
    names = list(uids)
    vectors = np.asarray([VECTORS[name] for name in names], np.float32)
    gallery = GalleryIndex.from_arrays(vectors, [uids[name] for name in names], MODEL)
    settings = dataclasses.replace(p.settings.decision, challenge=policy)

    def start() -> FakeChallenge:
        return FakeChallenge("timeout", challenge_frames)

    stages = dataclasses.replace(p.stages, gallery=gallery, challenges=start)
    pipe = DecisionPipeline(stages, dataclasses.replace(p.settings, decision=settings))
    identity = KioskIdentity("north-gate", "k1")  # the site its people are of
    return KioskSession(pipe, store, identity, clock=clock)


def recorded(frames: Sequence[KioskFrame]) -> list[tuple[str, str | None]]:
    return [(e.decision, e.person_uid) for f in frames for e in f.events]


def frames(session: KioskSession, indexes: range) -> list[KioskFrame]:
    return [session.process(noise(i), i / 30) for i in indexes]


def test_presenting_the_badge_again_during_its_challenge_records_each_try(
    store: Store, uids: dict[str, str]
) -> None:
    """A photo of ana held up with her badge, presented again every ten frames, before the
    challenge can time out: each try is recorded spoof_detected, none is lost."""
    session = kiosk(store, uids, [[face_at(50)]] * 60, Ticks())
    made = []
    for attempt in range(6):  # the sixth presentation ends the fifth try
        session.present_badge("A")
        made += frames(session, range(attempt * 10, attempt * 10 + 10))
    assert recorded(made) == [("spoof_detected", None)] * 5


def test_a_badge_that_expires_or_is_replaced_during_its_challenge_records_the_try(
    store: Store, uids: dict[str, str]
) -> None:
    clock = Ticks()
    session = kiosk(store, uids, [[face_at(50)]] * 40, clock)
    session.present_badge("A")
    made = frames(session, range(10))
    clock.now += BADGE_TIMEOUT_S
    made += frames(session, range(10, 11))
    assert recorded(made) == [("spoof_detected", None)]
    assert [f.notice for f in made if f.notice] == ["badge A: no face was checked in time"]
    session.present_badge("A")
    made = frames(session, range(11, 20))
    session.present_badge("B")  # another badge while A's challenge runs
    made += frames(session, range(20, 21))
    assert recorded(made) == [("spoof_detected", None)]
    assert session.pipeline.claimed == uids["bo"]


def test_a_challenge_another_persons_badge_cut_off_is_not_recorded_as_a_spoof(
    store: Store, uids: dict[str, str]
) -> None:
    """ana, identified 1:N, is asked to blink when someone presents bo's badge, and
    leaves: the kiosk stopped her challenge, so she is recorded low_quality, not as a
    spoof, and bo's badge still waits for a face."""
    session = kiosk(store, uids, [[face_at(50)]] * 10, Ticks())
    made = frames(session, range(10))
    session.present_badge("B")
    made += frames(session, range(10, 30))
    assert recorded(made) == [("low_quality", None)]
    assert made[-1].badge == "B"


def test_a_badge_that_expires_beside_someone_already_verified_records_them_once(
    store: Store, uids: dict[str, str]
) -> None:
    """ana is verified 1:N (no challenge for this site); a passer-by types bo's badge, and
    it expires before a face is checked against it: ana is not recorded a second time."""
    clock = Ticks()
    session = kiosk(store, uids, [[face_at(50)]] * 20, clock, policy=ChallengePolicy.NEVER)
    made = frames(session, range(5))
    session.present_badge("B")
    clock.now += BADGE_TIMEOUT_S
    made += frames(session, range(5, 20))
    assert recorded(made) == [("verified", uids["ana"])]
