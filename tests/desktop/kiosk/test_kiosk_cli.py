"""``jaga kiosk enrol`` and ``jaga kiosk run`` through ``main``, on a real store, the pack's
real models and NUAA's webcam session written as a video."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference.face.settings import FaceSettings
from inference.pack.installed import ModelPack
from main import main
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import blurred, webcam, webcam_paths, write_video
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared
CPU = ("--providers", "cpu", "--threads", "1")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, model_pack: ModelPack) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.setenv("JAGA_MODELS_DIR", str(model_pack.root))


def enrol(db: Path, *photos: Path) -> int:
    return main(["kiosk", "enrol", *map(str, photos), "--id", "B-7", "--name", "Ada",
                 "--consent-version", "v3", "--operator", "desk", "--retain-days", "90",
                 "--site", "front-gate", "--db", str(db), *CPU])  # fmt: skip


def run(db: Path, source: str, *options: str) -> int:
    return main(["kiosk", "run", source, "--site", "front-gate", "--device", "k1",
                 "--db", str(db), *CPU, *options])  # fmt: skip


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_enrol_then_run_verifies_and_records(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert enrol(store_path, *webcam_paths("live")[:2]) == 0
    enrolled = json.loads(capsys.readouterr().out)
    assert enrolled["external_id"] == "B-7" and enrolled["templates"] == 2
    video = write_video(webcam("live", 10, 12), tmp_path / "attempt.avi")
    assert run(store_path, str(video), "--claim", "B-7") == 0
    *events, summary = lines(capsys.readouterr().out)
    verified = [e for e in events if e["decision"] == "verified"]
    assert len(verified) == 1 and verified[0]["external_id"] == "B-7"
    assert verified[0]["person_uid"] == enrolled["person_uid"]
    assert summary["summary"] == {
        "frames": 12,
        "mode": "1:1",
        "access_events": len(events),
        "warning": None,
    }
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.access.count() == len(events)


def test_a_clip_shorter_than_the_tracker_needs_still_records_the_person(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two frames of the enrolled person, one fewer than the tracker needs to confirm a
    face: the attempt was neither recorded nor answered. It is low_quality, never
    verified on less than the rules ask, and audited like any decision."""
    assert enrol(store_path, *webcam_paths("live")[:2]) == 0
    capsys.readouterr()
    video = write_video(webcam("live", 10, 2), tmp_path / "brief.avi")
    assert run(store_path, str(video), "--claim", "B-7") == 0
    *events, summary = lines(capsys.readouterr().out)
    assert [(e["decision"], e["person_uid"]) for e in events] == [("low_quality", None)]
    assert summary["summary"]["access_events"] == 1  # type: ignore[index]
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        (stored,) = store.access.between("0000", "9999")
        assert stored.event_uid == events[0]["event_uid"] and stored.decision == "low_quality"
        audited = [e for e in store.audit.entries() if e.action == "access.decision"]
        assert len(audited) == 1 and store.audit.verify().ok


def test_a_wrong_key_writes_nothing(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "not the passphrase")
    assert enrol(store_path, webcam_paths("live")[0]) == 1
    assert "jaga kiosk enrol: error:" in capsys.readouterr().err
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 0


CASES = [
    ("missing.avi", (), "does not exist"),
    ("pipe.avi", (), "is not a video file (a device, a pipe or a folder)"),  # no endless wait
    ("{folder}", (), "is not a video file (a device, a pipe or a folder)"),
    ("camera:x", (), "camera:N"),
    ("camera:-1", (), "camera:N with N a number from 0"),  # OpenCV crashed on -1
    ("{video}", ("--claim", "nobody"), "nobody enrolled here has the id 'nobody'"),
]


@pytest.mark.parametrize("case", CASES)
def test_a_source_or_claim_that_cannot_run_is_one_error_line(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    case: tuple[str, tuple[str, ...], str],
) -> None:  # fmt: skip
    source, options, message = case
    video = write_video(webcam("live", 0, 2), tmp_path / "short.avi")
    if source in ("missing.avi", "pipe.avi"):
        source = str(tmp_path / source)
    if source.endswith("pipe.avi"):
        os.mkfifo(source)
    assert run(store_path, source.format(video=video, folder=tmp_path), *options) == 1
    err = capsys.readouterr().err
    assert err.startswith("jaga kiosk run: error:") and message in err, err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("kind", ["folder", "missing", "camera:x"])
def test_a_source_that_cannot_run_is_refused_before_the_models_load(
    store_path: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder (or a typo) was said not to exist only after the models had loaded: here
    there are none to load, and the source is what the one line is about."""
    source = {"folder": str(tmp_path), "missing": str(tmp_path / "gate.avi")}.get(kind, kind)
    no_models = tmp_path / "no-models"
    no_models.mkdir()
    assert run(store_path, source, "--models-dir", str(no_models)) == 1
    err = capsys.readouterr().err
    assert "(a kiosk source is a video file, or camera:N)" in err or kind == "camera:x", err
    assert "camera:N" in err and "no-models" not in err, err


def test_the_summary_counts_this_runs_events_not_the_stores(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    assert enrol(store_path, *webcam_paths("live")[:2]) == 0
    video = write_video(webcam("live", 10, 12), tmp_path / "attempt.avi")
    for _ in range(2):
        # Each run is a process of its own in the field: a run forgets the passphrase it
        # was given once its store is open (desktop.kiosk.forget), so the next is given it.
        monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
        capsys.readouterr()
        assert run(store_path, str(video)) == 0
        *events, summary = lines(capsys.readouterr().out)
        assert summary["summary"]["access_events"] == len(events) >= 1  # type: ignore[index]


def test_decisions_an_earlier_run_left_waiting_are_labelled_and_counted_apart(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run killed while the store was busy left a refusal in the kiosk's journal: the
    next run writes it first, and its line and summary say it is the earlier run's, not one
    of this run's decisions."""
    from datetime import UTC, datetime

    from desktop.kiosk.journal import DecisionJournal
    from sync.store import AccessEvent

    earlier = AccessEvent(datetime.now(UTC), "front-gate", "k1", "spoof_detected", None, None, 0.1)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        journal = DecisionJournal(store)
        journal.keep([earlier])
        journal.close()
    video = write_video(webcam("live", 10, 12), tmp_path / "attempt.avi")
    assert run(store_path, str(video)) == 0
    *events, summary = lines(capsys.readouterr().out)
    (kept,) = [e for e in events if e["event_uid"] == earlier.event_uid]
    assert kept["earlier_run"] is True
    this_run = [e for e in events if e is not kept]
    assert this_run and all("earlier_run" not in e for e in this_run)
    assert summary["summary"]["access_events"] == len(this_run)  # type: ignore[index]
    assert summary["summary"]["earlier_run_events"] == 1  # type: ignore[index]
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.access.count() == len(events)


def test_a_camera_that_stops_still_records_whoever_stood_there(
    store_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sharp frames and a blurred one (a confirmed track, not yet decided), then the
    camera is unplugged: the person is decided on what was seen before the error, too
    briefly to be let in (two accepted frames, where a live decision needs three)."""
    import desktop.kiosk.sources
    from desktop.kiosk.errors import KioskError

    assert enrol(store_path, *webcam_paths("live")[:2]) == 0
    capsys.readouterr()  # the enrolment's line

    def unplugged(source: str, max_frames: int | None = None) -> Iterator[tuple[float, Any]]:
        frames = webcam("live", 10, 3)
        for index, frame in enumerate([*frames[:2], blurred(frames[2])]):
            yield index / 10, frame
        raise KioskError("camera 0 stopped giving frames")

    monkeypatch.setattr(desktop.kiosk.sources, "source_frames", unplugged)
    assert run(store_path, "camera:0") == 1
    out, err = capsys.readouterr()
    (event,) = lines(out)
    assert (event["decision"], event["person_uid"]) == ("low_quality", None)
    similarity = event["similarity"]
    assert isinstance(similarity, float) and similarity > FaceSettings().match.identify_threshold
    assert err == "jaga kiosk run: error: camera 0 stopped giving frames\n"
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.access.count() == 1


def test_a_camera_that_stops_is_still_named_when_its_people_cannot_be_written(
    store_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The camera stops, then writing whoever stood there fails too (a full disk, faked here
    at the session's finish): both are said, the camera's first, not the second alone."""
    import desktop.kiosk.session
    import desktop.kiosk.sources
    from desktop.kiosk.errors import KioskError

    def unplugged(source: str, max_frames: int | None = None) -> Iterator[tuple[float, Any]]:
        yield 0.0, webcam("live", 10, 1)[0]
        raise KioskError("camera 0 stopped giving frames")

    def full(self: Any) -> tuple[Any, ...]:
        raise KioskError("stopped: 1 decision not written: disk full")

    monkeypatch.setattr(desktop.kiosk.sources, "source_frames", unplugged)
    monkeypatch.setattr(desktop.kiosk.session.KioskSession, "finish", full)
    assert run(store_path, "camera:0") == 1
    assert capsys.readouterr().err.splitlines() == [
        "jaga kiosk run: error: camera 0 stopped giving frames",
        "jaga kiosk run: error: stopped: 1 decision not written: disk full",
    ]


def test_ctrl_c_records_the_open_tracks_and_still_prints_the_summary(
    store_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import desktop.kiosk.sources

    assert enrol(store_path, *webcam_paths("live")[:2]) == 0
    capsys.readouterr()

    def interrupted(source: str, max_frames: int | None = None) -> Iterator[tuple[float, Any]]:
        for index, frame in enumerate(webcam("live", 10, 6)):
            yield index / 10, frame
        raise KeyboardInterrupt

    monkeypatch.setattr(desktop.kiosk.sources, "source_frames", interrupted)
    assert run(store_path, "camera:0") == 130
    *events, summary = lines(capsys.readouterr().out)
    assert summary["summary"]["interrupted"] is True  # type: ignore[index]
    assert summary["summary"]["frames"] == 6 and len(events) >= 1  # type: ignore[index]
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.access.count() == len(events)


@pytest.mark.parametrize("failing", ["wrong key", "no models"])
def test_a_camera_is_opened_only_once_the_store_and_the_models_are(
    store_path: Path, tmp_path: Path, failing: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The camera was opened before the passphrase was asked for: its light came on and it
    was held while the operator typed, and a wrong passphrase (or a missing model) left it
    opened for nothing."""
    import desktop.kiosk.sources

    opened: list[str] = []

    def camera(source: str, max_frames: int | None = None) -> Iterator[tuple[float, Any]]:
        opened.append(source)
        return iter(())

    monkeypatch.setattr(desktop.kiosk.sources, "source_frames", camera)
    if failing == "wrong key":
        monkeypatch.setenv(PASSPHRASE_ENV, "not the passphrase")
        options: tuple[str, ...] = ()
    else:
        (tmp_path / "no-models").mkdir()
        options = ("--models-dir", str(tmp_path / "no-models"))
    assert run(store_path, "camera:0", *options) == 1
    assert capsys.readouterr().err.startswith("jaga kiosk run: error:")
    assert opened == []
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    assert run(store_path, "camera:0") == 0  # once both open, the camera is
    assert opened == ["camera:0"]


@pytest.mark.parametrize(
    "case",
    [
        ("--retain-days", "0", "expected a number of days from 1 to 36500, got '0'"),
        ("--retain-days", "36501", "expected a number of days from 1 to 36500, got '36501'"),
        ("--consent-version", " ", "enrolment needs a consent version"),
        ("--operator", "", "enrolment needs an operator"),
        ("--name", "  ", "enrolment needs a display name"),
        ("--id", "B-\n1", "holds a control character (U+000A)"),
        ("--id", " ", "enrolment needs an external id"),
        # shown as another name than stored, in the gallery, the hub and every export
        ("--name", "Ana \u202eziuR", "a display name holds no control character or"
         " bidirectional override ('\\u202e')"),
        ("--operator", "desk\x07", "an operator holds no control character"),
        ("--consent-version", "v3\u2066", "a consent version holds no control character"),
    ],
)  # fmt: skip
def test_an_enrolment_argument_that_cannot_be_is_a_usage_error_before_the_models_load(
    store_path: Path, tmp_path: Path, case: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit status 2, as the README says of a bad argument, naming it: it was 1, after the
    models had loaded (here there are none to load, and no photo to read)."""
    option, value, said = case
    no_models = tmp_path / "no-models"
    no_models.mkdir()
    given = {"--id": "B-7", "--name": "Ada", "--consent-version": "v3", "--operator": "desk",
             "--retain-days": "90", option: value}  # fmt: skip
    argv = ["kiosk", "enrol", str(tmp_path / "none.jpg"), "--site", "front-gate",
            "--db", str(store_path), "--models-dir", str(no_models), *CPU]  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        main([*argv, *(item for pair in given.items() for item in pair)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and said in err, err


def test_run_on_a_reset_clock_says_its_times_are_wrong(
    store_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flat RTC battery: the clock reads 2000, on a build released since. Each decision is
    still recorded at the clock's time; the operator is told, and so are the summary and
    each decision's line."""
    from datetime import UTC, datetime

    from sync.store import SystemClock

    assert enrol(store_path, *webcam_paths("live")[:2]) == 0
    capsys.readouterr()
    monkeypatch.setattr(SystemClock, "now", lambda self: datetime(2000, 1, 1, tzinfo=UTC))
    video = write_video(webcam("live", 10, 2), tmp_path / "brief.avi")
    assert run(store_path, str(video)) == 0
    captured = capsys.readouterr()
    assert "jaga kiosk run: warning: this device's clock looks wrong" in captured.err
    *events, last = lines(captured.out)
    assert "clock looks wrong" in last["summary"]["clock"]  # type: ignore[index]
    assert events and all(event["clock_suspect"] is True for event in events), events


def test_run_says_a_journal_it_set_aside_at_start(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A journal under another key than the store's, set aside unrecorded as the run starts:
    said on stderr as the other warnings at start are, and named in the summary."""
    from datetime import UTC, datetime

    from desktop.kiosk.journal import DecisionJournal, journal_path
    from sync.store import AccessEvent

    other = tmp_path / "other.db"
    with Store.create(other, Passphrase("another passphrase"), config=FAST) as store:
        journal = DecisionJournal(store)
        journal.keep([AccessEvent(datetime.now(UTC), "front-gate", "k1", "not_matched", None,
                                  0.2, 0.9)])  # fmt: skip
        journal.close()
    journal_path(other).rename(journal_path(store_path))
    video = write_video(webcam("live", 10, 2), tmp_path / "brief.avi")
    assert run(store_path, str(video)) == 0
    caplog.clear()  # the error the kiosk logs, which this test expects
    captured = capsys.readouterr()
    assert "jaga kiosk run: warning: " in captured.err and "not recorded" in captured.err
    (aside,) = [p.name for p in store_path.parent.glob("jaga.db.kiosk-waiting.unreadable-*")
                if not p.name.endswith(("-wal", "-shm"))]  # fmt: skip
    assert f"set aside as {aside}" in captured.err, captured.err
    summary = lines(captured.out)[-1]["summary"]
    assert summary["journal_set_aside"] == aside  # type: ignore[index]
