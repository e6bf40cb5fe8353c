"""``jaga kiosk run`` on a source that gives no frame (a video saved with none, or with
every frame damaged) or on a still photo (a JPEG or a PNG, whatever it is named): one line,
exit status 1, before the models load or the store is opened; it ran as a kiosk that saw
nothing, or one face once, and said it was done (exit 0). Through ``main`` on a real store
with the pack's real models, and once as its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inference.pack.installed import ModelPack
from main import main
from sync.store import Passphrase, Store
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.inference.face.frameless import frameless, still
from tests.sync.conftest import FAST

REPO = Path(__file__).resolve().parents[3]
NO_FRAME = "holds no frame it can read: an empty or damaged video"
SOURCES = {"saved with none": ("frameless", NO_FRAME),
           "damaged frames": ("frameless", NO_FRAME),
           "jpeg": ("still", "is a still photo, not a video"),
           "png": ("still", "is a still photo, not a video")}  # fmt: skip


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, model_pack: ModelPack) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.setenv("JAGA_MODELS_DIR", str(model_pack.root))


def source(folder: Path, kind: str) -> Path:
    made, _ = SOURCES[kind]
    return frameless(folder, kind) if made == "frameless" else still(folder, kind)


@pytest.mark.parametrize("kind", SOURCES)
def test_a_source_without_frames_to_run_is_one_line(
    store_path: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = source(tmp_path, kind)
    code = main(["kiosk", "run", str(path), "--site", "front-gate", "--device", "k1",
                 "--db", str(store_path), "--providers", "cpu", "--threads", "1"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1, captured
    assert captured.err == (
        f"jaga kiosk run: error: {path} {SOURCES[kind][1]}"
        " (a kiosk source is a video file, or camera:N)\n"
    )
    assert captured.out == ""
    with Store.open(store_path, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.access.count() == 0


def test_a_png_named_as_a_video_is_refused_by_the_command(store_path: Path, tmp_path: Path) -> None:
    """As an operator runs it; no models are needed to refuse it."""
    path = still(tmp_path, "png")
    no_models = tmp_path / "no-models"
    no_models.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "main", "kiosk", "run", str(path), "--site", "front-gate",
         "--device", "k1", "--db", str(store_path), "--models-dir", str(no_models)],
        cwd=REPO, env=os.environ | {PASSPHRASE_ENV: PASSPHRASE}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done
    assert done.stderr.splitlines() == [
        f"jaga kiosk run: error: {path} is a still photo, not a video"
        " (a kiosk source is a video file, or camera:N)"
    ], done.stderr
