"""``export-training-set --out`` killed part way leaves its hidden staging folder beside
OUT; the next ``--out`` into the same folder removes it, and never one a live run holds."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from main import main
from tests.conftest import REPO
from tests.inference.fish.test_corrections_order import TUESDAY, _export, _photo
from tests.inference.pack.test_install_lock import HANG_S, wait_until_reached


def _corrections(tmp_path: Path) -> Path:
    _photo(tmp_path / "tue" / "p3.png", 3)
    return _export(tmp_path / "tue", ["p3.png,Zed,obs-3"], TUESDAY)


def _out(corrections: Path, out: Path) -> list[str]:
    return ["fish", "export-training-set", "--corrections", str(corrections), "--out", str(out)]


def _stopped(how: str, corrections: Path, out: Path, gate: Path) -> subprocess.Popen[str]:
    worker = [sys.executable, "-m", "tests.inference.fish.out_worker", how, str(gate)]
    return subprocess.Popen(
        [*worker, str(corrections), str(out)], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_the_next_out_removes_the_staging_folder_a_killed_out_left(tmp_path: Path) -> None:
    corrections = _corrections(tmp_path)
    sets = tmp_path / "sets"
    killed = _stopped("killed", corrections, sets / "monday", tmp_path / "gate")
    assert killed.wait(timeout=HANG_S) == -signal.SIGKILL
    assert [p.name for p in sets.iterdir()] != []  # the kill left its staging folder
    assert main(_out(corrections, sets / "tuesday")) == 0
    assert sorted(p.name for p in sets.iterdir()) == ["tuesday"]


def test_the_next_out_leaves_the_staging_folder_of_a_live_out(tmp_path: Path) -> None:
    corrections = _corrections(tmp_path)
    sets, gate = tmp_path / "sets", tmp_path / "gate"
    live = _stopped("paused", corrections, sets / "monday", gate)
    try:
        wait_until_reached(gate, live)
        assert main(_out(corrections, sets / "tuesday")) == 0
        gate.touch()
        output = live.communicate(timeout=HANG_S)[0]
    finally:
        live.kill()
    assert live.returncode == 0, output
    assert sorted(p.name for p in sets.iterdir()) == ["monday", "tuesday"]
