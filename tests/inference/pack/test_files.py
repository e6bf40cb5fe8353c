"""The pack installer's atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inference.pack.files import temporary_sibling


def test_ctrl_c_the_moment_the_temporary_exists_leaves_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lands between two bytecodes: the first one after the temporary file was made
    (here, the close of its descriptor) must already be one whose interruption removes it.
    ``test_ctrl_c_during_a_conversion_leaves_nothing_half_installed`` sends SIGINT as soon
    as the file appears, and under load once found it left behind."""
    real_close = os.close

    def interrupted(fd: int) -> None:
        real_close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "close", interrupted)
    with pytest.raises(KeyboardInterrupt), temporary_sibling(tmp_path / "model.onnx"):
        pytest.fail("the body never runs: the interrupt came first")
    assert list(tmp_path.iterdir()) == []


def test_a_name_taken_by_another_file_is_left_to_its_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removing the temporary on the way out must never remove a file that was not ours."""
    taken = tmp_path / ".model.onnx.0000000000000000.part"
    taken.write_bytes(b"someone else's")
    monkeypatch.setattr("inference.pack.files.secrets.token_hex", lambda _n: "0" * 16)
    with pytest.raises(FileExistsError), temporary_sibling(tmp_path / "model.onnx"):
        pytest.fail("the body never runs: the name was taken")
    assert taken.read_bytes() == b"someone else's"


def test_the_temporary_is_removed_after_the_body_and_named_beside_the_final(
    tmp_path: Path,
) -> None:
    with temporary_sibling(tmp_path / "model.onnx") as temporary:
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".model.onnx.") and temporary.name.endswith(".part")
        assert temporary.exists() and temporary.stat().st_mode & 0o777 == 0o600
    assert not temporary.exists()
