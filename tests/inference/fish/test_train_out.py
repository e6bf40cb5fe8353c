"""``jaga fish train --out PACK`` and ``combine --out PACK`` never replace a pack unasked.

A second training run into the folder of the first used to replace that pack without a
word, hours of training and the pack devices run among them. The check comes before any
image is read (the data folder here does not even exist).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inference.fish.pack import (
    Leftovers,
    SpeciesPack,
    load_pack,
    undo_interrupted_writes,
    write_pack,
)
from main import main
from tests.conftest import REPO
from tests.inference.pack.test_install_lock import wait_until_reached


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


def _killed_between_renames(pack: Path, out: Path, gate: Path) -> None:
    """Rewrite ``pack`` over the copy of it at ``out`` and SIGKILL (a power cut) the writer
    with the pack before retired aside and the new one not yet in its place."""
    worker = [sys.executable, "-m", "tests.inference.fish.pack_write_worker"]
    killed = subprocess.Popen(
        [*worker, "swap", str(pack), str(out), str(gate)], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_until_reached(gate, killed)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=10) == -signal.SIGKILL
    assert not out.exists()  # as the kill left it


@pytest.mark.needs_shared
def test_a_pack_write_killed_between_its_renames_leaves_the_pack_before_to_be_found(
    default_species_pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``train``/``combine --replace`` killed between the two renames of the pack write: a
    reader, and the next run, find the pack before whole at ``--out`` again, not a missing
    pack and a hidden one."""
    out = Path(shutil.copytree(default_species_pack, tmp_path / "packs" / "reef"))
    before = load_pack(out)
    _killed_between_renames(default_species_pack, out, tmp_path / "gate")
    assert load_pack(out).sha256 == before.sha256  # a reader
    shutil.rmtree(out)  # as the kill left it, once more
    shutil.copytree(default_species_pack, out)
    _killed_between_renames(default_species_pack, out, tmp_path / "gate-2")
    assert main(_run(tmp_path, out)) == 1  # the next run: the pack is there, refused unasked
    assert f"holds pack {before.name} {before.version}" in capsys.readouterr().err
    assert load_pack(out).sha256 == before.sha256


@pytest.mark.needs_shared
@pytest.mark.parametrize("times", [1, 3])
def test_a_reader_that_puts_the_pack_back_mid_write_does_not_fail_the_write(
    default_species_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times: int
) -> None:
    """A reader (``load_pack``) between the writer's two renames finds no pack and puts the
    retired one back: the writer retires it again and puts its own pack in place, as often
    as a reader does so (it gave up with a raw OSError the second time: review r2 device)."""
    out = Path(shutil.copytree(default_species_pack, tmp_path / "packs" / "reef"))
    before = load_pack(out)
    rename = Path.rename
    readers: list[SpeciesPack] = []

    def read_in_the_window(self: Path, target: Any) -> Path:
        moved = rename(self, target)
        if str(target).endswith(".old") and len(readers) < times:
            readers.append(load_pack(out))  # the real reader, in the window
        return moved

    monkeypatch.setattr(Path, "rename", read_in_the_window)
    build: dict[str, Path | dict[str, Any] | str] = {n: before.root / n for n in before.sha256}
    build["card.md"] = "# the pack after\n"
    written = write_pack(
        out, name=before.name, version="after", backbone_sha256=before.backbone_sha256,
        build=build, input_sizes=before.input_sizes,
    )  # fmt: skip
    assert [r.version for r in readers] == [before.version] * times
    assert load_pack(out).version == written.version == "after"
    assert sorted(p.name for p in out.parent.iterdir()) == ["reef"]


@pytest.mark.needs_shared
def test_a_pack_retired_aside_is_put_back_only_into_its_own_folder(
    default_species_pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A write into packs/reef.v2 killed between its renames leaves reef.v2's pack retired
    aside. A reader or the first train of packs/reef, whose name starts the same, took it as
    reef's (review r2 device, 3), and undoing packs/reef's writes deleted it; it is reef.v2's."""
    longer = Path(shutil.copytree(default_species_pack, tmp_path / "packs" / "reef.v2"))
    before = load_pack(longer)
    _killed_between_renames(default_species_pack, longer, tmp_path / "gate")
    short = tmp_path / "packs" / "reef"
    assert main(_run(tmp_path, short)) == 1  # a first train into packs/reef: no pack is there
    said = capsys.readouterr()
    assert "put back" not in said.out and "is not a folder of species folders" in said.err
    assert not short.exists() and not longer.exists()
    shutil.copytree(default_species_pack, short)
    assert undo_interrupted_writes(short).removed == 0  # reef's own writes only
    assert load_pack(longer).sha256 == before.sha256
    assert undo_interrupted_writes(longer) == Leftovers(restored=False, removed=1)  # its staging
    assert sorted(p.name for p in short.parent.iterdir()) == ["reef", "reef.v2"]


def test_a_pack_an_older_release_retired_is_still_put_back(tmp_path: Path) -> None:
    """Releases before named the pack set aside ``.<name>.<mkdtemp's 8 characters>.old``, as
    this one does: a device upgraded with one left finds its pack again."""
    retired = _pack(tmp_path / ".reef.k2_9zq0x.old")
    assert undo_interrupted_writes(tmp_path / "reef").restored
    assert not retired.exists()
    assert (tmp_path / "reef" / "card.md").read_text() == "# the pack before\n"


@pytest.mark.parametrize(
    ("device", "refusal"),
    [
        ("bogus", "'bogus' is not a device to train on: expected auto, cpu, cuda, cuda:N or mps"),
        ("meta", "'meta' is not a device to train on"),
        ("cuda:99", "cuda:99: "),
    ],
)
def test_a_device_to_finetune_on_is_checked_when_the_command_line_is_read(
    tmp_path: Path, device: str, refusal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a torch RuntimeError traceback once the data was read (about 16 s)."""
    with pytest.raises(SystemExit) as usage:
        main([*_run(tmp_path, tmp_path / "out"), "--mode", "finetune", "--device", device])
    assert usage.value.code == 2
    assert f"argument --device: {refusal}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cuda_is_refused_where_torch_has_no_gpu_and_taken_where_it_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never swapped for the CPU unasked: ``auto`` is the device that falls back."""
    import torch

    argv = [*_run(tmp_path, tmp_path / "out"), "--mode", "finetune", "--device", "cuda"]
    if torch.cuda.is_available():  # on to the data, which is missing here
        assert main(argv) == 1
        assert "--device" not in capsys.readouterr().err
        return
    with pytest.raises(SystemExit) as usage:
        main(argv)
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "argument --device: cuda: no CUDA GPU is usable on this machine (torch " in err
    assert "use --device cpu, or auto (the GPU where there is one)" in err


@pytest.mark.parametrize("version", ["../../x", "-x", "a b", "", ".hidden", "x" * 129])
@pytest.mark.parametrize("command", ["train", "combine"])
def test_a_version_the_hub_would_refuse_is_refused_before_training(
    tmp_path: Path, command: str, version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--version ../../x`` trained a pack (exit 0) that ``hub publish-pack`` then refused,
    after a training that may take hours. Now it is refused when the command line is read:
    the data folder here does not even exist, and nothing is written."""
    out = tmp_path / "out"
    combine = ["fish", "combine", str(out), str(out), "--data", str(tmp_path), "--out", str(out)]
    argv = _run(tmp_path, out) if command == "train" else combine
    with pytest.raises(SystemExit) as usage:
        main([*argv, f"--version={version}"])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    rule = "a species pack version is 1-128 letters, digits, '.', '_', '+' or '-', starting"
    assert f"argument --version: {rule}" in err
    assert f"not {version!r}" in err
    assert not out.exists()


def test_a_pack_is_built_with_the_versions_the_hub_publishes() -> None:
    """The rule is written twice (inference and sync are independent): kept equal here."""
    from inference.fish.pack_format import version_problem
    from sync.species_packs import PackArchiveError, check_version

    def hub_takes(version: str) -> bool:
        try:
            check_version(version)
        except PackArchiveError:
            return False
        return True

    for version in ["2026.11.0+f4k_head-2", "v1", "1", "x" * 128, "x" * 129, "-x", "_x", ".x",
                    "../../x", "a b", "a/b", "", "é1", "1é"]:  # fmt: skip
        assert (version_problem(version) is None) == hub_takes(version), version
    # A version names a folder on every device: a line break is never part of one.
    for version in ["v1\n", "v1\r\n", "\nv1"]:
        assert version_problem(version) is not None, repr(version)
        assert not hub_takes(version), repr(version)
