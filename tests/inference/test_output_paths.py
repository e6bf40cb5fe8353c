"""A report or pack a command cannot write is refused when its command line is read, in one
line, before minutes of work end in a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.pack.installed import ModelPack
from main import main

# Each command with its other required arguments (none is read: the output is refused first).
FILE_OUTPUTS = {
    "bench models": ["bench", "models", "minifasnet_v2", "--runs", "1", "--json"],
    "fish eval": ["fish", "eval", "--data", "d", "--out"],
    "eval video": ["eval", "video", "v.mp4", "--out"],
    "eval pairs": ["eval", "pairs", "--pairs", "p.csv", "--images", "i", "--out"],
    "eval liveness": ["eval", "liveness", "--live", "l", "--attack", "a", "--out"],
    "eval identify": ["eval", "identify", "--gallery", "g", "--probes", "p", "--out"],
}
FOLDER_OUTPUTS = {
    "fish train": ["fish", "train", "--data", "d", "--out"],
    "fish combine": ["fish", "combine", "a", "b", "--data", "d", "--out"],
    "fish export-training-set": ["fish", "export-training-set", "--corrections", "c", "--out"],
    "fish build-pack": ["fish", "build-pack", "--head", "h", "--out"],
}


def refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2  # argparse's usage error: nothing ran
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.strip().splitlines()[-1]


@pytest.mark.parametrize("command", FILE_OUTPUTS)
def test_a_report_that_cannot_be_written_is_refused_before_the_work(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").touch()
    inside_a_file = tmp_path / "a-file" / "R.json"
    line = refusal([*FILE_OUTPUTS[command], str(inside_a_file)], capsys)
    assert f"cannot write {inside_a_file}: {tmp_path / 'a-file'} is not a folder" in line
    line = refusal([*FILE_OUTPUTS[command], str(tmp_path)], capsys)
    assert f"cannot write {tmp_path}: it is a folder" in line


@pytest.mark.parametrize("command", FOLDER_OUTPUTS)
def test_a_folder_that_cannot_be_written_is_refused_before_the_work(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").touch()
    line = refusal([*FOLDER_OUTPUTS[command], str(tmp_path / "a-file" / "pack")], capsys)
    assert f"{tmp_path / 'a-file'} is not a folder" in line
    line = refusal([*FOLDER_OUTPUTS[command], str(tmp_path / "a-file")], capsys)
    assert "it is a file, not a folder" in line


@pytest.mark.needs_shared
def test_bench_writes_its_json_into_folders_it_makes(
    model_pack: ModelPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "new" / "bench.json"
    argv = ["bench", "models", "minifasnet_v2", "--runs", "1", "--threads", "1",
            "--providers", "cpu", "--dir", str(model_pack.root), "--json", str(report)]  # fmt: skip
    assert main(argv) == 0
    assert [row["batch"] for row in json.loads(report.read_text())] == [1, 8]
