"""``jaga fish eval`` on familiarity: the fish a pack turns away as ``no_fish``, and what it
keeps out. The counts are checked against the classifier's own answers on the same photos."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from inference.fish.classify import SpeciesClassifier
from inference.fish.dataset import load_dataset
from inference.fish.pack import SpeciesPack, write_pack
from inference.fish.types import FishStatus
from inference.runtime import ThreadBudget
from inference.runtime.providers import CPU, plan_providers
from main import main
from tests.conftest import shared_path

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]
KEYS = {"top1", "top5", "macro_f1", "per_species", "ece", "seconds_per_image"}


def _reissued(pack: SpeciesPack, folder: Path, familiarity: float | None) -> SpeciesPack:
    """The same pack with another familiarity threshold (None: none at all)."""
    acceptance = None if familiarity is None else pack.thresholds.fish_acceptance
    thresholds = dataclasses.replace(
        pack.thresholds, familiarity=familiarity, fish_acceptance=acceptance
    )
    build: dict[str, Path | dict[str, object] | str] = {n: pack.root / n for n in pack.sha256}
    return write_pack(
        folder, name=pack.name, version=f"{pack.version}+f", backbone_sha256=pack.backbone_sha256,
        build=build | {"thresholds.json": thresholds.to_json()}, input_sizes=pack.input_sizes,
    )  # fmt: skip


def _validation_fish(pack: SpeciesPack) -> list[Path]:
    known = {s.id for s in pack.species}
    groups = set(pack.training()["split"]["validation_groups"])
    root = Path(pack.training()["data"]["root"])
    return [
        s.path for s in load_dataset(root).samples if s.group in groups and s.species_id in known
    ]


def test_eval_counts_the_fish_turned_away_as_the_classifier_answers_them(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """A threshold at the validation median turns away about half the fish: the report must
    count exactly those the classifier answers ``no_fish``, and not count them as answered."""
    classifier = SpeciesClassifier(
        trained_pack, plan=plan_providers([CPU]), threads=ThreadBudget(1)
    )
    paths = _validation_fish(trained_pack)
    familiarity = classifier.scores(_images(paths))[1]
    assert familiarity is not None
    strict = _reissued(trained_pack, tmp_path / "strict", float(np.median(familiarity)))
    answers = SpeciesClassifier(strict, plan=plan_providers([CPU]), threads=ThreadBudget(1))
    predictions = answers.classify_files(paths)
    turned_away = [p.status is FishStatus.NO_FISH for p in predictions]
    assert 0 < sum(turned_away) < len(paths), "this test needs some fish turned away, not all"
    species = [path.parent.name for path in paths]
    right = [
        p.species is not None and p.species.id == s
        for p, s in zip(predictions, species, strict=True)
    ]

    data = Path(trained_pack.training()["data"]["root"])
    out = tmp_path / "R.json"
    argv = ["fish", "eval", "--data", str(data), "--pack", str(strict.root), "--out", str(out),
            "--split", "validation", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert set(report) >= KEYS
    summary = report["familiarity"]
    assert summary["threshold"] == pytest.approx(strict.thresholds.familiarity)
    assert summary["n"] == len(paths) == report["n"]
    assert summary["no_fish"] == sum(turned_away)
    for sid, row in summary["per_species"].items():
        mine = [t for t, s in zip(turned_away, species, strict=True) if s == sid]
        assert (row["n"], row["no_fish"]) == (len(mine), sum(mine))
    assert report["answered_top1"] == pytest.approx(np.mean(right))
    assert report["answered_top1"] < report["top1"]
    assert summary["not_fish"] is None


def test_not_fish_photos_give_auroc_and_the_share_rejected(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    faces = shared_path("data", "faces", "johns")
    data = Path(trained_pack.training()["data"]["root"])
    from inference.fish.evaluate import evaluate_folder

    report = evaluate_folder(data, trained_pack.root, tmp_path / "R.json", split="validation",
                             threads=1, not_fish=[faces])  # fmt: skip
    others = report["familiarity"]["not_fish"]
    n_faces = len(list(faces.rglob("*.jpg")))
    assert others["n"] + others["unreadable"] == n_faces > 0
    classifier = SpeciesClassifier(
        trained_pack, plan=plan_providers([CPU]), threads=ThreadBudget(1)
    )
    answers = classifier.classify_files(sorted(faces.rglob("*.jpg")))
    rejected = sum(p.status is FishStatus.NO_FISH for p in answers)
    assert others["rejected_rate"] == pytest.approx(rejected / others["n"])
    assert 0.5 < others["auroc"] <= 1.0  # faces are less like the species than their fish


def test_a_pack_without_familiarity_says_so(trained_pack: SpeciesPack, tmp_path: Path) -> None:
    plain = _reissued(trained_pack, tmp_path / "plain", None)
    data = Path(trained_pack.training()["data"]["root"])
    from inference.fish.evaluate import evaluate_folder

    report = evaluate_folder(data, plain.root, tmp_path / "R.json", split="validation", threads=1,
                             not_fish=[shared_path("data", "faces", "johns")])  # fmt: skip
    assert report["familiarity"] is None
    assert report["answered_top1"] == report["top1"]


def _images(paths: list[Path]) -> list[np.ndarray]:
    from inference.fish.images import read_image

    return [read_image(path) for path in paths]


def test_a_not_fish_folder_that_is_missing_or_holds_no_image_is_refused(
    trained_pack: SpeciesPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --not-fish path would read as a run that measured nothing."""
    data = Path(trained_pack.training()["data"]["root"])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no photos here")
    out = tmp_path / "R.json"
    for folder, says in ((tmp_path / "missing", "is not a folder"),
                         (tmp_path / "notes", "holds no images")):  # fmt: skip
        argv = ["fish", "eval", "--data", str(data), "--pack", str(trained_pack.root),
                "--out", str(out), "--not-fish", str(shared_path("data", "faces", "johns")),
                str(folder)]  # fmt: skip
        assert main(argv) == 1 and not out.exists()
        captured = capsys.readouterr()
        assert f"{folder} {says}" in captured.err and len(captured.err.splitlines()) == 1
        assert "evaluating" not in captured.out
