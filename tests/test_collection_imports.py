"""Collecting the suite imports no torch or timm.

Every pytest worker collects the whole suite; a test module that imported torch (or a
module of ours that imports it at its top, such as the fine-tuning) cost each worker about
four seconds of CPU before any test ran, and torch must stay an optional extra: the app runs
on ONNX Runtime alone. Such tests import it inside the test (``tests/deferred.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TRAINING_ONLY = ("torch", "timm", "torchvision")


@pytest.mark.slow
def test_collecting_the_suite_imports_no_torch() -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "import pytest\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    status = pytest.main(['--co', '-q', '-p', 'no:cacheprovider', {str(TESTS)!r}])\n"
        "imported = {name.split('.')[0] for name in sys.modules}\n"
        f"print(json.dumps([int(status), sorted(imported & set({TRAINING_ONLY!r}))]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=600, check=False, cwd=TESTS.parent,
    )  # fmt: skip
    status, imported = json.loads(result.stdout.splitlines()[-1])
    assert status == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not imported, f"collecting the suite imported {imported}"
