"""``jaga fish eval``: the report's keys, its figures, open set, and folders that do not fit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError, SpeciesMismatchError
from inference.fish.pack import SpeciesPack
from main import main
from tests.inference.fish.conftest import HOLDOUT

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]
KEYS = {"top1", "top5", "macro_f1", "per_species", "ece", "seconds_per_image"}


def test_eval_writes_the_report_and_figures(trained_pack: SpeciesPack, tmp_path: Path) -> None:
    data = Path(trained_pack.training()["data"]["root"])
    out = tmp_path / "R.json"
    argv = ["fish", "eval", "--data", str(data), "--pack", str(trained_pack.root),
            "--out", str(out), "--split", "validation", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert set(report) >= KEYS
    assert set(report["per_species"]["fish_04"]) >= {"precision", "recall", "f1", "n"}
    assert report["n"] == sum(row["n"] for row in report["per_species"].values())
    assert report["open_set"]["n_unknown"] > 0 and 0 <= report["open_set"]["auroc"] <= 1
    for figure in report["figures"].values():
        image = cv2.imread(str(tmp_path / figure))
        assert image is not None and image.shape[0] > 100


def test_the_report_lists_each_mistake(trained_pack: SpeciesPack, tmp_path: Path) -> None:
    data = Path(trained_pack.training()["data"]["root"])
    from inference.fish.evaluate import evaluate_folder

    report = evaluate_folder(data, trained_pack.root, tmp_path / "R.json", split="all")
    matrix = report["confusion_matrix"]
    off_diagonal = sum(sum(row) - row[i] for i, row in enumerate(matrix))
    mistakes = report["mistakes"]
    assert off_diagonal > 0, "the slice pack gets some wrong, or this test proves nothing"
    assert len(mistakes) == off_diagonal
    ids = [s.id for s in trained_pack.species]
    for row in mistakes:
        assert row["file"].split("/")[0] == row["species"] != row["predicted"]
        assert row["confidence"] >= row["probability_of_species"]
        true, predicted = ids.index(row["species"]), ids.index(row["predicted"])
        assert matrix[true][predicted] > 0


def test_the_worst_recall_counts_tracks_in_the_whole_folder(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """The slice's species have 5-6 tracks each, two or so of them in validation: judged by
    the validation tracks alone, no species would count."""
    data = Path(trained_pack.training()["data"]["root"])
    from inference.fish.evaluate import evaluate_folder

    report = evaluate_folder(data, trained_pack.root, tmp_path / "R.json", split="validation")
    recalls = {sid: row["recall"] for sid, row in report["per_species"].items() if row["n"]}
    assert len(recalls) == len(trained_pack.species)
    worst = min(recalls, key=lambda sid: (recalls[sid], sid))
    assert report["worst_recall"] == {"species": worst, "recall": recalls[worst], "min_groups": 5}


def test_folders_the_pack_does_not_know_are_an_error(
    trained_pack: SpeciesPack, tmp_path: Path, f4k: Path
) -> None:
    data = tmp_path / "data"
    (data / "fish_22").mkdir(parents=True)
    for path in sorted((f4k / "fish_22").glob("*.png"))[:2]:
        shutil.copy(path, data / "fish_22" / path.name)
    from inference.fish.evaluate import evaluate_folder

    with pytest.raises(SpeciesMismatchError, match="fish_22"):
        evaluate_folder(data, trained_pack.root, tmp_path / "R.json")
    assert main(["fish", "eval", "--data", str(data), "--pack", str(trained_pack.root),
                 "--out", str(tmp_path / "R.json")]) == 1  # fmt: skip


def test_unreadable_files_are_listed_not_fatal(trained_pack: SpeciesPack, tmp_path: Path) -> None:
    source = Path(trained_pack.training()["data"]["root"])
    data = tmp_path / "data"
    shutil.copytree(source / HOLDOUT, data / HOLDOUT, symlinks=True)
    shutil.copytree(source / "fish_04", data / "fish_04", symlinks=True)
    (data / "fish_04" / "fish_999_1.png").write_bytes(b"not a png")
    from inference.fish.evaluate import evaluate_folder

    report = evaluate_folder(data, trained_pack.root, tmp_path / "R.json", threads=1)
    assert [s["file"] for s in report["skipped"]] == ["fish_04/fish_999_1.png"]
    assert report["per_species"]["fish_04"]["n"] > 0


def test_nothing_to_evaluate_is_an_error_not_nan(
    trained_pack: SpeciesPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only training tracks of a species, evaluated on the validation split: nothing is
    chosen, and an empty report (NaN top-1, written as non-standard JSON) is refused."""
    source = Path(trained_pack.training()["data"]["root"])
    validation = set(trained_pack.training()["split"]["validation_groups"])
    data = tmp_path / "data"
    (data / "fish_04").mkdir(parents=True)
    for sample in load_dataset(source).samples:
        if sample.species_id == "fish_04" and sample.group not in validation:
            (data / "fish_04" / sample.path.name).symlink_to(sample.path)
    out = tmp_path / "R.json"
    from inference.fish.evaluate import evaluate_folder

    with pytest.raises(DatasetError, match="nothing to evaluate"):
        evaluate_folder(data, trained_pack.root, out, split="validation")
    assert evaluate_folder(data, trained_pack.root, out, split="all")["n"] > 0
    out.unlink()
    argv = ["fish", "eval", "--data", str(data), "--pack", str(trained_pack.root),
            "--out", str(out), "--split", "validation"]  # fmt: skip
    assert main(argv) == 1 and not out.exists()
    assert "nothing to evaluate" in capsys.readouterr().err


def test_a_folder_whose_groups_were_renamed_says_so(
    trained_pack: SpeciesPack, tmp_path: Path
) -> None:
    """A training folder given a groups.csv after the pack was trained names each photo's
    group otherwise: no photo is then in the groups the pack was validated on, and the error
    says why, not only that nothing was left. (The one ``export-training-set --add-to``
    writes keeps the ids: it is evaluated as before.)"""
    source = Path(trained_pack.training()["data"]["root"])
    data = tmp_path / "data"
    rows = ["file,group"]
    for sample in load_dataset(source).samples:
        (data / sample.species_id).mkdir(parents=True, exist_ok=True)
        (data / sample.relative).symlink_to(sample.path)
        rows.append(f"{sample.relative},{sample.group}")
    (data / "groups.csv").write_text("\n".join(rows) + "\n")
    from inference.fish.evaluate import evaluate_folder

    assert evaluate_folder(data, trained_pack.root, tmp_path / "R.json", split="validation")["n"]
    renamed = [rows[0]] + [row.replace(",", ",trip-", 1) for row in rows[1:]]
    (data / "groups.csv").write_text("\n".join(renamed) + "\n")
    with pytest.raises(DatasetError, match="its groups are named otherwise since"):
        evaluate_folder(data, trained_pack.root, tmp_path / "R.json", split="validation")
