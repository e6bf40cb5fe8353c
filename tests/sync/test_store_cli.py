"""``jaga store ...`` and ``jaga audit verify`` through the real argument parser."""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import sync.cli
from sync.errors import KeySourceError
from sync.store import AccessEvent, Consent, Passphrase, Store, SystemClock
from sync.store.key_sources import (
    PASSPHRASE_ENV,
    forget_taken_passphrases,
    resolve_key_source,
)
from sync.store.keys import header_path
from tests.sync.conftest import FAST, REPO_ROOT, template

PASSPHRASE = "a long kiosk passphrase"
FAST_KDF = ("--scrypt-log2n", "10")  # the default, 17, costs a second per command


def jaga(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="jaga")
    sync.cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store made by ``jaga store init`` with the passphrase in the environment."""
    db = tmp_path / "jaga.db"
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("JAGA_STORE_PATH", str(db))
    assert jaga("store", "init", *FAST_KDF) == 0
    return db


def add_person(db: Path, *, expired: bool = False) -> str:
    """Enrol someone through the API (with the real clock, as the CLI uses)."""
    now = SystemClock().now()
    given = now - timedelta(days=10)
    until = now - timedelta(days=1) if expired else now + timedelta(days=300)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        uid = store.people.enrol(
            external_id="CLI-1",
            display_name="Cli Person",
            site="gate",
            consent=Consent("v1", given, "op", until),
            templates=[template(1)],
            operator="op",
            duplicate_threshold=0.6,
        ).person.person_uid
        store.access.record(AccessEvent(now, "gate", "kiosk-1", "verified", uid, 0.9))
    return uid


def test_init_writes_a_store_and_its_key_header(cli_store: Path) -> None:
    assert cli_store.exists()
    assert header_path(cli_store).exists()


def test_init_with_a_new_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, key = tmp_path / "k.db", tmp_path / "store.key"
    assert jaga("store", "init", "--db", str(db), "--key-file", str(key), "--create-key-file") == 0
    assert key.stat().st_mode & 0o777 == 0o600
    assert jaga("store", "info", "--db", str(db), "--key-file", str(key)) == 0
    assert "key          key_file" in capsys.readouterr().out


def test_info_reports_counts_and_a_passing_check(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_person(cli_store)
    capsys.readouterr()
    assert jaga("store", "info") == 0
    out = capsys.readouterr().out
    assert "people       1" in out
    assert "templates    dlib-resnet-128@1: 1" in out
    assert "integrity    ok" in out
    assert "Cli Person" not in out


def test_a_wrong_passphrase_exits_1_with_one_clear_line(
    cli_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", "guess")
    assert jaga("store", "info") == 1
    assert capsys.readouterr().err == (
        "jaga: error: wrong passphrase: it does not open this store (nothing was changed)\n"
    )


def test_no_key_and_no_terminal_is_a_clear_error(
    cli_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fixture's `jaga store init` took the passphrase out of the environment, and this
    # process holds it (sync.store.key_sources): a command in a process of its own has none.
    monkeypatch.delenv("JAGA_STORE_PASSPHRASE", raising=False)
    forget_taken_passphrases()
    assert jaga("store", "info") == 1
    assert "no key: give --key-file, set JAGA_STORE_PASSPHRASE" in capsys.readouterr().err


def test_audit_verify_passes_then_fails_after_tampering(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_person(cli_store)
    assert jaga("audit", "verify") == 0
    assert "audit chain ok: 3 entries" in capsys.readouterr().out
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        connection = store.database.connection
        connection.execute("DROP TRIGGER audit_log_no_update")
        connection.execute("UPDATE audit_log SET actor = 'nobody' WHERE sequence = 2")
    assert jaga("audit", "verify") == 1
    assert "audit chain BROKEN at entry 2" in capsys.readouterr().out


def test_audit_verify_checks_a_recorded_head(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The chain alone does not show its newest entries removed: the head that verify
    prints, recorded elsewhere and given back with --head, does."""
    add_person(cli_store)
    assert jaga("audit", "verify") == 0
    out = capsys.readouterr().out
    head = out.split("; head ")[1].split()[0:2]
    assert head[0] == "3"
    assert f"--head {head[0]}:{head[1]}" in out
    assert jaga("audit", "verify", "--head", ":".join(head)) == 0
    assert "recorded head 3 found" in capsys.readouterr().out
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        connection = store.database.connection
        connection.execute("DROP TRIGGER audit_log_no_delete")
        connection.execute("DELETE FROM audit_log WHERE sequence = 3")
    # The chain alone is whole; what shows the entry removed is the decision it recorded.
    assert jaga("audit", "verify") == 1
    assert "has no access.decision audit entry" in capsys.readouterr().out
    assert jaga("audit", "verify", "--head", ":".join(head)) == 1
    assert "audit chain BROKEN at entry 3" in capsys.readouterr().out


def test_audit_verify_refuses_a_malformed_head(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        jaga("audit", "verify", "--head", "3")
    assert "SEQUENCE:HASH" in capsys.readouterr().err


def test_backup_and_restore(cli_store: Path, tmp_path: Path) -> None:
    uid = add_person(cli_store)
    copy = tmp_path / "backup.db"
    assert jaga("store", "backup", str(copy)) == 0
    target = tmp_path / "restored" / "jaga.db"
    assert jaga("store", "restore", str(copy), "--db", str(target)) == 0
    with Store.open(target, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.get(uid).external_id == "CLI-1"
    assert jaga("store", "restore", str(copy), "--db", str(target)) == 1  # needs --force
    assert jaga("store", "restore", str(copy), "--db", str(target), "--force") == 0


def test_export_writes_a_private_csv(cli_store: Path, tmp_path: Path) -> None:
    add_person(cli_store)
    out = tmp_path / "attendance.csv"
    out.write_text("last month's export\n")
    out.chmod(0o644)  # an older file, readable by everyone
    assert jaga("store", "export", "access-events", "--out", str(out), "--since", "2000-01-01") == 0
    assert out.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(out.open()))
    assert [(r["external_id"], r["decision"]) for r in rows] == [("CLI-1", "verified")]


@pytest.mark.parametrize(
    "command",
    [
        ["store", "export", "access-events", "--out"],
        ["store", "backup"],
        ["sync", "status", "--prometheus"],
    ],
)
def test_a_file_that_cannot_be_written_is_refused_in_one_line_before_the_key(
    command: list[str], tmp_path: Path
) -> None:
    """A path inside a file, a folder, or a path in a folder that is not there (a drive
    not mounted; it was asked the key, then failed) where the command writes a file: no
    traceback, and no passphrase asked (none is set here) for a write that cannot happen."""
    (tmp_path / "a-file").touch()
    db = tmp_path / "jaga.db"
    unmounted = tmp_path / "usb" / "backups" / "out"
    for path, why in (
        (tmp_path / "a-file" / "out", "is not a folder"),
        (tmp_path, "is a folder"),
        (unmounted, f"there is no folder {unmounted.parent} (make it first, or mount the drive)"),
    ):
        result = subprocess.run(
            [sys.executable, "main.py", *command, str(path), "--db", str(db)],
            cwd=REPO_ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL,
            check=False,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert f"cannot write {path}: " in result.stderr.splitlines()[-1]
        assert why in result.stderr.splitlines()[-1]
    assert not (tmp_path / "usb").exists()  # nothing made where the drive should be


def test_the_search_benchmark_refuses_a_json_path_it_cannot_write_before_it_starts(
    tmp_path: Path,
) -> None:
    """``python -m sync.hub.bench_search`` builds an index for minutes, then wrote its
    report: a folder given as ``--json`` ended that work in a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "sync.hub.bench_search", "--json", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot write {tmp_path}: it is a folder" in result.stderr.splitlines()[-1]


def test_purge_expired_erases_only_after_the_dry_run(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = add_person(cli_store, expired=True)
    assert jaga("store", "purge-expired", "--dry-run") == 0
    assert uid in capsys.readouterr().out
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 1
    assert jaga("store", "purge-expired") == 0
    assert "erased 1 person" in capsys.readouterr().out
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 0


def test_rekey_takes_the_new_passphrase_from_its_own_variable(
    cli_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAGA_STORE_NEW_PASSPHRASE", "the next passphrase")
    assert jaga("store", "rekey", *FAST_KDF) == 0
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", "the next passphrase")
    assert jaga("store", "info") == 0


def test_the_console_entry_point_runs_store_info(cli_store: Path) -> None:
    result = subprocess.run(
        [sys.executable, "main.py", "store", "info", "--db", str(cli_store)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"JAGA_STORE_PASSPHRASE": PASSPHRASE, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "integrity    ok" in result.stdout


def test_a_prompted_passphrase_must_be_typed_the_same_twice() -> None:
    answers = iter(["first try", "second try"])
    with pytest.raises(KeySourceError, match="differ"):
        resolve_key_source(
            None, env={}, confirm=True, prompt=lambda _: next(answers), interactive=True
        )


def test_the_passphrase_variable_wins_over_a_prompt() -> None:
    source = resolve_key_source(None, env={PASSPHRASE_ENV: "from env"}, interactive=True)
    assert source == Passphrase("from env")


def test_restore_over_an_unreadable_store_says_how_to_go_on(
    cli_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_person(cli_store)
    copy = tmp_path / "backup.db"
    assert jaga("store", "backup", str(copy)) == 0
    cli_store.write_bytes(cli_store.read_bytes()[:4096])  # the store in use, damaged
    assert jaga("store", "restore", str(copy), "--force") == 1
    assert "--no-carry-erasures" in capsys.readouterr().err
    assert jaga("store", "restore", str(copy), "--force", "--no-carry-erasures") == 0
    assert "WARNING: people erased since the backup" in capsys.readouterr().out


def test_restore_takes_the_replaced_stores_own_key_from_the_environment(
    cli_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = add_person(cli_store)
    copy = tmp_path / "backup.db"
    assert jaga("store", "backup", str(copy)) == 0
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        store.people.erase(uid, operator="dpo", reason="subject request")
        store.change_key(Passphrase("rotated"), operator="admin")
    assert jaga("store", "restore", str(copy), "--force") == 1  # cannot read the erasures
    monkeypatch.setenv("JAGA_REPLACED_STORE_PASSPHRASE", "rotated")
    assert jaga("store", "restore", str(copy), "--force") == 0
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as restored:
        assert restored.people.count() == 0
