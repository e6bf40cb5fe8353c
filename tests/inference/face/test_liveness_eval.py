"""``jaga eval liveness``: the ISO/IEC 30107-3 measures, and the command on a small tree."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from inference.face import FaceDetector
from inference.face.cli_options import add_eval_liveness_parser
from inference.face.eval_liveness import (
    LivenessJudge,
    evaluate_liveness,
    presentations,
)
from inference.face.liveness import PassiveLiveness
from inference.face.liveness_metrics import det_curve, equal_error, iso_errors
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path

# --- measures ----------------------------------------------------------------------------------


def test_iso_errors_per_type_worst_and_pooled() -> None:
    live = np.array([0.9, 0.8, 0.2, 0.6])
    attacks = {"print": np.array([0.1, 0.0, 0.05, 0.7]), "replay": np.array([0.6, 0.9])}
    errors = iso_errors(live, attacks, threshold=0.5)
    assert errors.per_type["print"].apcer == pytest.approx(0.25)
    assert errors.per_type["replay"].apcer == pytest.approx(1.0)
    assert errors.apcer == pytest.approx(1.0)  # the worst type
    assert errors.apcer_pooled == pytest.approx(3 / 6)
    assert errors.bpcer == pytest.approx(0.25)
    assert errors.acer == pytest.approx((1.0 + 0.25) / 2)


def test_a_score_at_the_threshold_is_accepted() -> None:
    errors = iso_errors(np.array([0.5]), {"print": np.array([0.5])}, threshold=0.5)
    assert errors.bpcer == 0.0 and errors.apcer == 1.0


def test_det_curve_runs_from_all_accepted_to_none() -> None:
    curve = det_curve(np.array([0.9, 0.7, 0.4]), np.array([0.1, 0.3, 0.8]))
    assert curve.apcer[0] == 1.0 and curve.bpcer[0] == 0.0
    assert curve.apcer[-1] == 0.0 and curve.bpcer[-1] == 1.0
    assert np.all(np.diff(curve.apcer) <= 0) and np.all(np.diff(curve.bpcer) >= 0)
    rate, threshold = equal_error(curve)
    assert rate == pytest.approx(1 / 3) and 0.3 < threshold <= 0.8


def test_separable_scores_have_no_equal_error() -> None:
    rate, threshold = equal_error(det_curve(np.array([0.8, 0.9]), np.array([0.1, 0.2])))
    assert rate == 0.0 and 0.2 < threshold <= 0.8


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def judge(model_pack: ModelPack) -> LivenessJudge:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(1))
    return LivenessJudge(FaceDetector.from_runtime(runtime), PassiveLiveness.from_runtime(runtime))


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """live/: 2 NUAA live frames, a blank image, a broken file; attack/print/: 2 NUAA prints;
    attack/replay/: the tablet sample; attack/: one print directly."""
    nuaa = shared_path("data", "spoof", "nuaa", "train", "frames")
    live, attack = tmp_path / "live", tmp_path / "attack"
    for folder in (live / "s1", attack / "print", attack / "replay"):
        folder.mkdir(parents=True)
    for source in sorted((nuaa / "live" / "0002").glob("*.jpg"))[:2]:
        shutil.copy(source, live / "s1" / source.name)
    prints = sorted((nuaa / "print" / "0003").glob("*.jpg"))
    for source in prints[:2]:
        shutil.copy(source, attack / "print" / source.name)
    shutil.copy(prints[2], attack / "loose.jpg")
    shutil.copy(shared_path("data", "spoof", "samples", "image_F2.jpg"), attack / "replay")
    cv2.imwrite(str(live / "blank.png"), np.full((240, 320, 3), 128, np.uint8))
    (live / "broken.jpg").write_bytes(b"not a jpeg")
    return live, attack


def test_presentations_take_types_from_sub_folders(tree: tuple[Path, Path]) -> None:
    live, attack = tree
    found = presentations(live, attack)
    assert sum(p.label == "live" for p in found) == 4
    assert {p.attack_type for p in found if p.label == "attack"} == {"print", "replay", "attack"}
    single = presentations(live, attack, attack_type="any")
    assert {p.attack_type for p in single if p.label == "attack"} == {"any"}


def test_eval_writes_the_report_and_plots(
    judge: LivenessJudge, tree: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "R.json"
    body = evaluate_liveness(*tree, out, judge)
    written: dict[str, Any] = json.loads(out.read_text())
    assert written["apcer"] == body["apcer"] == 0.0  # measured: prints < 0.1, the tablet 0.005
    assert set(written["apcer_per_type"]) == {"print", "replay", "attack"}
    assert written["bpcer"] == 0.0 and written["acer"] == 0.0  # subject 0002 scores > 0.99
    assert written["no_face"]["live"]["count"] == 1 and written["no_face"]["count"] == 1
    assert written["unreadable"] == ["broken.jpg"]
    assert written["seconds_per_image"] > 0
    assert len(written["images"]) == 8
    for name in written["plots"].values():
        assert (out.parent / name).stat().st_size > 0


def _parse(*arguments: str) -> argparse.Namespace:
    root = argparse.ArgumentParser()
    add_eval_liveness_parser(root.add_subparsers())
    return root.parse_args(["liveness", *arguments])


def test_command_line_returns_exit_codes(
    model_pack: ModelPack, tree: tuple[Path, Path], tmp_path: Path
) -> None:
    live, attack = tree
    common = ["--models-dir", str(model_pack.root), "--threads", "1"]
    out = tmp_path / "cli" / "R.json"
    ok = _parse("--live", str(live), "--attack", str(attack), "--out", str(out), *common)
    assert ok.handler(ok) == 0 and out.exists()
    missing = _parse("--live", str(tmp_path / "nowhere"), "--attack", str(attack),
                     "--out", str(tmp_path / "R.json"), *common)  # fmt: skip
    assert missing.handler(missing) == 1
    empty = tmp_path / "no-attacks"
    empty.mkdir()
    nothing = _parse("--live", str(live), "--attack", str(empty),
                     "--out", str(tmp_path / "R2.json"), *common)  # fmt: skip
    assert nothing.handler(nothing) == 1  # APCER 0 of nothing is no measurement
    assert not (tmp_path / "R2.json").exists()
