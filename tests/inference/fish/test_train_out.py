"""``jaga fish train --out PACK`` and ``combine --out PACK`` never replace a pack unasked.

A second training run into the folder of the first used to replace that pack without a
word, hours of training and the pack devices run among them. The check comes before any
image is read (the data folder here does not even exist).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from main import main


def _pack(folder: Path) -> Path:
    folder.mkdir()
    manifest = {"format": "jaga-fish-pack", "name": "fish-species", "version": "1.0"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "card.md").write_text("# the pack before\n")
    return folder


def _run(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    return ["fish", "train", "--data", str(tmp_path / "missing"), "--out", str(out), *extra]


def test_a_pack_in_out_is_refused_without_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _pack(tmp_path / "pack")
    for argv in (
        _run(tmp_path, out),
        ["fish", "combine", str(out), str(out), "--data", str(tmp_path), "--out", str(out)],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and len(err.splitlines()) == 1, err
        assert "holds pack fish-species 1.0" in err and "--replace" in err
    assert (out / "card.md").read_text() == "# the pack before\n"


def test_replace_says_which_pack_it_replaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _pack(tmp_path / "pack")
    assert main(_run(tmp_path, out, "--replace")) == 1  # then the missing data folder stops it
    said = capsys.readouterr()
    assert "replacing pack fish-species 1.0" in said.out
    assert "is not a folder of species folders" in said.err


def test_a_folder_that_is_not_a_pack_is_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Writing a pack replaces the folder whole: a folder of anything else is refused even
    with --replace; an empty one is written into."""
    out = tmp_path / "photos"
    out.mkdir()
    (out / "IMG_0001.jpg").write_bytes(b"a photo")
    assert main(_run(tmp_path, out, "--replace")) == 1
    assert "not a species pack" in capsys.readouterr().err
    assert (out / "IMG_0001.jpg").exists()
    (out / "IMG_0001.jpg").unlink()
    assert main(_run(tmp_path, out)) == 1
    assert "is not a folder of species folders" in capsys.readouterr().err
