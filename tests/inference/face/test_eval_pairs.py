"""``jaga eval pairs``: the measures on hand-made scores, the CSV reader, and a small run on
real LFW pairs through the whole pipeline."""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

import main
from inference.errors import InputError
from inference.face import FaceDetector
from inference.face.align import FaceAligner
from inference.face.cli_options import NoFacePolicy, add_eval_pairs_parser
from inference.face.embed import FaceEmbedder
from inference.face.eval_common import (
    FacePipeline,
    auc,
    best_threshold,
    cross_validate,
    roc,
    tar_at_far,
)
from inference.face.eval_pairs import evaluate_pairs, read_pairs
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path

REQUIRED_KEYS = {
    "accuracy_at_default",
    "best_accuracy",
    "auc",
    "tar_at_far",
    "failed_images",
    "seconds_per_image",
}


@pytest.fixture(scope="module")
def pipeline(model_pack: ModelPack, detector: FaceDetector) -> FacePipeline:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))
    return FacePipeline(detector, FaceAligner(), FaceEmbedder.from_runtime(runtime))


def test_roc_auc_and_tar_on_hand_made_scores() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    same = np.array([True, True, False, True, False, False])
    curve = roc(scores, same)
    np.testing.assert_allclose(curve.far, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(curve.tar, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    assert auc(curve) == pytest.approx(8 / 9)  # 8 of the 9 genuine-impostor orders are right
    tar, threshold = tar_at_far(curve, 0.0)
    assert tar == pytest.approx(2 / 3) and threshold == pytest.approx(0.8)
    threshold, accuracy = best_threshold(scores, same)
    assert accuracy == pytest.approx(5 / 6) and 0.4 < threshold < 0.8


def test_one_kind_of_pair_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        roc(np.array([0.5, 0.6]), np.array([True, True]))


def test_ties_count_half_in_the_auc() -> None:
    curve = roc(np.array([0.5, 0.5]), np.array([True, False]))
    assert auc(curve) == pytest.approx(0.5)


def test_cross_validation_judges_each_fold_on_the_others_threshold() -> None:
    rng = np.random.default_rng(0)
    same = rng.random(400) < 0.5
    scores = np.where(same, 0.8, 0.4) + rng.normal(0, 0.1, 400)
    folds = np.repeat(np.arange(1, 5), 100)
    result = cross_validate(scores, same, folds)
    assert result["folds"] == 4
    thresholds = result["fold_thresholds"]
    assert isinstance(thresholds, list) and all(0.45 < t < 0.75 for t in thresholds)
    assert 0.9 < float(result["accuracy_mean"]) <= 1.0  # type: ignore[arg-type]


def test_pairs_csv_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError):
        read_pairs(bad)
    bad.write_text("image_a,image_b,same\nx.jpg,y.jpg,maybe\n")
    with pytest.raises(InputError):
        read_pairs(bad)
    with pytest.raises(InputError):
        read_pairs(tmp_path / "missing.csv")
    bad.write_text("image_a,image_b,same\nx.jpg,y.jpg\n")  # a short row: no same at all
    with pytest.raises(InputError, match="no same"):
        read_pairs(bad)
    bad.write_bytes(b"image_a,image_b,same\n\xff\xfe.jpg,y.jpg,1\n")
    with pytest.raises(InputError, match="UTF-8"):
        read_pairs(bad)
    good = tmp_path / "good.csv"
    good.write_text("image_a,image_b,same,extra\nx.jpg,y.jpg,1,zz\nx.jpg,z.jpg,0,zz\n")
    pairs = read_pairs(good)
    assert [(p.same, p.fold) for p in pairs] == [(True, None), (False, None)]


def lfw_subset(tmp_path: Path, count: int) -> Path:
    """The first ``count`` genuine and ``count`` impostor pairs of each of folds 1 and 2."""
    with shared_path("data", "faces", "lfw", "pairs.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    chosen = []
    for fold in ("1", "2"):
        for same in ("1", "0"):
            chosen += [r for r in rows if r["fold"] == fold and r["same"] == same][:count]
    path = tmp_path / "pairs.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    return path


@pytest.mark.needs_shared
def test_small_lfw_run_writes_the_report_and_curves(tmp_path: Path, pipeline: FacePipeline) -> None:
    pairs = lfw_subset(tmp_path, 3)
    out = tmp_path / "out" / "R.json"
    images = shared_path("data", "faces", "lfw", "images")
    report = evaluate_pairs(pairs, images, out, pipeline, policy=NoFacePolicy.FAIL)
    written = json.loads(out.read_text())
    assert set(written) >= REQUIRED_KEYS and written == json.loads(json.dumps(report))
    assert set(written["tar_at_far"]) == {"0.01", "0.001"}
    assert written["pairs"] == 12 and written["cross_validation"]["folds"] == 2
    assert written["best_accuracy"] >= 0.9 and written["auc"] >= 0.9
    assert written["failed_images"] == 0 and written["seconds_per_image"] > 0
    assert (out.parent / "R_roc.png").stat().st_size > 0
    assert (out.parent / "R_det.png").stat().st_size > 0


@pytest.mark.needs_shared
def test_an_unreadable_image_fails_its_pairs_only(tmp_path: Path, pipeline: FacePipeline) -> None:
    images = tmp_path / "images"
    images.mkdir()
    source = shared_path("data", "faces", "lfw", "images")
    for name in ("Abel_Pacheco_0001.jpg", "Abel_Pacheco_0004.jpg", "Aaron_Sorkin_0001.jpg"):
        (images / name).write_bytes((source / name).read_bytes())
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "image_a,image_b,same\nAbel_Pacheco_0001.jpg,Abel_Pacheco_0004.jpg,1\n"
        "Abel_Pacheco_0001.jpg,Aaron_Sorkin_0001.jpg,0\n"
        "broken.jpg,Aaron_Sorkin_0001.jpg,1\n"
    )
    report = evaluate_pairs(pairs, images, tmp_path / "R.json", pipeline)
    assert report["failed_images"] == 1 and report["unreadable_images"] == 1
    assert report["pairs_with_failed_image"] == 1


def test_parser_registers_a_handler() -> None:
    parser = argparse.ArgumentParser()
    add_eval_pairs_parser(parser.add_subparsers())
    args = parser.parse_args(["pairs", "--pairs", "p.csv", "--images", "d", "--out", "r.json"])
    assert callable(args.handler) and args.no_face == "fail"


def test_an_unwritable_report_or_a_missing_image_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("image_a,image_b,same\nx.jpg,y.jpg,1\nx.jpg,z.jpg,0\n")
    argv = ["eval", "pairs", "--pairs", str(pairs), "--out", str(tmp_path / "R.json")]
    assert main.main([*argv, "--images", str(tmp_path / "nowhere")]) == 1
    assert "not a folder of images" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["named pipe", "/dev/zero", "folder"])
def test_a_pairs_file_that_is_not_a_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    """A named pipe waited for a writer for ever."""
    path = {"named pipe": tmp_path / "pairs.csv", "/dev/zero": Path("/dev/zero")}.get(
        kind, tmp_path
    )
    if kind == "named pipe":
        os.mkfifo(path)
    with pytest.raises(InputError, match="is not a pairs file \\(a device, a pipe or a folder"):
        read_pairs(path)


@pytest.mark.parametrize(
    ("pairs_text", "images", "message"),
    [
        ("image_a,image_b\nx.jpg,y.jpg\n", "folder", "needs a header with image_a,image_b,same"),
        ("image_a,image_b,same\nx.jpg,y.jpg,1\n", "folder", "needs both same-person"),
        ("image_a,image_b,same\nx.jpg,y.jpg,1\nx.jpg,z.jpg,0\n", "nowhere", "not a folder"),
        (
            "image_a,image_b,same\nx.jpg,y.jpg,1\nx.jpg,z.jpg,0\n",
            "folder",
            "holds none of the 3 images",
        ),  # was accuracy 0.5 over 3 failed images
    ],
    ids=["no same column", "one kind of pair", "no image folder", "none of the images"],
)
def test_bad_pairs_or_images_are_refused_before_the_models_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pairs_text: str, images: str,
    message: str,
) -> None:  # fmt: skip
    """A bad pairs file cost the model load first (here: no models at all, which was the
    error said instead)."""
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(pairs_text)
    (tmp_path / "folder").mkdir()
    no_models = tmp_path / "no-models"
    no_models.mkdir()
    argv = ["eval", "pairs", "--pairs", str(pairs), "--images", str(tmp_path / images),
            "--out", str(tmp_path / "R.json"), "--models-dir", str(no_models)]  # fmt: skip
    assert main.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "no-models" not in err, err
