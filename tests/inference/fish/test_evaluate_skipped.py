"""``jaga fish eval`` on the photos it cannot score: a fish photo the quality gate answers
``no_fish`` is a miss of its species, as the device would answer it; a file that cannot be
read is a data problem, said on the console and listed, and left out of every figure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import pytest

from inference.fish.pack import SpeciesPack
from main import main
from tests.inference.fish.conftest import HOLDOUT

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]
SPECIES = "fish_04"
TOO_SMALL = 2  # of the species' photos, shrunk to 12 x 12 (the gate wants 16 px a side)


def _copy_species(source: Path, data: Path, names: tuple[str, ...]) -> None:
    """Real copies (the slice links to ../shared), so that some may be changed."""
    for name in names:
        (data / name).mkdir(parents=True)
        for path in sorted((source / name).glob("*.png")):
            shutil.copy(path, data / name / path.name)


def _shrink(paths: list[Path]) -> None:
    for path in paths:
        image = cv2.imread(str(path))
        assert image is not None
        cv2.imwrite(str(path), cv2.resize(image, (12, 12), interpolation=cv2.INTER_AREA))


def _eval(data: Path, pack: SpeciesPack, out: Path) -> dict[str, Any]:
    argv = ["fish", "eval", "--data", str(data), "--pack", str(pack.root), "--out", str(out),
            "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_a_fish_too_small_to_classify_is_a_miss_of_its_species(
    trained_pack: SpeciesPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same folder twice, once with a few photos shrunk below the quality gate: those
    count in ``n`` and as misses in recall and top-k, and in the open set a held-out photo
    the gate rejects is rejected (the device answers it ``no_fish``, not a species)."""
    source = Path(trained_pack.training()["data"]["root"])
    intact, small = tmp_path / "intact", tmp_path / "small"
    for data in (intact, small):
        _copy_species(source, data, (SPECIES, HOLDOUT))
    shrunk = sorted((small / SPECIES).glob("*.png"))[:TOO_SMALL]
    _shrink(shrunk + sorted((small / HOLDOUT).glob("*.png"))[:1])
    for path in shrunk:  # the intact folder without them: what the gate leaves to score
        (intact / SPECIES / path.name).unlink()
    base = _eval(intact, trained_pack, tmp_path / "intact.json")
    capsys.readouterr()
    report = _eval(small, trained_pack, tmp_path / "small.json")
    console = capsys.readouterr().out

    scored = base["n"]
    n = scored + TOO_SMALL
    row, base_row = report["per_species"][SPECIES], base["per_species"][SPECIES]
    assert row["n"] == report["n"] == n
    assert row["gate_rejected"] == TOO_SMALL
    assert row["recall"] == pytest.approx(base_row["recall"] * scored / n)
    assert row["recall"] < base_row["recall"]
    for key in ("top1", "top5", "answered_top1"):
        assert report[key] == pytest.approx(base[key] * scored / n)
    assert report["ece"] == pytest.approx(base["ece"]) and report["ece_n"] == scored
    assert report["skipped"] == []
    gate = report["gate_rejected"]
    assert [r["file"] for r in gate] == [f"{SPECIES}/{p.name}" for p in shrunk] + [
        f"{HOLDOUT}/{sorted((small / HOLDOUT).glob('*.png'))[0].name}"
    ]
    assert all("smaller than 16 px" in r["reason"] for r in gate)
    open_set, base_open = report["open_set"], base["open_set"]
    assert open_set["n_known"] == n and open_set["n_unknown"] == base_open["n_unknown"]
    assert open_set["gate_rejected"] == {"known": TOO_SMALL, "unknown": 1}
    assert f"evaluating {n} known and " in console
    assert f"no_fish for {TOO_SMALL} known (misses) and 1 unknown (rejected)" in console


def test_an_unreadable_file_is_said_and_listed_not_counted(
    trained_pack: SpeciesPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = Path(trained_pack.training()["data"]["root"])
    data = tmp_path / "data"
    _copy_species(source, data, (SPECIES,))
    n = len(list((data / SPECIES).glob("*.png")))
    (data / SPECIES / "fish_999_1.png").write_bytes(b"")
    (data / SPECIES / "fish_999_2.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest of a JPEG")
    report = _eval(data, trained_pack, tmp_path / "R.json")
    console = capsys.readouterr().out.splitlines()

    skipped = report["skipped"]
    assert [s["file"] for s in skipped] == [
        f"{SPECIES}/fish_999_1.png",
        f"{SPECIES}/fish_999_2.jpg",
    ]
    for name, entry in zip(("fish_999_1.png", "fish_999_2.jpg"), skipped, strict=True):
        assert f"skipped {data / SPECIES / name}: {entry['reason']}" in console
    evaluating = next(line for line in console if line.startswith("evaluating"))
    assert f"evaluating {n} known and 0 unknown images" in evaluating
    assert "2 unreadable files left out" in evaluating
    assert report["n"] == report["per_species"][SPECIES]["n"] == n
    assert report["ece_n"] == n and report["gate_rejected"] == []
