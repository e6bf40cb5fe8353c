"""Whole numbers read from a ``jaga`` command line of the inference package (and the
desktop's, which may import it): a count, a thread budget."""

from __future__ import annotations

import argparse
from collections.abc import Callable


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
