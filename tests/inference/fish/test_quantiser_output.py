"""Quantising says nothing of its own: onnxruntime's quantiser prints its progress and logs,
at INFO on the root logger that ``jaga`` shows, one line per weight scale it widens (129 for
the default pack), which buried a training run's own lines."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from inference.fish import export
from inference.fish.images import letterbox, read_image, to_batch
from inference.fish.pack import MODEL_FILES, SpeciesPack


def test_quantising_prints_and_logs_nothing_below_a_warning(
    trained_pack: SpeciesPack,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = Path(trained_pack.training()["data"]["root"])
    images = [read_image(p) for p in sorted(root.glob("*/*.png"))[:3]]
    batch = to_batch([letterbox(image, trained_pack.input_size) for image in images])
    out = tmp_path / "int8.onnx"
    with caplog.at_level(logging.INFO):
        export.quantize_int8(trained_pack.root / MODEL_FILES["fp32"], out, [batch])
    assert out.is_file()
    printed = capfd.readouterr()
    assert printed.out == "" and "histogram" not in printed.err
    noise = [r.getMessage() for r in caplog.records if r.levelno < logging.WARNING]
    assert noise == []
