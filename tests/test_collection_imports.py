"""Collecting the suite imports no torch or timm.

Every pytest worker collects the whole suite; a test module that imported torch (or a
module of ours that imports it at its top, such as the fine-tuning) cost each worker about
four seconds of CPU before any test ran, and torch must stay an optional extra: the app runs
on ONNX Runtime alone. Such tests import it inside the test (``tests/deferred.py``).

A run of the whole suite has just collected it, in this very process (each xdist worker
collects every module): the test reads what that collection imported (``tests/conftest.py``
keeps it, before any test runs) rather than collect it all again. Run with only some of the
suite, it collects the whole suite in an interpreter of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import COLLECTED, TRAINING_ONLY

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
def test_collecting_the_suite_imports_no_torch(request: pytest.FixtureRequest) -> None:
    collected = request.config.stash.get(COLLECTED, None)
    if collected is not None and collected.modules >= set(TESTS.rglob("test_*.py")):
        status, imported = int(collected.failed), list(collected.training_imports)
    else:
        status, imported = _collect_in_a_fresh_interpreter()
    assert status == 0, "collecting the suite failed"
    assert not imported, f"collecting the suite imported {imported}"


def _collect_in_a_fresh_interpreter() -> tuple[int, list[str]]:
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
    return status, imported
