"""A `jaga models install` stopped while it swaps the species pack (a power cut, Ctrl-C), and
a `fish-default` that is no pack: every reader still finds the pack before, and the fix
`jaga models verify` names works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inference.fish.installed import INSTALLED_FOLDER, installed_default_pack
from inference.fish.pack import MANIFEST, load_pack, write_pack
from inference.pack.install import FISH_BACKBONE_ID
from inference.pack.installed import ModelPack
from main import main
from tests.conftest import REPO
from tests.inference.pack.helpers import pack_of_one
from tests.inference.pack.test_install_fish import fish_default_lines

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]

OLDER = "2000.1.0"  # the version of the pack before: whole, but not this release's


@pytest.fixture
def models(model_pack: ModelPack, default_species_pack: Path, tmp_path: Path) -> ModelPack:
    """A models folder holding the fish backbone and a whole species pack of an older
    version, which an install of the backbone rebuilds (without rebuilding the backbone)."""
    pack = pack_of_one(model_pack, FISH_BACKBONE_ID, tmp_path / "models")
    before = load_pack(default_species_pack)
    write_pack(
        pack.root / INSTALLED_FOLDER, name=before.name, version=OLDER,
        backbone_sha256=before.backbone_sha256,
        build={name: before.root / name for name in before.sha256},
        input_sizes=before.input_sizes,
    )  # fmt: skip
    return pack


def install_signalled(signal: str, pack: ModelPack, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`jaga models install <backbone> --dir ROOT`, sent SIGKILL or SIGINT as it swaps the
    species pack (``swap_signal_worker``), with its temporary files in ``tmp``."""
    tmp.mkdir(exist_ok=True)
    worker = [sys.executable, "-m", "tests.inference.pack.swap_signal_worker", signal]
    return subprocess.run(
        [*worker, "models", "install", FISH_BACKBONE_ID, "--dir", str(pack.root)], cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp)}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def fish_names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if INSTALLED_FOLDER in p.name)


def killed_mid_swap(pack: ModelPack, tmp_path: Path) -> None:
    killed = install_signalled("KILL", pack, tmp_path / "tmp")
    assert killed.returncode == -9, killed.stderr
    left = fish_names(pack.root)  # the pack before set aside, no fish-default
    assert INSTALLED_FOLDER not in left and any(name.endswith(".old") for name in left), left


@pytest.mark.parametrize("reader", ["verify", "installed_default_pack"])
def test_a_pack_a_power_cut_left_set_aside_is_found_by_every_reader(
    reader: str,
    models: ModelPack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed between its two renames, the install left the pack before set aside: only
    load_pack put it back, so `jaga models verify` said it was missing, and the app
    (desktop, catch, `jaga fish eval` without --pack) found no default pack."""
    killed_mid_swap(models, tmp_path)
    if reader == "verify":
        _, lines = fish_default_lines("verify", models.root, capsys)
        assert [line.split(" (")[0] for line in lines] == ["fish-default: outdated, still used"]
    else:
        monkeypatch.setenv("JAGA_MODELS_DIR", str(models.root))
        assert load_pack(installed_default_pack()).version == OLDER
    left = fish_names(models.root)  # put back; its staging folders are the next install's
    assert INSTALLED_FOLDER in left and not [name for name in left if name.endswith(".old")]


def test_ctrl_c_as_the_species_pack_is_swapped_puts_the_pack_before_back(
    models: ModelPack, tmp_path: Path
) -> None:
    """Ctrl-C between the two renames said "nothing half-installed" and left the pack
    before set aside, with no fish-default: only OSError put it back."""
    stopped = install_signalled("INT", models, tmp_path / "tmp")
    assert stopped.returncode == 130, stderr_tail(stopped)
    assert "nothing half-installed" in stopped.stderr
    assert fish_names(models.root) == [INSTALLED_FOLDER]  # before any reader put it back
    manifest = json.loads((models.root / INSTALLED_FOLDER / MANIFEST).read_text())
    assert manifest["version"] == OLDER


def stderr_tail(process: subprocess.CompletedProcess[str]) -> str:
    return process.stderr[-2000:]


def test_a_killed_species_pack_build_leaves_nothing_in_tmpdir(
    models: ModelPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each kill left a ~19 MB `jaga-fish-*` folder in $TMPDIR that no install removed:
    the build now stages beside the pack, where the next install sweeps."""
    killed_mid_swap(models, tmp_path)
    assert main(["models", "install", FISH_BACKBONE_ID, "--dir", str(models.root)]) == 0
    assert "left by an interrupted species pack build" in capsys.readouterr().out
    assert not list((tmp_path / "tmp").glob("jaga-fish-*"))
    assert fish_names(models.root) == [INSTALLED_FOLDER]
    assert load_pack(models.root / INSTALLED_FOLDER).version != OLDER


@pytest.mark.parametrize("damage", ["emptied", "manifest lost"])
def test_the_install_verify_names_replaces_a_fish_default_that_is_no_pack(
    damage: str,
    model_pack: ModelPack,
    default_species_pack: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A fish-default without manifest.json is reported missing, with `jaga models install
    <backbone> --dir ...` as the fix; that refused to replace it, --force or not."""
    pack = pack_of_one(model_pack, FISH_BACKBONE_ID, tmp_path / "models")
    installed = Path(shutil.copytree(default_species_pack, pack.root / INSTALLED_FOLDER))
    for path in installed.iterdir():
        if damage == "emptied" or path.name == MANIFEST:
            path.unlink()
    fix = f"fish-default: missing -> jaga models install {FISH_BACKBONE_ID} --dir {pack.root}"
    assert fish_default_lines("verify", pack.root, capsys)[1] == [fix]
    assert main(["models", "install", FISH_BACKBONE_ID, "--dir", str(pack.root)]) == 0
    load_pack(installed)
    assert fish_names(pack.root) == [INSTALLED_FOLDER]


def test_a_fish_default_linked_to_another_folder_is_never_replaced(
    model_pack: ModelPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The models folder's own fish-default is the installer's; a link to a folder of the
    user's is not, and what it holds stays."""
    pack = pack_of_one(model_pack, FISH_BACKBONE_ID, tmp_path / "models")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    (pack.root / INSTALLED_FOLDER).symlink_to(mine, target_is_directory=True)
    assert main(["models", "install", FISH_BACKBONE_ID, "--dir", str(pack.root)]) == 1
    assert "not a species pack" in capsys.readouterr().err
    assert (pack.root / INSTALLED_FOLDER).is_symlink() and (mine / "notes.txt").exists()
