"""``jaga kiosk run``'s line for a ``low_quality`` decision says why, as the kiosk's screen
does ("Not checked: stay in front of the camera a moment"): its reasons, most telling
first, as ``jaga face detect`` prints a decision's. Through ``main``, on a real store, the
pack's real models and NUAA's webcam session written as a video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.pack.installed import ModelPack
from main import main
from sync.store.key_sources import PASSPHRASE_ENV
from tests.desktop.conftest import PASSPHRASE
from tests.desktop.kiosk.conftest import blurred, webcam, write_video

pytestmark = pytest.mark.needs_shared


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, model_pack: ModelPack) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.setenv("JAGA_MODELS_DIR", str(model_pack.root))


def test_a_low_quality_line_says_why(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twelve frames of a person out of focus: the quality gate rejects the face."""
    video = write_video([blurred(f) for f in webcam("live", 10, 12)], tmp_path / "blur.avi")
    assert main(["kiosk", "run", str(video), "--site", "front-gate", "--device", "k1",
                 "--db", str(store_path), "--providers", "cpu", "--threads", "1"]) == 0  # fmt: skip
    *events, _summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [event["decision"] for event in events] == ["low_quality"], events
    assert events[0]["reasons"][0] == "blurry", events


def test_other_decisions_have_no_reasons_to_print(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twelve frames of someone not enrolled: not_matched, said by its scores alone."""
    video = write_video(webcam("live", 10, 12), tmp_path / "stranger.avi")
    assert main(["kiosk", "run", str(video), "--site", "front-gate", "--device", "k1",
                 "--db", str(store_path), "--providers", "cpu", "--threads", "1"]) == 0  # fmt: skip
    *events, _summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [event["decision"] for event in events] == ["not_matched"], events
    assert "reasons" not in events[0], events
