"""Whole numbers read from a ``jaga`` command line of the inference package (and the
desktop's, which may import it): a count, a thread budget."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

# Threads one model may use per core (inference.runtime.session.ThreadBudget): here, so that
# a parser's --threads is read without loading ONNX Runtime.
MAX_THREADS_PER_CORE = 4


def whole_number(low: int, high: int | None = None, *, expected: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` (to ``high``, where given), refused
    when the command line is read, in one line: "expected ``expected``, got '...'".

    Without ``expected`` a number under ``low`` is told the floor ("a whole number of at
    least 1"), one over ``high`` the whole range. Thousands of digits are refused as not a
    number is, not as an error of Python's. The twin of ``sync.cli_errors.whole_number``:
    the packages share no code.
    """
    floor = expected or f"a whole number of at least {low}"
    ceiling = expected or f"a whole number from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not a number, or thousands of digits
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {floor}, got {text!r}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"expected {ceiling}, got {text!r}")
        return value

    return parse


def thread_count(text: str) -> int:
    """An argparse ``type`` for ``--threads``: 0 (the default: the cores shared among the
    models) or a count ``ThreadBudget`` takes, checked when the command line is read."""
    most = MAX_THREADS_PER_CORE * (os.cpu_count() or 1)
    expected = f"0 (all cores) or a whole number from 1 to {most} ({MAX_THREADS_PER_CORE} per core)"
    return whole_number(0, most, expected=expected)(text)
