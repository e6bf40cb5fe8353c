"""``--add-to`` stopped by what the journal's first cut missed: Ctrl-C, an undo that fails
part way, a relative DATA, a read-only DATA, a missing DATA, CSVs edited by hand after a
kill, and a power cut just after an undo. DATA is never left half added with no journal to
undo it, and the user is never told "DATA is as it was" when it is not."""

from __future__ import annotations

import errno
import logging
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from inference.fish import add_undo, added_record, merge
from inference.fish.dataset import load_dataset
from inference.fish.errors import DatasetError
from main import main
from tests.inference.fish.test_add_to_killed import (
    _add,
    _completed,
    _files,
    _kill_at,
    _paused_at,
    _Said,
    _tuesday,
)
from tests.inference.fish.test_add_to_record import _data
from tests.inference.fish.test_corrections_order import TUESDAY, _export, _photo


@pytest.fixture
def said() -> Iterator[_Said]:
    """The lines a reader of DATA logs (training prints them)."""
    handler = _Said()
    logging.getLogger("inference.fish").addHandler(handler)
    yield handler
    logging.getLogger("inference.fish").removeHandler(handler)


def _failing(
    monkeypatch: pytest.MonkeyPatch, name: str, fails: Callable[[Path], bool], code: int
) -> None:
    """``os.<name>`` raising ``code`` for the paths ``fails`` picks (pathlib and shutil
    call through ``os``)."""
    real = getattr(os, name)

    def failing(path: Any, *args: Any, **kwargs: Any) -> Any:
        if fails(Path(os.fsdecode(path))):
            raise OSError(code, os.strerror(code), os.fsdecode(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, failing)


def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """DATA on a read-only medium (a copy on a write-protected card): every change fails."""
    for name in ("rename", "replace", "unlink", "rmdir", "mkdir"):
        _failing(monkeypatch, name, lambda _: True, errno.EROFS)


def test_ctrl_c_part_way_puts_data_back_at_once_and_says_so(tmp_path: Path) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    before = _files(data)
    worker = _paused_at("groups", tuesday, data, tmp_path / "gate")  # photos moved, no groups
    worker.send_signal(signal.SIGINT)
    out, _ = worker.communicate(timeout=20)
    assert worker.returncode == 130, out
    assert _files(data) == before  # undone by the add itself, not left to a reader
    assert f"interrupted: nothing was added to {data}" in out, out
    assert "no pack was written" not in out


def test_ctrl_c_with_a_step_that_cannot_be_put_back_keeps_the_journal_for_the_next_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: _Said
) -> None:
    data = _data(tmp_path)
    before = _files(data)

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(merge, "_extend_groups", interrupted)
    _failing(monkeypatch, "replace", lambda path: path.parent.name == ".before", errno.EIO)
    with pytest.raises(DatasetError, match="could not put back"):
        merge.add_training_set(_tuesday(tmp_path), data)
    monkeypatch.undo()
    load_dataset(data)
    assert _files(data) == before
    assert len(said.lines) == 1 and "stopped part way" in said.lines[0], said.lines


def test_an_undo_that_fails_part_way_goes_on_keeps_its_journal_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: _Said
) -> None:
    """A full disk: the last record write fails, and so does making again the species
    folder the add emptied. The rest is put back; the journal stays for the next reader."""
    data = _data(tmp_path)
    before = _files(data)
    real_write = added_record.write_record
    writes = []

    def write(*args: Any) -> None:
        writes.append(args)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(*args)

    monkeypatch.setattr(merge, "write_record", write)
    emptied = (data / "a").absolute()
    _failing(monkeypatch, "mkdir", lambda path: path.absolute() == emptied, errno.ENOSPC)
    with pytest.raises(DatasetError, match=f"could not put back {emptied.name} ") as raised:
        merge.add_training_set(_tuesday(tmp_path), data)
    assert "is as it was" not in str(raised.value)
    assert (data / "groups.csv").read_bytes() == before["groups.csv"]  # went on past it
    monkeypatch.undo()
    load_dataset(data)
    assert _files(data) == before
    assert len(said.lines) == 1 and "stopped part way" in said.lines[0], said.lines


def test_a_relative_data_is_added_to_when_mkdtemp_answers_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.12 makes ``mkdtemp(dir="data")`` absolute; the journal names paths in DATA."""
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    after = _completed(tmp_path, tuesday, data)
    real = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: str(Path(real(*a, **k)).absolute()))
    monkeypatch.chdir(tmp_path)
    assert main(_add(tuesday, Path("data"))) == 0
    assert _files(data) == after


def test_a_complete_add_left_undeleted_is_read_from_a_read_only_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    after = _completed(tmp_path, tuesday, data)
    _kill_at("cleanup", tuesday, data, tmp_path / "gate")  # .adding-….done left
    _read_only(monkeypatch)
    dataset = load_dataset(data)
    monkeypatch.undo()
    assert {s.relative for s in dataset.samples} == {
        f for f in after if "/" in f and not f.startswith(".")
    }


def test_an_add_into_a_read_only_data_holding_a_killed_add_is_refused_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    _kill_at("groups", tuesday, data, tmp_path / "gate")
    capsys.readouterr()
    _read_only(monkeypatch)
    assert main(_add(tuesday, data)) == 1
    err = capsys.readouterr().err
    assert f"error: cannot undo the --add-to stopped part way in {data}" in err, err
    # each file named where it lies in DATA; the CSVs the add had not rewritten, not at all
    assert "could not put back a/" in err and ", zed/" in err, err
    assert "groups.csv" not in err and "species.csv" not in err, err


def test_an_add_into_a_read_only_data_is_refused_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    before = _files(data)
    capsys.readouterr()
    _read_only(monkeypatch)
    assert main(_add(tuesday, data)) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert f"error: cannot add the corrections to {data}" in err, err
    assert _files(data) == before


def test_an_add_into_a_missing_folder_says_it_is_not_a_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    assert main(_add(_tuesday(tmp_path), missing)) == 1
    assert f"error: {missing} is not a folder of species folders" in capsys.readouterr().err
    assert not missing.exists()


def test_a_groups_csv_edited_by_hand_after_a_kill_is_left_and_named(
    tmp_path: Path, said: _Said
) -> None:
    data = _data(tmp_path)
    tuesday = _tuesday(tmp_path)
    _kill_at("species", tuesday, data, tmp_path / "gate")  # groups.csv rewritten
    groups = data / "groups.csv"
    edited = groups.read_text() + "b/own0.png,trip-by-hand\n"
    groups.write_text(edited)
    with pytest.raises(DatasetError):  # it names the added photo the undo moved out
        load_dataset(data)
    assert groups.read_text() == edited
    assert len(said.lines) == 1 and "groups.csv" in said.lines[0], said.lines
    assert "changed by hand since" in said.lines[0]


def test_a_groups_csv_made_by_hand_after_a_kill_is_not_deleted(tmp_path: Path, said: _Said) -> None:
    data = tmp_path / "data"
    for i in range(2):
        _photo(data / "b" / f"own{i}.png", 10 + i)
    _photo(tmp_path / "tue" / "p3.png", 3)
    trip = _export(tmp_path / "tue", ["p3.png,B,obs-3"], TUESDAY)
    _kill_at("groups", trip, data, tmp_path / "gate")  # DATA had no groups.csv
    mine = "file,group\nb/own0.png,g1\nb/own1.png,g1\n"
    (data / "groups.csv").write_text(mine)
    dataset = load_dataset(data)
    assert (data / "groups.csv").read_text() == mine
    assert len(dataset.samples) == 2
    assert "groups.csv" in said.lines[0], said.lines


def test_the_undo_is_on_disk_before_it_is_marked_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a power cut the ``.done`` rename must not survive an undo that was lost: the
    folders the undo renamed in are flushed before it."""
    data = _data(tmp_path)
    _kill_at("groups", _tuesday(tmp_path), data, tmp_path / "gate")
    events: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", str(Path(f"/proc/self/fd/{fd}").readlink())))
        real_fsync(fd)

    def rename(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        events.append(("rename", str(Path(os.fsdecode(target)).absolute())))
        real_rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    load_dataset(data)
    monkeypatch.undo()
    done = next(i for i, (kind, path) in enumerate(events) if path.endswith(".done"))
    undone = [i for i, (kind, path) in enumerate(events[:done]) if kind == "rename"]
    assert undone, events
    flushed = {path for kind, path in events[undone[-1] : done] if kind == "fsync"}
    assert {str(data.resolve()), str((data / "a").resolve())} <= flushed, events


def test_a_second_ctrl_c_during_the_undo_keeps_the_journal_for_the_next_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: _Said
) -> None:
    data = _data(tmp_path)
    before = _files(data)

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(merge, "_extend_groups", interrupted)
    monkeypatch.setattr(add_undo, "_put_back", interrupted)  # the second Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        merge.add_training_set(_tuesday(tmp_path), data)
    monkeypatch.undo()
    assert [p.name for p in data.glob(".adding-*") if (p / ".journal").exists()]
    load_dataset(data)
    assert _files(data) == before
    assert len(said.lines) == 1 and "stopped part way" in said.lines[0], said.lines
