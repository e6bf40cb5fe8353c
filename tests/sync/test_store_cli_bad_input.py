"""``jaga store ...`` given what is not a file to read, and an operator who gives no
passphrase: one line each, never a hang, a traceback or memory read away."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sync.test_store_cli import PASSPHRASE, jaga

NOT_A_FILE = ["named pipe", "/dev/zero", "folder"]


def not_a_file(kind: str, tmp_path: Path) -> Path:
    """A path to something that is not a regular file: reading a pipe waits for a writer for
    ever, /dev/zero never ends (a link to it, as a mistyped link would be)."""
    path = tmp_path / {"named pipe": "pipe", "/dev/zero": "zero"}.get(kind, "folder")
    if kind == "named pipe":
        os.mkfifo(path)
    elif kind == "/dev/zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    return path


@pytest.fixture
def key_file_store(tmp_path: Path) -> Path:
    db = tmp_path / "k.db"
    key = tmp_path / "k.key"
    assert jaga("store", "init", "--db", str(db), "--key-file", str(key), "--create-key-file") == 0
    return db


@pytest.mark.parametrize("kind", NOT_A_FILE)
def test_a_key_file_that_is_not_a_file_is_refused_unread(
    key_file_store: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """/dev/zero as the key file was read until memory ran out."""
    key = not_a_file(kind, tmp_path)
    assert jaga("store", "info", "--db", str(key_file_store), "--key-file", str(key)) == 1
    assert capsys.readouterr().err == (
        f"jaga: error: {key} is not a key file (a device, a pipe or a folder)\n"
    )


def test_a_large_file_given_as_the_key_file_is_refused_by_its_size(
    key_file_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A video or a backup named by mistake is not read whole."""
    big = tmp_path / "backup.db"
    big.write_bytes(b"0" * (1 << 20))
    assert jaga("store", "info", "--db", str(key_file_store), "--key-file", str(big)) == 1
    assert capsys.readouterr().err == (
        f"jaga: error: {big} is too large for a key file ({1 << 20} bytes, at most 128)\n"
    )


@pytest.mark.parametrize("kind", NOT_A_FILE)
def test_a_store_that_is_not_a_file_is_refused_before_it_is_opened(
    tmp_path: Path,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pipe as --db waited for ever; /dev/zero was called empty (truncated)."""
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    db = not_a_file(kind, tmp_path)
    assert jaga("store", "info", "--db", str(db)) == 1
    assert capsys.readouterr().err == (
        f"jaga: error: {db} is not a store file (a device, a pipe or a folder)\n"
    )


def test_init_refusing_an_existing_store_writes_no_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key file left behind made the retry with a free --db fail: "key file exists"."""
    taken, key = tmp_path / "taken", tmp_path / "k.key"
    taken.mkdir()
    assert (
        jaga("store", "init", "--db", str(taken), "--key-file", str(key), "--create-key-file") == 1
    )
    assert capsys.readouterr().err == f"jaga: error: {taken} already exists; not overwriting it\n"
    assert not key.exists()
    free = tmp_path / "s.db"
    assert (
        jaga("store", "init", "--db", str(free), "--key-file", str(key), "--create-key-file") == 0
    )


def test_init_that_cannot_make_the_store_takes_back_its_new_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failing after the key file is written (here: a folder in the way is a file) removes it:
    nothing was encrypted under it. Before, the failure was a FileExistsError traceback."""
    (tmp_path / "a-file").touch()
    db, key = tmp_path / "a-file" / "s.db", tmp_path / "k.key"
    assert jaga("store", "init", "--db", str(db), "--key-file", str(key), "--create-key-file") == 1
    assert capsys.readouterr().err.startswith(f"jaga: error: cannot make the folder of {db}: ")
    assert not key.exists()
