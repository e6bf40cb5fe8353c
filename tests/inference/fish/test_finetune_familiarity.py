"""A fine-tuned pack says "not a fish" as a head pack does: its graph gives ``familiarity``
from the fine-tuned network's own features, and ``jaga fish eval`` turns faces away with it.

The pack is the session's two-step fine-tune at 96 px (``finetuned_96``), INT8 included.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import onnx
import pytest

from inference.fish.pack import SpeciesPack
from main import main
from tests.conftest import shared_path

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]


def test_a_finetuned_pack_gives_familiarity_at_both_precisions(
    finetuned_96: SpeciesPack,
) -> None:
    for precision in ("fp32", "int8"):
        graph = onnx.load(finetuned_96.model_path(precision)).graph
        assert "familiarity" in [o.name for o in graph.output], precision
    thresholds = finetuned_96.thresholds
    assert thresholds.familiarity is not None and thresholds.fish_acceptance == 0.99
    # The INT8 model's own threshold, chosen on its own familiarity of validation.
    assert finetuned_96.int8_familiarity is not None
    assert "Familiarity" in (finetuned_96.root / "card.md").read_text()


def _eval(pack: SpeciesPack, out: Path, precision: str) -> dict[str, Any]:
    data = Path(pack.training()["data"]["root"])
    faces = shared_path("data", "faces", "johns")
    argv = ["fish", "eval", "--data", str(data), "--pack", str(pack.root), "--out", str(out),
            "--split", "validation", "--precision", precision, "--threads", "1",
            "--not-fish", str(faces)]  # fmt: skip
    assert main(argv) == 0
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_eval_of_a_finetuned_pack_turns_faces_away(
    finetuned_96: SpeciesPack, tmp_path: Path
) -> None:
    """Before, eval found no familiarity and every face got a species."""
    familiarity = _eval(finetuned_96, tmp_path / "R.json", "fp32")["familiarity"]
    assert familiarity is not None
    assert familiarity["threshold"] == pytest.approx(finetuned_96.thresholds.familiarity)
    # The threshold keeps 99 % of validation fish: on this small split, all but one at most.
    assert familiarity["no_fish"] <= 1
    assert familiarity["not_fish"]["n"] > 0
    assert familiarity["not_fish"]["rejected_rate"] >= 0.8
    assert familiarity["not_fish"]["auroc"] > 0.9


def test_eval_of_a_finetuned_int8_model_uses_its_own_threshold(
    finetuned_96: SpeciesPack, tmp_path: Path
) -> None:
    """Two steps at 96 px quantise poorly (here it turns away far fewer faces than FP32):
    what is checked is that INT8 answers by its own threshold, never by FP32's."""
    familiarity = _eval(finetuned_96, tmp_path / "R.json", "int8")["familiarity"]
    assert familiarity is not None
    assert familiarity["threshold"] == pytest.approx(finetuned_96.int8_familiarity)
    assert familiarity["no_fish"] <= 1
    assert familiarity["not_fish"]["rejected_rate"] > 0


def test_the_onnx_exporter_logs_nothing_below_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """torch's ONNX exporter logged each optimiser pass at INFO: 91 lines at the end of a
    Lite2 fine-tune, burying its own. Its warnings still show."""
    from inference.quiet_logs import quiet_onnx_exporter

    with caplog.at_level(logging.INFO), quiet_onnx_exporter():
        logging.getLogger("onnx_ir.passes.common.unused_removal").info("Removed 578 nodes")
        logging.getLogger("onnxscript.optimizer._constant_folding").info("Skipping folding")
        logging.getLogger("onnxscript.rewriter").warning("a warning stays")
    assert [record.getMessage() for record in caplog.records] == ["a warning stays"]
    assert logging.getLogger("onnx_ir").level == logging.NOTSET  # put back as it was
