"""The INT8 model's own familiarity threshold, chosen on its own familiarity of validation.

Quantising the backbone moves the features the familiarity is computed from, lower on the
whole, while the FP32 threshold was chosen on the FP32 model's values: used on the INT8
model it would turn away more fish than ``fish_acceptance`` allows. The same rule
(:func:`inference.fish.calibrate.familiarity_threshold`) on the INT8 model's values keeps its
promise on the validation photos. The photos are prepared as the classifier prepares a crop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference.fish.calibrate import Thresholds, familiarity_threshold
from inference.fish.graph_contract import FAMILIARITY
from inference.fish.images import FloatArray, batch_inputs, read_image
from inference.fish.pack import INT8_FAMILIARITY_FILE, int8_familiarity_json
from inference.fish.trainset import PreparedData

BATCH = 16


def model_familiarity(model: Path, photos: Sequence[Path], sides: tuple[int, ...]) -> FloatArray:
    """The model's familiarity of each photo, on the CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    values = [np.zeros(0, dtype=np.float32)]
    for start in range(0, len(photos), BATCH):
        images = [read_image(path) for path in photos[start : start + BATCH]]
        (familiarity,) = session.run([FAMILIARITY], batch_inputs(images, sides))
        values.append(np.asarray(familiarity, dtype=np.float32).reshape(-1))
    return np.concatenate(values)


def int8_familiarity_file(
    model: Path, validation: Sequence[Path], sides: tuple[int, ...], fish_acceptance: float
) -> dict[str, Any]:
    """``familiarity_int8.json`` for the INT8 ``model``, from the validation photos."""
    values = model_familiarity(model, validation, sides)
    threshold = familiarity_threshold(values, fish_acceptance)
    return int8_familiarity_json(threshold, fish_acceptance, len(values))


def int8_files(
    models: Mapping[str, Path], data: PreparedData, thresholds: Thresholds,
    sides: tuple[int, ...], progress: Callable[[str], None],
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The pack file of the INT8 model's own familiarity threshold, chosen on the validation
    photos the FP32 one was chosen on; none where there is no INT8 model or no familiarity."""
    if "int8" not in models or thresholds.fish_acceptance is None:
        return {}
    progress("choosing the INT8 model's familiarity threshold on validation")
    body = int8_familiarity_file(
        models["int8"], data.paths(data.validation), sides, thresholds.fish_acceptance
    )
    return {INT8_FAMILIARITY_FILE: body}
