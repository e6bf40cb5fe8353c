"""``jaga models build-engines``: it succeeds only when every model got a TensorRT engine."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inference.pack.installed import ModelPack
from inference.runtime.engines import build_engines
from inference.runtime.providers import CPU, TENSORRT
from tests.conftest import REPO

MODEL = "minifasnet_v2"


@pytest.fixture
def small_pack(model_pack: ModelPack, tmp_path: Path) -> ModelPack:
    """One installed model in a pack of its own, so that no engine folder lands in the
    shared one."""
    pack = ModelPack(tmp_path / "pack", model_pack.manifest)
    installed = model_pack.model(MODEL)
    pack.root.mkdir()
    shutil.copyfile(installed.path, pack.root / installed.path.name)
    pack.write_record(installed.spec, installed.sha256)
    return pack


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_a_model_left_on_the_cpu_fails_the_build(
    small_pack: ModelPack, precision: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """TensorRT listed but building nothing (here: absent from this CPU build of ONNX
    Runtime; with int8, no calibration table) is a failure, not "done"."""
    assert build_engines(small_pack, [MODEL], precision, available=[TENSORRT, CPU]) == 1
    out = capsys.readouterr()
    assert f"{MODEL}: no TensorRT engine, it runs on cpu" in out.err
    if precision == "int8":
        assert "no calibration table" in out.err


def test_cli_offers_no_int8_it_cannot_calibrate(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "models", "build-engines",
         "--precision", "int8", "--dir", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "invalid choice: 'int8'" in result.stderr
