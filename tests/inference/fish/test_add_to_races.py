"""``--add-to`` against what runs beside it, and Ctrl-C at its last steps: a reader never
scans a half-made add, an add never waits on its own lock, and a Ctrl-C once the add is
complete never asks for it to be run again."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from inference.fish import dataset as dataset_module
from inference.fish.dataset import load_dataset
from main import main
from tests.conftest import REPO
from tests.inference.fish.test_add_to_interrupted import _read_only
from tests.inference.fish.test_add_to_killed import (
    _add,
    _completed,
    _files,
    _kill,
    _kill_at,
    _tuesday,
)
from tests.inference.fish.test_add_to_record import _data
from tests.inference.fish.test_corrections_order import TUESDAY, _export, _photo
from tests.inference.pack.test_install_lock import HANG_S

WHOLE = "the corrections were added to {} whole; the summary was not printed"


def _start_add(corrections: Path, data: Path, gate: Path, output: Path) -> subprocess.Popen[str]:
    """An add that pauses before rewriting groups.csv, its photos moved in."""
    worker = [sys.executable, "-m", "tests.inference.fish.add_to_worker", "groups"]
    with output.open("w") as sink:
        return subprocess.Popen(
            [*worker, str(gate), str(corrections), str(data)], cwd=REPO,
            stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip


def _paused_or_waiting(worker: subprocess.Popen[str], gate: Path, output: Path) -> None:
    """Until the add has moved its photos in, or says it waits for DATA's lock."""
    reached = gate.with_name(gate.name + ".reached")
    deadline = time.monotonic() + HANG_S
    while not reached.exists() and "waiting" not in output.read_text():
        assert worker.poll() is None, output.read_text()
        assert time.monotonic() < deadline, "the add neither paused nor waited"
        time.sleep(0.01)


def test_an_add_started_while_training_scans_data_waits_for_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DATA without groups.csv: an add that moved its trip's photos in under the scan
    would have them read each as a group alone, straddling the split."""
    data = tmp_path / "data"
    for i in range(2):
        _photo(data / "b" / f"own{i}.png", 10 + i)
    _photo(tmp_path / "tue" / "p3.png", 3)
    _photo(tmp_path / "tue" / "p4.png", 4)
    trip = _export(tmp_path / "tue", ["p3.png,B,obs-3", "p4.png,B,obs-4"], TUESDAY)
    gate, output = tmp_path / "gate", tmp_path / "add-output"
    real = dataset_module._refuse_one_species_twice  # the scan, past the check for adds
    added: list[subprocess.Popen[str]] = []

    def scanning(*args: Any) -> None:
        if not added:
            added.append(_start_add(trip, data, gate, output))
            _paused_or_waiting(added[0], gate, output)
        real(*args)

    monkeypatch.setattr(dataset_module, "_refuse_one_species_twice", scanning)
    try:
        dataset = load_dataset(data)
    finally:
        for worker in added:
            _kill(worker)
    assert [s.relative for s in dataset.samples] == ["b/own0.png", "b/own1.png"]
    assert "waiting for it to finish" in output.read_text()


def test_an_add_into_a_read_only_data_holding_a_complete_adds_folder_does_not_wait_on_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data_with_done_left(tmp_path)
    capsys.readouterr()
    _read_only(monkeypatch)
    assert main(_add(_tuesday(tmp_path), data)) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "is running" not in err, err
    assert f"error: cannot add the corrections to {data}" in err, err


def _data_with_done_left(tmp_path: Path) -> Path:
    data = _data(tmp_path)
    _kill_at("cleanup", _tuesday(tmp_path), data, tmp_path / "gate")  # .adding-….done left
    assert any(p.name.endswith(".done") for p in data.iterdir())
    return data


def test_ctrl_c_while_a_complete_add_deletes_its_journal_says_it_was_added_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    after = _completed(tmp_path, tuesday, data)
    real = shutil.rmtree

    def interrupted(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).name.startswith(".adding-"):
            raise KeyboardInterrupt
        real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", interrupted)
    capsys.readouterr()
    assert main(_add(tuesday, data)) == 130
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert WHOLE.format(data) in err, err
    assert "run the command again" not in err, err
    load_dataset(data)
    assert _files(data) == after


def test_ctrl_c_just_after_the_commit_rename_says_it_was_added_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    after = _completed(tmp_path, tuesday, data)
    real = Path.rename

    def rename(self: Path, target: Any) -> Path:
        renamed = real(self, target)
        if self.name.startswith(".adding-") and str(target).endswith(".done"):
            raise KeyboardInterrupt  # the signal lands before the add marks itself done
        return renamed

    monkeypatch.setattr(Path, "rename", rename)
    capsys.readouterr()
    assert main(_add(tuesday, data)) == 130
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert WHOLE.format(data) in err, err
    load_dataset(data)
    assert _files(data) == after
