"""scrypt costs: every one the CLI offers makes a store, and a header's parameters are bounded.

CPython's ``hashlib.scrypt`` takes at most 2**31 - 1 bytes of ``maxmem``, so a cost whose
memory does not fit cannot be run at all; the CLI must not offer it, and a header that asks
for one (or for r = 0, or a huge p) is a damaged header, refused by name, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sync.cli
from sync.errors import NotAStoreError
from sync.store import Passphrase, Store, StoreConfig
from sync.store import keys as store_keys
from sync.store.scrypt_cost import scrypt_memory
from tests.sync.conftest import FAST, REPO_ROOT
from tests.sync.test_store_keys import folder_state

PASSPHRASE = "a long kiosk passphrase"


def _offered_log2n(command: str) -> list[int]:
    """The ``--scrypt-log2n`` choices of ``jaga store COMMAND``, read from the real parser."""
    parser = argparse.ArgumentParser(prog="jaga")
    sync.cli.register(parser.add_subparsers(dest="command"))
    store = _subparser(parser, "store")
    option = next(
        action
        for action in _subparser(store, command)._actions
        if "--scrypt-log2n" in action.option_strings
    )
    assert option.choices is not None
    return sorted(int(choice) for choice in option.choices)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            chosen: argparse.ArgumentParser = action.choices[name]
            return chosen
    raise AssertionError(f"no subcommand {name}")


def _jaga(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        "JAGA_STORE_PASSPHRASE": PASSPHRASE,
        "JAGA_STORE_NEW_PASSPHRASE": PASSPHRASE + " renewed",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "main.py", *argv],
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("command", ["init", "rekey"])
def test_every_offered_cost_fits_what_hashlib_scrypt_can_run(command: str) -> None:
    for log2n in _offered_log2n(command):
        params = store_keys.ScryptParams.fresh(n=2**log2n)
        assert scrypt_memory(params.n, params.r, params.p) <= 2**31 - 1, log2n


def test_init_with_the_costliest_offered_cost_makes_a_store_that_opens(tmp_path: Path) -> None:
    top = max(_offered_log2n("init"))
    db = tmp_path / "costly.db"
    done = _jaga(tmp_path, "store", "init", "--db", str(db), "--scrypt-log2n", str(top))
    assert done.returncode == 0, done.stderr
    header = store_keys.read_header(db)
    assert header.current.scrypt is not None and header.current.scrypt.n == 2**top
    Store.open(db, Passphrase(PASSPHRASE), config=FAST).close()


@pytest.mark.parametrize("command", ["init", "rekey"])
@pytest.mark.parametrize("log2n", ["21", "22"])
def test_a_cost_scrypt_cannot_run_is_refused_as_bad_input(
    tmp_path: Path, command: str, log2n: str
) -> None:
    db = tmp_path / "s.db"
    if command == "rekey":
        Store.create(db, Passphrase(PASSPHRASE), config=FAST).close()
    before = folder_state(tmp_path)
    done = _jaga(tmp_path, "store", command, "--db", str(db), "--scrypt-log2n", log2n)
    assert "Traceback" not in done.stderr
    assert done.returncode == 2, done.stderr
    assert "--scrypt-log2n" in done.stderr
    assert folder_state(tmp_path) == before


def test_a_store_config_with_a_cost_scrypt_cannot_run_is_refused() -> None:
    with pytest.raises(ValueError, match="scrypt"):
        StoreConfig(scrypt_n=2**21)


def _damage_kdf(db: Path, **fields: Any) -> None:
    path = store_keys.header_path(db)
    document = json.loads(path.read_text())
    document["current"]["kdf"].update(fields)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    "fields",
    [
        {"n": 2**40},
        {"n": 2**21},
        {"n": 0},
        {"r": 0},
        {"r": -1},
        {"p": 0},
        {"p": 2**40},
        {"r": 2**20},
        {"n": 2**16, "r": 1},  # scrypt needs n < 2**(16 r)
    ],
    ids=str,
)
def test_a_header_with_out_of_bounds_scrypt_parameters_is_refused_by_name(
    tmp_path: Path, fields: dict[str, int]
) -> None:
    db = tmp_path / "jaga.db"
    Store.create(db, Passphrase(PASSPHRASE), config=FAST).close()
    _damage_kdf(db, **fields)
    before = folder_state(tmp_path)
    with pytest.raises(NotAStoreError, match=r"jaga\.db\.kdf\.json.*damaged"):
        Store.open(db, Passphrase(PASSPHRASE), config=FAST)
    assert folder_state(tmp_path) == before


def test_the_cli_reports_a_damaged_header_without_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "jaga.db"
    Store.create(db, Passphrase(PASSPHRASE), config=FAST).close()
    _damage_kdf(db, n=2**40)
    done = _jaga(tmp_path, "store", "info", "--db", str(db))
    assert "Traceback" not in done.stderr
    assert done.returncode != 0
    assert "jaga.db.kdf.json" in done.stderr


def test_the_bounds_take_every_cost_a_store_was_made_with() -> None:
    # Stores were made with r = 8, p = 1 and N from 2**10 (tests: smaller) to 2**20: the
    # bounds on a header must never make one of them unopenable.
    for n in (2**2, 2**10, 2**17, 2**20):
        store_keys.ScryptParams.fresh(n=n)  # raises if the bounds refused it
