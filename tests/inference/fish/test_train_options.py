"""``jaga fish train``'s options are checked before any image is read.

A value no training can use (a side of 600 px, a validation fraction of 0, an acceptance of
150 %) used to surface as a raw traceback, some only after a whole training run. Each is
now one line on stderr, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.errors import InputError
from inference.fish.config import FinetuneConfig, HeadConfig
from inference.fish.packing import TrainOptions
from main import main

BAD_ARGUMENTS = {
    "side too large for a head": (["--set", "input_size=600"], "input_size must be 64 to 512"),
    "side too small for a fine-tune": (
        ["--mode", "finetune", "--set", "input_size=40"],
        "input_size must be 64 to 512",
    ),
    "no validation": (["--validation-fraction", "0"], "validation fraction must be between"),
    "nothing to train on": (["--validation-fraction", "1"], "validation fraction must be between"),
    "acceptance over 1": (["--known-acceptance", "1.5"], "known acceptance must be above 0"),
    "precision of 0": (["--review-precision", "0"], "review precision must be above 0"),
    "negative views": (["--views", "-1"], "views must be 0 or more"),
    "negative hidden width": (["--hidden", "-5"], "hidden must be 0 or more"),
    "no epochs": (["--epochs", "0"], "epochs must be 1 or more"),
    "seed as a setting": (["--set", "seed=3"], "unknown settings"),
    "dropout of 1": (["--set", "dropout=1"], "dropout must be 0 or more and under 1"),
}


@pytest.mark.parametrize("arguments, message", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_a_bad_option_is_one_line_before_any_image_is_read(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The data folder does not even exist: the option is refused before it is looked at."""
    out = tmp_path / "pack"
    argv = ["fish", "train", "--data", str(tmp_path / "missing"), "--out", str(out), *arguments]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err, err
    assert len(err.splitlines()) == 1 and not out.exists()


def test_the_defaults_are_valid_and_each_bound_is_checked() -> None:
    """The defaults construct; each config refuses the edge just outside its range and takes
    the edge just inside (an inverted comparison would fail one of the two)."""
    HeadConfig(), FinetuneConfig(), TrainOptions(data=Path("d"), out=Path("o"))
    HeadConfig(input_size=64, hidden=0, dropout=0.0)
    FinetuneConfig(input_size=512, ema_decay=0.0)
    TrainOptions(data=Path("d"), out=Path("o"), known_acceptance=1.0, review_precision=1.0)
    for make in (
        lambda: HeadConfig(input_size=63),
        lambda: FinetuneConfig(input_size=513),
        lambda: FinetuneConfig(ema_decay=1.0),
        lambda: HeadConfig(batch_size=0),
        lambda: TrainOptions(data=Path("d"), out=Path("o"), calibration_images=0),
        lambda: TrainOptions(data=Path("d"), out=Path("o"), known_acceptance=0.0),
    ):
        with pytest.raises(InputError):
            make()
