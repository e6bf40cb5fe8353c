"""``jaga store ...`` given what is not a file to read, and an operator who gives no
passphrase: one line each, never a hang, a traceback or memory read away."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
from pathlib import Path

import pytest

from sync.errors import KeySourceError, PromptInterrupted
from sync.store.key_sources import resolve_key_source
from tests.sync.conftest import REPO_ROOT
from tests.sync.test_store_cli import FAST_KDF, PASSPHRASE, jaga

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


@pytest.mark.parametrize(
    ("raised", "error"), [(EOFError, KeySourceError), (KeyboardInterrupt, PromptInterrupted)]
)
def test_no_answer_at_the_prompt_is_no_passphrase_given(
    raised: type[BaseException], error: type[BaseException]
) -> None:
    def prompt(_: str) -> str:
        raise raised

    with pytest.raises(error, match=r"^no store passphrase given$"):
        resolve_key_source(None, env={}, prompt=prompt, interactive=True)


def at_the_prompt(db: Path, action: bytes | None) -> tuple[int, bytes]:
    """``jaga store info`` in a terminal, answering its passphrase prompt with ``action``
    (None: Ctrl-C, the signal the terminal sends for it)."""
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(db.parent)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: main.py with the terminal as its stdin
        # A terminal's foreground program gets Ctrl-C's SIGINT; a test run in the background
        # (nohup, CI) would pass on SIGINT ignored.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execve(sys.executable, [sys.executable, str(REPO_ROOT / "main.py"), "store", "info",
                                   "--db", str(db)], env)  # fmt: skip
    out, sent = b"", False
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, out  # nothing for a minute: it hangs
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child is gone (EIO)
            break
        if not chunk:
            break
        out += chunk
        if not sent and b"passphrase: " in out:
            if action is None:
                os.kill(pid, signal.SIGINT)
            else:
                os.write(fd, action)
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out


def test_ctrl_d_and_ctrl_c_at_the_passphrase_prompt_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.db"
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    assert jaga("store", "init", "--db", str(db), *FAST_KDF) == 0
    code, out = at_the_prompt(db, b"\x04")  # Ctrl-D
    assert (code, out.splitlines()[-1]) == (1, b"jaga: error: no store passphrase given"), out
    code, out = at_the_prompt(db, None)
    assert (code, out.splitlines()[-1]) == (130, b"jaga: no store passphrase given"), out
