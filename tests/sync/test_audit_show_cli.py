"""``jaga audit show``: the audit trail read from a shell, on a real SQLCipher store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from main import main
from sync.store import AccessEvent, Passphrase, Store, SystemClock
from sync.store.retention import DEFAULT_KEEP_DAYS
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_audit import fill_chain, tamper
from tests.sync.test_store_cli import PASSPHRASE, add_person, cli_store, jaga
from tests.sync.test_store_retention import DEVICE, anchor, decide

__all__ = ["cli_store"]  # the fixture, used by name


def shown(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[str], str]:
    """``jaga audit show ARGV``'s lines on stdout, and its stderr; it must exit 0."""
    assert jaga("audit", "show", *argv) == 0
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err


def entry_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line[:1].isdigit()]


def sequences_shown(lines: list[str]) -> list[int]:
    return [int(line.split("  ")[0]) for line in entry_lines(lines)]


def test_a_kiosks_entries_are_shown_oldest_first_with_their_fields(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = add_person(cli_store)  # an enrolment, then a decision
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        stored = store.audit.links(0, 100)
    capsys.readouterr()

    lines, _ = shown(capsys)

    fields = [line.split("  ") for line in entry_lines(lines)]
    assert [f[0] for f in fields] == ["1", "2", "3"]
    assert [f[3] for f in fields] == ["store.created", "person.enrolled", "access.decision"]
    assert [f[2] for f in fields] == [row[2] for row in stored]  # actor
    assert fields[1][4] == uid and fields[2][4] == stored[2][4]  # subject
    assert [f[5] for f in fields] == [row[5] for row in stored]  # details: compact JSON
    assert [f[1] for f in fields] == [row[1][:19] + "Z" for row in stored]  # to the second
    assert len(lines) == 3  # nothing else while the whole chain is shown


def test_json_gives_one_object_a_line_and_nothing_else_on_stdout(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_person(cli_store)
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        stored = store.audit.links(0, 100)
    capsys.readouterr()

    lines, _ = shown(capsys, "--json", "--after", "1", "--limit", "1")

    objects: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert len(objects) == 1
    entry = objects[0]
    assert list(entry) == ["sequence", "at", "actor", "action", "subject", "details", "entry_hash"]
    assert entry["sequence"] == 2 and entry["action"] == "person.enrolled"
    assert entry["at"] == stored[1][1] and entry["at"].endswith("Z")
    assert entry["details"] == json.loads(stored[1][5])  # an object, not its text
    assert entry["entry_hash"] == stored[1][7]


def test_after_and_last_page_at_the_edges(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = add_person(cli_store)
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        for _ in range(2):  # entries 4, 5
            now = SystemClock().now()
            store.access.record(AccessEvent(now, "gate", "kiosk-1", "verified", uid, 0.9))
    capsys.readouterr()

    assert sequences_shown(shown(capsys, "--after", "0", "--limit", "2")[0]) == [1, 2]
    page, _ = shown(capsys, "--after", "2", "--limit", "2")
    assert sequences_shown(page) == [3, 4]
    assert "jaga audit show --after 4" in page[-1]  # how to read on
    assert sequences_shown(shown(capsys, "--after", "4")[0]) == [5]
    at_head, _ = shown(capsys, "--after", "5")
    assert sequences_shown(at_head) == [] and "no entries after 5" in at_head[0]
    beyond, _ = shown(capsys, "--after", "99")
    assert sequences_shown(beyond) == [] and "the newest is 5" in beyond[0]
    assert sequences_shown(shown(capsys, "--last", "1")[0]) == [5]
    assert sequences_shown(shown(capsys, "--last", "2")[0]) == [4, 5]
    assert sequences_shown(shown(capsys, "--last", "99")[0]) == [1, 2, 3, 4, 5]
    quiet, note = shown(capsys, "--json", "--after", "5")
    assert quiet == [] and "no entries after 5" in note


def test_limit_goes_with_after_and_counts_are_checked(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ("--limit", "3"),
        ("--last", "0"),
        ("--after", "-1"),
        ("--last", "2", "--after", "1"),
    ):
        with pytest.raises(SystemExit) as stopped:
            jaga("audit", "show", *argv)
        assert stopped.value.code == 2
    capsys.readouterr()


def test_after_retention_deleted_a_prefix_it_says_where_the_kept_chain_begins(
    store: Store,
    clock: FakeClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill_chain(store, clock)  # entries 1..7
    anchor(store, 5)
    clock.advance(days=DEFAULT_KEEP_DAYS + 1)
    decide(store, clock)  # 8
    store.retention.apply(DEVICE)  # deletes 1..5; 9: retention.applied
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", "correct horse battery staple")

    assert main(["audit", "show", "--db", str(db_path), "--after", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sequences_shown(lines) == [6, 7, 8, 9]
    assert "entries 1-5 were deleted by retention" in lines[0]
    assert "begins at entry 6" in lines[0]

    assert main(["audit", "show", "--db", str(db_path), "--after", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sequences_shown(lines) == [7, 8, 9] and len(lines) == 3  # past the gap: no note

    assert main(["audit", "show", "--db", str(db_path), "--last", "50", "--json"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["sequence"] for line in captured.out.splitlines()] == [6, 7, 8, 9]
    assert "entries 1-5 were deleted by retention" in captured.err


def test_typed_text_is_escaped_so_it_stays_one_line_and_cannot_drive_the_terminal(
    cli_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "x\x1b[2J\nrm.db"  # a backup's file name: the entry's subject
    assert jaga("store", "backup", str(tmp_path / name)) == 0
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        store.audit.record(
            actor="op\x9b31m\x7f", action="test.typed", subject="-", details={"note": "a\x9bb\x07"}
        )
        # A right-to-left override shows "exe.txt" stored as "txt.exe": shown as stored.
        store.audit.record(
            actor="op", action="test.bidi", subject="report\u202etxt.exe", details={}
        )
    capsys.readouterr()

    lines, _ = shown(capsys)

    assert len(lines) == 4
    assert lines[1].split("  ")[4] == "x\\x1b[2J\\x0arm.db"
    assert lines[3].split("  ")[4] == "report\\u202etxt.exe"
    assert lines[2].split("  ")[2] == "op\\x9b31m\\x7f"
    assert lines[2].split("  ")[5] == '{"note":"a\\x9bb\\\\u0007"}'  # JSON's \u0007, \ doubled
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in "".join(lines))

    json_lines, _ = shown(capsys, "--json")
    assert [json.loads(line)["subject"] for line in json_lines][1] == name
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in "".join(json_lines))


def test_a_typed_backslash_is_shown_doubled_so_it_cannot_imitate_an_escape(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        # The four characters \x1b typed, then a real ESC: were they shown alike, one passes for
        # the other.
        store.audit.record(actor="op", action="test.typed", subject="\\x1b", details={})
        store.audit.record(actor="op", action="test.typed", subject="\x1b", details={})
        store.audit.record(actor="op\\", action="test.typed", subject="-", details={"p": "a\\b"})
    capsys.readouterr()

    lines, _ = shown(capsys)

    assert lines[1].split("  ")[4] == "\\\\x1b"  # shown: \\x1b
    assert lines[2].split("  ")[4] == "\\x1b"  # shown: \x1b
    assert lines[3].split("  ")[2] == "op\\\\"
    assert lines[3].split("  ")[5] == '{"p":"a\\\\\\\\b"}'  # the JSON's \\, each doubled


def test_a_wrong_key_is_the_usual_one_line_refusal(
    cli_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JAGA_STORE_PASSPHRASE", "guess")
    assert jaga("audit", "show") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "jaga: error: wrong passphrase: it does not open this store (nothing was changed)\n"
    )


def test_showing_the_trail_writes_nothing_to_it(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_person(cli_store)
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        before = store.audit.head()
    assert jaga("audit", "show") == 0
    assert jaga("audit", "show", "--json") == 0
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.audit.head() == before
    capsys.readouterr()


def test_entries_edited_in_the_file_are_shown_with_the_break_and_a_failure(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A review found an entry rewritten in the file (the actor) shown as genuine, exit 0,
    and damaged details made ``--json`` end in a JSONDecodeError traceback."""
    add_person(cli_store)
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        tamper(store, "UPDATE audit_log SET actor = 'someone-else' WHERE sequence = 2")
        store.database.connection.execute(
            "UPDATE audit_log SET details = 'not json {' WHERE sequence = 1"
        )  # the guards are dropped already
    capsys.readouterr()

    assert jaga("audit", "show") == 1
    captured = capsys.readouterr()
    assert sequences_shown(captured.out.splitlines())[:2] == [1, 2]  # still shown, for the record
    assert captured.err.strip().startswith("audit chain BROKEN among these entries: entry 1 was")

    assert jaga("audit", "show", "--json") == 1
    captured = capsys.readouterr()
    shown_json = [json.loads(line) for line in captured.out.splitlines()]
    assert shown_json[0]["details"] == "not json {"  # as stored
    assert "BROKEN" in captured.err and "Traceback" not in captured.err
