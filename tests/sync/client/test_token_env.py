"""``jaga sync`` takes the device's token out of its environment once it has read it.

Review (s34): ``$JAGA_SYNC_TOKEN`` stayed in ``os.environ`` for as long as a command ran,
so every process it started inherited the hub's bearer token for this device. Each
``jaga sync`` command now reads it once, into the mapping it hands to what reads the
settings, and unsets it: a child that needs it is to be given it explicitly
(``tests.sync.client.devices`` does so for the commands it runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from main import main
from sync.client.config import TOKEN_ENV
from tests.sync.client.test_cli import registered

_CHILD_SEES_TOKEN = f"import os; print({TOKEN_ENV!r} in os.environ)"


def child_sees_token() -> bool:
    """Whether a process started now inherits the token."""
    child = subprocess.run(
        [sys.executable, "-c", _CHILD_SEES_TOKEN], capture_output=True, text=True, check=True
    )
    return child.stdout.strip() == "True"


def test_status_reads_the_token_and_takes_it_out_of_the_environment(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registered(monkeypatch)
    assert main(["sync", "status", "--db", str(db)]) == 0
    assert "set (environment)" in capsys.readouterr().out  # read, once
    assert TOKEN_ENV not in os.environ, "the token is still in os.environ after `jaga sync`"
    assert not child_sees_token(), "a process `jaga sync` starts inherits the token"


def test_now_syncs_with_the_token_it_took_out(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The token is read before it is taken: the sync goes to the (absent) hub with it,
    not "not registered"."""
    registered(monkeypatch)
    assert main(["sync", "now", "--db", str(db), "--retries", "1"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the hub" in err, err
    assert "register" not in err, err
    assert TOKEN_ENV not in os.environ, "the token is still in os.environ after `jaga sync now`"
