"""The pipeline's one place for thresholds: where the decision's numbers come from, and how
a deployment overrides them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from inference.errors import InputError
from inference.face.decide import ChallengePolicy, Mode
from inference.face.settings import FaceSettings, load_settings


def test_decision_thresholds_come_from_the_models_settings() -> None:
    settings = FaceSettings()
    verify, identify = settings.thresholds(Mode.VERIFY), settings.thresholds(Mode.IDENTIFY)
    assert verify.liveness == identify.liveness == settings.liveness.threshold
    assert verify.similarity == settings.match.verify_threshold
    assert identify.similarity == settings.match.identify_threshold
    assert settings.thresholds(Mode.VERIFY, similarity=0.42).similarity == 0.42  # a BYO model
    assert verify.challenge_below == settings.decision.challenge_below


def test_still_images_are_decided_at_once() -> None:
    still = FaceSettings().for_still_images()
    assert still.tracker.min_hits == 1 and still.decision.min_frames == 1
    assert still.quality == FaceSettings().quality


def test_every_setting_prints_as_plain_json() -> None:
    table = FaceSettings().as_dict()
    assert json.loads(json.dumps(table)) == table
    assert table["decision"]["challenge"] == "never"
    assert table["liveness"]["models"][0]["model_id"] == "minifasnet_v2"


def test_a_settings_file_overrides_scalars_of_any_section(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[decision]\nchallenge = "uncertain"\nmax_seconds = 5\n'
                    "[frames]\nsingle_subject = true\n[liveness]\nthreshold = 0.3\n",
                    encoding="utf-8")  # fmt: skip
    settings = load_settings(path)
    assert settings.decision.challenge is ChallengePolicy.UNCERTAIN
    assert settings.decision.max_seconds == 5.0 and settings.frames.single_subject
    assert settings.thresholds(Mode.VERIFY).liveness == 0.3
    assert load_settings(None) == FaceSettings()


@pytest.mark.parametrize(
    "text",
    [
        '[decision]\nchallenge = "sometimes"\n',
        "[decision]\nmin_frames = 2.5\n",
        "[frames]\nsingle_subject = 1\n",
        "[liveness]\nmodels = []\n",
        "decision = 3\n",
        "[liveness]\nthreshold = 1.5\n",
        "[quality]\nmin_face_side_px = nan\n",  # every comparison with nan passes the gate
        "[match]\nidentify_threshold = -inf\n",
        "[liveness]\nreal_class = 3\n",
    ],
)
def test_wrong_values_are_input_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError):
        load_settings(path)


@pytest.mark.parametrize("kind", ["named pipe", "/dev/zero", "folder"])
def test_a_settings_file_that_is_not_a_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    """A named pipe waited for a writer for ever; /dev/zero was read until memory ran out."""
    path = {"named pipe": tmp_path / "pipe.toml", "/dev/zero": Path("/dev/zero")}.get(
        kind, tmp_path
    )
    if kind == "named pipe":
        os.mkfifo(path)
    with pytest.raises(InputError, match="is not a settings file \\(a device, a pipe or a folder"):
        load_settings(path)


def test_a_settings_file_over_a_mib_is_refused_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text("# " + "x" * (1 << 20) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"huge.toml is too large for a settings file \("):
        load_settings(path)
