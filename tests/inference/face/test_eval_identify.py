"""``jaga eval identify``: open-set measures on hand-made trials, and a small ORL run."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from inference.errors import InputError
from inference.face import FaceDetector
from inference.face.align import FaceAligner
from inference.face.cli_options import add_eval_identify_parser
from inference.face.embed import FaceEmbedder
from inference.face.eval_common import FacePipeline
from inference.face.eval_identify import (
    Trials,
    evaluate_identify,
    open_set_report,
    people,
)
from inference.face.match import MatchSettings
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def pipeline(model_pack: ModelPack, detector: FaceDetector) -> FacePipeline:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(2))
    return FacePipeline(detector, FaceAligner(), FaceEmbedder.from_runtime(runtime))


def split_orl(root: Path, subjects: int, enrolled: int, probes: int) -> tuple[Path, Path]:
    """The first ``subjects`` ORL people: images 1..enrolled in the gallery, the next
    ``probes`` images as probes, one sub-folder per person."""
    orl = shared_path("data", "faces", "orl")
    for subject in range(1, subjects + 1):
        for number in range(1, enrolled + probes + 1):
            role = "gallery" if number <= enrolled else "probes"
            folder = root / role / f"s{subject}"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(orl / f"s{subject}" / f"{number}.pgm", folder)
    return root / "gallery", root / "probes"


def test_open_set_report_on_hand_made_trials() -> None:
    trials = Trials(
        known_scores=np.array([0.95, 0.9, 0.85, 0.7]),
        known_correct=np.array([True, True, False, True]),
        unknown_scores=np.array([0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2]),
    )
    report = open_set_report(trials, threshold=0.75)
    assert report["at_default"] == {"threshold": 0.75, "dir": 0.5, "false_alarm_rate": 0.1}
    # a 1 % false-alarm budget of 10 unknowns allows none: the threshold sits above 0.8
    assert report["threshold_at_far"]["0.01"] > 0.8 and report["dir_at_far"]["0.01"] == 0.5
    assert report["dir_at_far"]["0.1"] == 0.75  # one false alarm allowed: t just above 0.6
    with pytest.raises(InputError):
        open_set_report(Trials(np.array([0.9]), np.array([True]), np.array([])), 0.5)


def test_folders_without_people_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        people(tmp_path / "missing", "gallery")
    (tmp_path / "flat.jpg").write_bytes(b"")
    with pytest.raises(InputError):
        people(tmp_path, "gallery")


@pytest.mark.needs_shared
def test_small_orl_run(tmp_path: Path, pipeline: FacePipeline) -> None:
    gallery, probes = split_orl(tmp_path, subjects=6, enrolled=1, probes=2)
    out = tmp_path / "R.json"
    report = evaluate_identify(gallery, probes, out, pipeline, unknown_folds=2)
    written = json.loads(out.read_text())
    assert {"rank1", "rank5", "open_set"} <= set(written)
    assert written["rank1"] == report["rank1"] >= 10 / 12
    assert written["gallery_identities"] == 6 and written["closed_set_probes"] == 12
    open_set = written["open_set"]
    assert open_set["known_trials"] == 12 and open_set["unknown_trials"] == 12
    assert set(open_set["dir_at_far"]) == {"0.01", "0.1"}
    assert (tmp_path / "R_dir.png").stat().st_size > 0


def test_parser_registers_a_handler() -> None:
    parser = argparse.ArgumentParser()
    add_eval_identify_parser(parser.add_subparsers())
    args = parser.parse_args(["identify", "--gallery", "g", "--probes", "p", "--out", "r.json"])
    assert callable(args.handler) and args.unknown_folds == 2 and args.aggregate == "max"


def test_the_parsers_aggregate_is_the_match_settings_default() -> None:
    """The parser names the default without loading the matcher (numpy): the same one."""
    parser = argparse.ArgumentParser()
    add_eval_identify_parser(parser.add_subparsers())
    args = parser.parse_args(["identify", "--gallery", "g", "--probes", "p", "--out", "r.json"])
    assert args.aggregate == MatchSettings().aggregate.value


@pytest.mark.parametrize("missing", ["--gallery", "--probes"])
def test_folders_without_people_are_refused_before_the_models_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    """As ``eval pairs`` and ``eval liveness`` do: a typo in a folder cost the model load
    first (here: no models at all, which was the error said instead)."""
    import main

    people = tmp_path / "people" / "ada"
    people.mkdir(parents=True)
    (people / "1.jpg").write_bytes(b"not read: the models are not there")
    no_models = tmp_path / "no-models"
    no_models.mkdir()
    folders = {"--gallery": str(tmp_path / "people"), "--probes": str(tmp_path / "people")}
    folders[missing] = str(tmp_path / "nowhere")
    argv = ["eval", "identify", *[x for pair in folders.items() for x in pair],
            "--out", str(tmp_path / "R.json"), "--models-dir", str(no_models)]  # fmt: skip
    assert main.main(argv) == 1
    err = capsys.readouterr().err
    assert "nowhere is not a folder" in err and "no-models" not in err, err
