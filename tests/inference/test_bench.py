from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inference.bench import bench_models, format_table
from inference.pack.installed import ModelPack
from inference.runtime import Runtime, ThreadBudget
from inference.runtime.providers import CPU
from main import main
from tests.conftest import REPO
from tests.inference.pack.helpers import pack_of_one


def test_bench_reports_batch_1_and_8_for_dynamic_models(model_pack: ModelPack) -> None:
    runtime = Runtime(model_pack, preference=(CPU,), threads=ThreadBudget(1))
    rows = bench_models(runtime, ["minifasnet_v2"], runs=3)
    assert [(row.model_id, row.batch, row.provider) for row in rows] == [
        ("minifasnet_v2", 1, "cpu"),
        ("minifasnet_v2", 8, "cpu"),
    ]
    assert all(0 < row.p50_ms <= row.p95_ms for row in rows)
    assert "| minifasnet_v2 | cpu | 8 |" in format_table(rows, 1)


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (["--runs", "0"], "--runs"),
        (["--runs", "many"], "--runs"),
        (["--providers", "gpu"], "gpu"),
        (["--threads", "9999"], "--threads"),
        (["--threads", "-1"], "--threads"),
    ],
)
def test_bench_refuses_bad_options_in_one_line(
    model_pack: ModelPack, option: list[str], named: str
) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "bench", "models", "minifasnet_v2",
         "--dir", str(model_pack.root), "--providers", "cpu", *option],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode in {1, 2}  # 2: argparse's usage error
    assert "Traceback" not in result.stderr
    (last,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert named in last


def test_bench_without_ids_runs_the_installed_models_and_names_the_others(
    model_pack: ModelPack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = pack_of_one(model_pack, "yunet_n", tmp_path / "models")  # the others: not installed
    code = main(["bench", "models", "--runs", "1", "--providers", "cpu", "--threads", "1",
                 "--dir", str(pack.root)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert {line.split(" | ")[0] for line in out.splitlines() if line.startswith("| ")} == {
        "| model", "| ---", "| yunet_n",
    }  # fmt: skip
    assert "not installed, not benched: yunet_s, " in err


def test_bench_without_ids_on_an_empty_pack_says_how_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "models", "--providers", "cpu", "--dir", str(tmp_path)])
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: no model is installed in {tmp_path}; run: jaga models install --dir {tmp_path}\n"
    )
