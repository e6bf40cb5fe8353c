"""``jaga ... | head``: a reader that stops reading ends the command quietly, as it ends
other command-line tools, instead of with ``error: [Errno 32] Broken pipe``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# 128 + SIGPIPE: what a shell reports for a tool the signal ended, `yes | head` say.
READER_GONE = 141


def test_a_reader_gone_before_the_output_ends_the_command_quietly() -> None:
    jaga = subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "models", "list"],
        cwd=REPO,
        env=os.environ | {"QT_QPA_PLATFORM": "offscreen"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert jaga.stdout is not None and jaga.stderr is not None
    jaga.stdout.close()  # as `head` does once it has its lines
    err = jaga.stderr.read().decode()
    status = jaga.wait(timeout=120)
    jaga.stderr.close()
    assert err == ""
    assert status == READER_GONE
