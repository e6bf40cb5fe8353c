"""``--add-to`` killed part way (a power cut): DATA is never left with photos that
``groups.csv`` or ``added-corrections.csv`` do not account for. A reader (training) and the
next add put it back as it was before, saying so, and the add run again completes."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError
from main import main
from tests.conftest import REPO
from tests.inference.fish.test_add_to_record import _data
from tests.inference.fish.test_corrections_order import TUESDAY, _export, _photo
from tests.inference.pack.test_install_lock import wait_until_reached


class _Said(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _files(data: Path) -> dict[str, bytes]:
    """Every file under ``data``, hidden ones too, by its path relative to it."""
    return {p.relative_to(data).as_posix(): p.read_bytes() for p in data.rglob("*") if p.is_file()}


def _tuesday(tmp_path: Path) -> Path:
    """obs-1 (the only photo of species a) taken back, a photo of a new species added."""
    _photo(tmp_path / "tue" / "p3.png", 3)
    return _export(tmp_path / "tue", [",,obs-1,not_a_fish", "p3.png,Zed,obs-3"], TUESDAY)


def _paused_at(where: str, corrections: Path, data: Path, gate: Path) -> subprocess.Popen[str]:
    worker = [sys.executable, "-m", "tests.inference.fish.add_to_worker"]
    paused = subprocess.Popen(
        [*worker, where, str(gate), str(corrections), str(data)], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_until_reached(gate, paused)
    return paused


def _kill(worker: subprocess.Popen[str]) -> None:
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=10) == -signal.SIGKILL


def _kill_at(where: str, corrections: Path, data: Path, gate: Path) -> None:
    _kill(_paused_at(where, corrections, data, gate))


def _completed(tmp_path: Path, corrections: Path, data: Path) -> dict[str, bytes]:
    """DATA as the same add, not interrupted, leaves a copy of it."""
    copy = Path(shutil.copytree(data, tmp_path / "uninterrupted"))
    assert main(_add(corrections, copy)) == 0
    return _files(copy)


def _add(corrections: Path, data: Path) -> list[str]:
    return ["fish", "export-training-set", "--corrections", str(corrections), "--add-to", str(data)]


@pytest.mark.parametrize("where", ["groups", "species"])
def test_an_add_killed_part_way_is_undone_by_training_and_runs_again(
    tmp_path: Path, where: str
) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    before = _files(data)
    after = _completed(tmp_path, tuesday, data)
    _kill_at(where, tuesday, data, tmp_path / "gate")
    assert _files(data) != before  # the kill left the add half done
    said = _Said()
    logging.getLogger("inference.fish").addHandler(said)
    try:
        dataset = load_dataset(data)  # what training reads first
    finally:
        logging.getLogger("inference.fish").removeHandler(said)
    assert _files(data) == before
    assert sorted(s.relative.split("/")[0] for s in dataset.samples) == ["a", "b", "b", "b"]
    assert len(said.lines) == 1 and "stopped part way" in said.lines[0], said.lines
    assert main(_add(tuesday, data)) == 0
    assert _files(data) == after


def test_photos_an_add_killed_part_way_moved_in_are_not_trained_on_without_their_groups(
    tmp_path: Path,
) -> None:
    """A DATA without groups.csv, its first add killed with the photos moved in: read as it
    is, each frame of the trip would be a group alone and straddle the split, silently."""
    data = tmp_path / "data"
    for i in range(2):
        _photo(data / "b" / f"own{i}.png", 10 + i)
    _photo(tmp_path / "tue" / "p3.png", 3)
    _photo(tmp_path / "tue" / "p4.png", 4)
    trip = _export(tmp_path / "tue", ["p3.png,B,obs-3", "p4.png,B,obs-4"], TUESDAY)
    before = _files(data)
    _kill_at("groups", trip, data, tmp_path / "gate")
    dataset = load_dataset(data)
    assert _files(data) == before
    assert len(dataset.samples) == 2


def test_the_next_add_undoes_a_killed_add_saying_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    after = _completed(tmp_path, tuesday, data)
    capsys.readouterr()
    _kill_at("groups", tuesday, data, tmp_path / "gate")
    assert main(_add(tuesday, data)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if "stopped part way" in line]) == 1, lines
    assert _files(data) == after


def test_an_add_killed_once_done_but_for_its_cleanup_stays_done(tmp_path: Path) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    after = _completed(tmp_path, tuesday, data)
    _kill_at("cleanup", tuesday, data, tmp_path / "gate")
    load_dataset(data)
    assert _files(data) == after


def test_training_refuses_a_folder_an_add_is_still_writing(tmp_path: Path) -> None:
    """A reader must not undo an add that is alive: it refuses, and undoes it once dead."""
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    before = _files(data)
    running = _paused_at("groups", tuesday, data, tmp_path / "gate")
    try:
        with pytest.raises(DatasetError, match="is running"):
            load_dataset(data)
    finally:
        _kill(running)
    load_dataset(data)
    assert _files(data) == before
