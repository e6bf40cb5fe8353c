"""What a kiosk session records, with the pipeline played by a script: only final track
decisions, each track once, the person only when verified."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from desktop.kiosk.errors import KioskError
from desktop.kiosk.identity import KioskIdentity
from desktop.kiosk.session import KioskSession
from desktop.kiosk.writer import RETRY_S
from inference.face.decide import Candidate, Decision, Status, frame_decision
from inference.face.pipeline import DecisionPipeline, FrameResult
from inference.face.types import QualityReason
from sync.errors import StoreIOError
from sync.store import Passphrase, Store, StoreConfig
from tests.desktop.kiosk.conftest import Ticks
from tests.sync.conftest import FAST

UID = "0f8fad5b-d9cb-469f-a165-70867728950e"
CHALLENGE = Decision(Status.CHALLENGE_REQUIRED, 1.0, track_id=1, liveness=0.7)
VERIFIED = Decision(Status.VERIFIED, 0.9, 1, UID, 0.95, 0.8, candidates=(Candidate(UID, 0.95),))
NOT_MATCHED = Decision(
    Status.NOT_MATCHED, 0.8, 2, None, 0.5, 0.9, candidates=(Candidate(UID, 0.5),)
)
LOW = Decision(Status.LOW_QUALITY, 1.0, 3, reasons=(QualityReason.BLURRY,))


class ScriptedPipeline:
    """Answers each frame with the next decisions of its script."""

    claimed = None

    def __init__(self, script: list[tuple[Decision, ...]], at_end: tuple[Decision, ...]) -> None:
        self._script = iter(script)
        self._at_end = at_end

    def process(self, image: object, time_s: float | None = None) -> FrameResult:
        return FrameResult(0, time_s or 0.0, None, (), next(self._script))

    def finish(self) -> list[Decision]:
        return list(self._at_end)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.create(tmp_path / "k.db", Passphrase("a kiosk passphrase"), config=FAST) as s:
        yield s


def play(store: Store, script: list[tuple[Decision, ...]], at_end: tuple[Decision, ...] = ()
         ) -> list[tuple[str, str | None]]:  # fmt: skip
    pipeline = cast(DecisionPipeline, ScriptedPipeline(script, at_end))
    kiosk = KioskSession(pipeline, store, KioskIdentity("gate", "k1"))
    frame = np.zeros((4, 4, 3), np.uint8)
    events = [e for _ in script for e in kiosk.process(frame).events] + list(kiosk.finish())
    return [(e.decision, e.person_uid) for e in events]


def test_a_challenge_is_not_recorded_but_its_answer_is(store: Store) -> None:
    assert play(store, [(CHALLENGE,), (), (VERIFIED,)]) == [("verified", UID)]


def test_frame_statuses_are_shown_not_recorded(store: Store) -> None:
    frame_only = (frame_decision(Status.NO_FACE_DETECTED), frame_decision(Status.MULTIPLE_FACES))
    assert play(store, [frame_only]) == []
    assert store.access.count() == 0


def test_a_track_is_recorded_once_however_often_it_is_answered(store: Store) -> None:
    assert play(store, [(VERIFIED,), (VERIFIED,)], at_end=(VERIFIED,)) == [("verified", UID)]


def test_a_face_too_small_to_check_was_not_presented_and_is_not_recorded(store: Store) -> None:
    far = Decision(Status.LOW_QUALITY, 1.0, 4, reasons=(QualityReason.TOO_SMALL,))
    assert play(store, [(far, LOW)]) == [("low_quality", None)]  # LOW: a blurred face


def test_a_refusal_with_a_frame_too_small_among_others_was_presented_and_is_recorded(
    store: Store,
) -> None:
    """Only a face too small on its frames was not presented: one mostly refused for
    another reason, or cut off (``too_brief``) after frames refused for another reason, or
    with frames accepted, stood at the kiosk; its refusal is recorded."""
    small, blurry, brief = QualityReason.TOO_SMALL, QualityReason.BLURRY, QualityReason.TOO_BRIEF
    moving = Decision(Status.LOW_QUALITY, 1.0, 5, reasons=(blurry, small))
    cut_off = Decision(Status.LOW_QUALITY, 1.0, 6, reasons=(brief, blurry, small))
    near_enough = Decision(Status.LOW_QUALITY, 0.8, 7, reasons=(small,), frames=2)
    far_cut_off = Decision(Status.LOW_QUALITY, 1.0, 8, reasons=(brief, small, blurry))
    far_blurred = Decision(Status.LOW_QUALITY, 1.0, 9, reasons=(small, blurry))
    recorded = play(store, [(moving, far_cut_off), (cut_off, far_blurred), (near_enough,)])
    assert recorded == [("low_quality", None)] * 3


def test_only_a_verified_event_names_the_person(store: Store) -> None:
    recorded = play(store, [(NOT_MATCHED, LOW)], at_end=(VERIFIED,))
    assert recorded == [("not_matched", None), ("low_quality", None), ("verified", UID)]


QUICK = StoreConfig(busy_timeout_s=0.2, scrypt_n=2**10)


@contextlib.contextmanager
def held_by_another(path: Path) -> Iterator[None]:
    """Another connection holds the write lock (a backup, a purge, a rekey)."""
    with (
        Store.open(path, Passphrase("a kiosk passphrase"), config=QUICK) as other,
        other.database.write(),
    ):
        yield


def test_a_decision_made_while_another_writer_holds_the_store_waits_and_is_written(
    tmp_path: Path,
) -> None:
    """A backup, a purge or a rekey holding the write lock past the busy timeout used to
    lose the decision (its track was already counted as recorded) and stop the kiosk."""
    path = tmp_path / "k.db"
    with Store.create(path, Passphrase("a kiosk passphrase"), config=QUICK) as store:
        pipeline = cast(DecisionPipeline, ScriptedPipeline([(VERIFIED,), (), (), ()], ()))
        clock = Ticks()
        kiosk = KioskSession(pipeline, store, KioskIdentity("gate", "k1"), clock=clock)
        frame = np.zeros((4, 4, 3), np.uint8)
        with held_by_another(path):
            held = kiosk.process(frame)
            assert held.events == () and held.problem is not None
            assert held.problem.startswith("1 decision not yet written")
        soon = kiosk.process(frame)  # the store is free, but a retry waits RETRY_S
        assert soon.events == () and soon.problem == held.problem
        clock.now += RETRY_S
        freed = kiosk.process(frame)
        assert [(e.decision, e.person_uid) for e in freed.events] == [("verified", UID)]
        assert freed.problem is None and store.access.count() == 1
        assert kiosk.finish() == ()


def test_a_stop_while_the_store_stays_held_says_what_could_not_be_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "k.db"
    with Store.create(path, Passphrase("a kiosk passphrase"), config=QUICK) as store:
        pipeline = cast(DecisionPipeline, ScriptedPipeline([(VERIFIED,)], ()))
        kiosk = KioskSession(pipeline, store, KioskIdentity("gate", "k1"))
        with held_by_another(path):
            kiosk.process(np.zeros((4, 4, 3), np.uint8))
            with pytest.raises(KioskError, match="stopped with 1 decision not yet written"):
                kiosk.finish()


def test_a_store_error_at_stop_says_how_many_decisions_are_lost(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a wait (a disk error): the stop must say what the process takes with it."""
    pipeline = cast(DecisionPipeline, ScriptedPipeline([], (VERIFIED,)))
    kiosk = KioskSession(pipeline, store, KioskIdentity("gate", "k1"))

    def broken(event: object) -> None:
        raise StoreIOError("disk I/O error")

    monkeypatch.setattr(store.access, "record", broken)
    with pytest.raises(KioskError, match=r"stopped: 1 decision not written: disk I/O error"):
        kiosk.finish()
