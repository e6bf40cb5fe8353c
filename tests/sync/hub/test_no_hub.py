"""A ``jaga hub`` command that reads or changes a hub refuses a data folder that holds none:
``export-corrections --out DIR`` as the README wrote it (no ``--data``) started a fresh
embedded PostgreSQL in the default folder, exported its 0 photos and exited 0, while the
hub the admin runs was elsewhere. ``jaga hub manage`` and ``jaga hub run`` still make one."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.sync.hub.hubkit import REPO
from tests.sync.test_species_packs import make_pack

pytestmark = pytest.mark.slow

# Each command that works on an existing hub, with the arguments it needs besides --data.
ON_A_HUB = {
    "export-corrections": ("--out", "corrections"),
    "publish-pack": ("pack", "--allow-species-change"),
    "create-device": ("--site", "north-gate", "--name", "Gate 1"),
    "purge-expired": ("--dry-run",),
    "backup": ("--out", "hub.dump"),
    "renew-log-epoch": (),
    "rejournal-erasures": (),
    "new-id": ("--confirm",),
}


def _jaga_hub(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``jaga hub ARGS`` with no ``DATABASE_URL`` (the embedded PostgreSQL) and ``home`` as
    ``HOME`` (its default data folder under it), run in ``home``."""
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), "hub", *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=home,
    )


def test_a_command_on_a_hub_refuses_a_folder_with_no_hub_and_makes_nothing(
    tmp_path: Path,
) -> None:
    make_pack(tmp_path / "pack")
    default = tmp_path / ".local" / "share" / "jaga" / "hub"
    for command, arguments in ON_A_HUB.items():
        for data in ((), ("--data", "empty")):
            done = _jaga_hub(tmp_path, command, *arguments, *data)
            folder = tmp_path / "empty" if data else default
            said = done.stderr.strip().splitlines()
            assert done.returncode == 1, (command, data, done.stderr)
            assert len(said) == 1 and "Traceback" not in done.stderr, (command, said)
            assert f"no hub in {folder}" in said[0] and "--data DIR" in said[0], said
            assert not (tmp_path / ".local").exists() and not (tmp_path / "empty").exists()
            assert not (tmp_path / "corrections").exists()


def test_the_first_steps_make_the_hub_the_other_commands_then_use() -> None:
    # Not under pytest's folder: another pytest session run meanwhile makes its parent
    # private again, and the embedded PostgreSQL's own user could then not reach its files.
    with tempfile.TemporaryDirectory(prefix="jaga-no-hub-") as scratch:
        home = Path(scratch)
        made = _jaga_hub(home, "manage", "check", "--data", "hub")
        assert made.returncode == 0, made.stderr
        exported = _jaga_hub(home, "export-corrections", "--data", "hub", "--out", "out")
        assert exported.returncode == 0, exported.stderr
        assert "0 confirmed photos written" in exported.stdout
        rejournaled = _jaga_hub(home, "rejournal-erasures", "--data", "hub")
        assert rejournaled.returncode == 0, rejournaled.stderr
        assert "cleared the journaled mark of 0 people erased" in rejournaled.stdout
        assert not (home / ".local").exists()  # the default folder was never touched
