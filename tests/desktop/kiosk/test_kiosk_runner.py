"""The live kiosk's two threads, with the real session (models, store) and recorded frames
standing in for the camera: every frame it processes is shown, the tracks still open at
the end are recorded, a failure on either side ends both threads with one report, and a
camera that goes away is opened again after a back-off (paused at once here)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import main
from desktop.kiosk.assemble import KioskOptions, open_kiosk
from desktop.kiosk.errors import KioskError
from desktop.kiosk.frame import KioskFrame
from desktop.kiosk.runner import KioskRunner, Outage
from desktop.kiosk.session import KioskSession
from desktop.kiosk.sources import KioskSourceError, source_frames
from desktop.kiosk.writer import KIOSK_BUSY_TIMEOUT_S
from inference.pack.installed import ModelPack
from sync.errors import WrongKeyError
from sync.store import AccessEvent, Passphrase, Store
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import webcam
from tests.sync.conftest import FAST

pytestmark = pytest.mark.needs_shared


@dataclass
class Listener:
    ready_at: float | None = None
    frames: list[KioskFrame] = field(default_factory=list)
    finished_with: tuple[AccessEvent, ...] | None = None
    errors: list[BaseException] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def ready(self, session: KioskSession) -> None:
        self.ready_at = time.monotonic()

    def frame(self, image: object, frame: KioskFrame) -> None:
        self.frames.append(frame)

    def finished(self, events: tuple[AccessEvent, ...]) -> None:
        self.finished_with = events

    def failed(self, error: BaseException) -> None:
        self.errors.append(error)

    def unavailable(self, outage: Outage) -> None:
        self.outages.append(outage)


def runner(store_path: Path, model_pack: ModelPack, frames: object, listener: Listener,
           *, passphrase: str = PASSPHRASE, opener: object = None, camera: bool = False,
           pauses: list[float] | None = None) -> KioskRunner:  # fmt: skip
    options = KioskOptions(models_dir=model_pack.root, providers="cpu", threads=1,
                           site="front-gate", device="k1")  # fmt: skip
    return KioskRunner(
        frames,  # type: ignore[arg-type]
        opener or (lambda: open_kiosk(store_path, Passphrase(passphrase), options, {}, FAST)),  # type: ignore[arg-type]
        listener,
        camera=camera,
        pause=None if pauses is None else pauses.append,
    )


def in_step(listener: Listener, count: int) -> Iterator[tuple[float, object]]:
    """A camera that gives its next frame only once the last one was processed, so that no
    frame is dropped and the decisions do not depend on this machine's speed."""
    for index, frame in enumerate(webcam("live", 10, count)):
        deadline = time.monotonic() + 60
        while len(listener.frames) < index and time.monotonic() < deadline:
            time.sleep(0.01)
        yield index / 10, frame


def endless() -> Iterator[tuple[float, object]]:
    """One frame over and over, as fast as it can be given: a camera that never ends."""
    (frame,) = webcam("live", 10, 1)
    index = 0
    while True:
        yield index / 30, frame
        index += 1


def test_frames_are_processed_and_open_tracks_recorded_at_the_end(
    store_path: Path, model_pack: ModelPack
) -> None:
    listener = Listener()
    kiosk = runner(store_path, model_pack, lambda: in_step(listener, 8), listener)
    kiosk.start()
    assert kiosk.wait(120.0), "the stream ended but the threads did not"
    assert listener.ready_at is not None and not listener.errors
    assert len(listener.frames) == 8 and kiosk.dropped == 0
    assert listener.finished_with is not None
    recorded = [e for f in listener.frames for e in f.events] + list(listener.finished_with)
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.access.count() == len(recorded) >= 1


def test_a_stop_ends_both_threads_between_frames(store_path: Path, model_pack: ModelPack) -> None:
    listener = Listener()
    kiosk = runner(store_path, model_pack, endless, listener)
    kiosk.start()
    deadline = time.monotonic() + 120
    while len(listener.frames) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kiosk.stop(30.0)
    assert listener.finished_with is not None and not listener.errors
    assert not [t for t in threading.enumerate() if t.name.startswith("jaga-kiosk")]


def test_a_video_that_fails_ends_the_stream_with_its_error(
    store_path: Path, model_pack: ModelPack
) -> None:
    listener = Listener()

    def unplugged() -> Iterator[tuple[float, object]]:
        yield from in_step(listener, 2)
        raise KioskError("camera 0 stopped giving frames")

    kiosk = runner(store_path, model_pack, unplugged, listener)
    kiosk.start()
    assert kiosk.wait(120.0)
    assert [str(e) for e in listener.errors] == ["camera 0 stopped giving frames"]
    assert listener.finished_with is not None  # what was seen is still recorded


def test_a_camera_gone_is_opened_again_after_a_growing_back_off(
    store_path: Path, model_pack: ModelPack
) -> None:
    """It stops giving frames, then cannot be opened for two tries (being re-enumerated);
    the person seen before is recorded when it goes, and frames go on once it is back."""
    listener, opened, pauses = Listener(), [], []  # type: ignore[var-annotated]

    def flaky() -> Iterator[tuple[float, object]]:
        opened.append(len(opened))
        if len(opened) in (2, 3):
            raise KioskError("camera 0 cannot be opened (not connected, or in use)")
        if len(opened) == 1:
            yield from in_step(listener, 4)
            raise KioskError("camera 0 stopped giving frames")
        (frame,) = webcam("live", 10, 1)
        for index in range(1000):  # until two more are processed; then the test's camera ends
            if len(listener.frames) >= 6:
                return
            yield 10 + index / 10, frame
            time.sleep(0.01)

    kiosk = runner(store_path, model_pack, flaky, listener, camera=True, pauses=pauses)
    kiosk.start()
    assert kiosk.wait(120.0)
    assert not listener.errors and opened == [0, 1, 2, 3] and pauses == [1.0, 2.0, 4.0]
    # told between frames, the newest only (tries without a frame between replace it)
    assert [outage.part for outage in listener.outages] == ["camera"]
    assert listener.outages[0].reason.startswith("camera 0 ")
    assert len(listener.frames) >= 6 and listener.finished_with is not None
    recorded = [e for f in listener.frames for e in f.events] + list(listener.finished_with)
    recorded += [e for outage in listener.outages for e in outage.events]
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.access.count() == len(recorded) >= 1


def test_a_store_that_does_not_open_stops_the_camera_too(
    store_path: Path, model_pack: ModelPack
) -> None:
    listener = Listener()
    kiosk = runner(store_path, model_pack, endless, listener, passphrase="wrong")
    kiosk.start()
    assert kiosk.wait(120.0), "the capture thread ran on with nobody taking frames"
    assert len(listener.errors) == 1 and isinstance(listener.errors[0], WrongKeyError)
    assert listener.ready_at is None and listener.finished_with is None


def test_the_kiosk_waits_only_briefly_for_the_write_lock(
    store_path: Path, model_pack: ModelPack
) -> None:
    """With the store's 5 s busy timeout, every frame stalled 5 s while a rekey or a backup
    held the lock; the kiosk's events wait in memory instead (desktop.kiosk.writer)."""
    options = KioskOptions(models_dir=model_pack.root, providers="cpu", threads=1,
                           site="front-gate", device="k1")  # fmt: skip
    with open_kiosk(store_path, Passphrase(PASSPHRASE), options, {}, FAST) as session:
        assert session.store.database.config.busy_timeout_s == KIOSK_BUSY_TIMEOUT_S < 1


def test_a_stop_while_the_models_load_never_says_ready(
    store_path: Path, model_pack: ModelPack
) -> None:
    """Closing the window while the models load (minutes for a first TensorRT build): the
    inference thread must not report "ready" to a window that is gone."""
    loading = threading.Event()
    release = threading.Event()
    options = KioskOptions(models_dir=model_pack.root, providers="cpu", threads=1,
                           site="front-gate", device="k1")  # fmt: skip

    @contextlib.contextmanager
    def slow_open() -> Iterator[KioskSession]:
        loading.set()
        release.wait(60)
        with open_kiosk(store_path, Passphrase(PASSPHRASE), options, {}, FAST) as session:
            yield session

    listener = Listener()
    kiosk = runner(store_path, model_pack, lambda: in_step(listener, 1), listener,
                   opener=slow_open)  # fmt: skip
    kiosk.start()
    assert loading.wait(60)
    assert kiosk.stop(0.05) is False  # still loading
    release.set()
    assert kiosk.wait(120.0)
    assert listener.ready_at is None and listener.finished_with == ()


def test_a_camera_source_that_is_no_camera_is_refused_not_retried(
    store_path: Path, model_pack: ModelPack
) -> None:
    """'camera:x' (a typo) can never open: it was retried for ever, 1, 2, 4 ... 30 s apart,
    like an unplugged camera, and never said to be a configuration error."""
    listener, pauses = Listener(), []  # type: ignore[var-annotated]
    kiosk = runner(store_path, model_pack, lambda: source_frames("camera:x"), listener,
                   camera=True, pauses=pauses)  # fmt: skip
    kiosk.start()
    assert kiosk.wait(120.0)
    assert pauses == [] and listener.outages == []
    assert [type(e) for e in listener.errors] == [KioskSourceError]
    assert "camera:N" in str(listener.errors[0])


@pytest.mark.parametrize("source", ["camera:x", "camera:-1", "camera:"])
def test_the_app_refuses_a_camera_source_that_is_no_camera_when_started(
    capsys: pytest.CaptureFixture[str], source: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main.build_parser().parse_args(["app", "--kiosk", source])
    assert exited.value.code == 2
    assert "camera:N" in capsys.readouterr().err


def test_the_app_takes_a_camera_or_a_video_as_its_kiosk_source() -> None:
    for source in ("camera:0", "camera:2", "entrance.mp4"):
        assert main.build_parser().parse_args(["app", "--kiosk", source]).kiosk == source
