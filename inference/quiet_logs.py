"""Libraries' INFO lines kept out of Jaga's own output.

torch's ONNX exporter logs each optimiser pass at INFO through ``onnxscript`` and ``onnx_ir``
(91 lines on a Lite2 fine-tune, a dozen per converted model in ``jaga models install``),
burying the lines that say what the command is doing. Their warnings still show.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

ONNX_EXPORTER_LOGGERS = ("onnxscript", "onnx_ir")


@contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """The loggers ``names`` (and theirs below) pass warnings only, then as they were."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def quiet_onnx_exporter() -> AbstractContextManager[None]:
    """Around ``torch.onnx.export``: without its optimiser's INFO lines."""
    return quiet_loggers(*ONNX_EXPORTER_LOGGERS)
