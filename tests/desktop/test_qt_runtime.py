"""The installed Qt binding survives a long-running app: signals do not corrupt Python.

PySide6 6.12.0 on Python 3.11 returned ``True`` from ``SignalInstance.emit()`` without a
reference of its own, so every emit took one reference from ``True``; a process aborted with
``bool_dealloc`` after a few thousand signals (the sync bridge, every background job and
every pack change emit). The check runs in a child process, since the failure is an abort.
"""

from __future__ import annotations

import subprocess
import sys

EMITS = 20_000  # more than the references to True of a fresh process (a few thousand)

_PROGRAM = f"""
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal

class Source(QObject):
    fired = Signal(object)

app = QCoreApplication([])
source = Source()
source.fired.connect(lambda value: None)
before = sys.getrefcount(True)
for _ in range({EMITS}):
    source.fired.emit(1)
print(sys.getrefcount(True) - before)
"""


def test_emitting_signals_leaves_python_intact() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"the process died after emitting signals: {result.stderr}"
    assert int(result.stdout.strip()) == 0  # no reference to True lost (or gained) per emit
