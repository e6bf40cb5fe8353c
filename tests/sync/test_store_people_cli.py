"""``jaga store people`` lists who is enrolled without biometric data; ``jaga store erase``
carries out an erasure request on the device, with its tombstone for the hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.protocol import MAX_ERASURE_REASON_CHARS, RETENTION_REASON
from sync.store import Passphrase, Store
from tests.sync.client.fakehub import SITE, FakeHub
from tests.sync.client.units import client_of
from tests.sync.conftest import FAST
from tests.sync.hub import entries as e
from tests.sync.test_store_cli import PASSPHRASE, add_person, cli_store, jaga

__all__ = ["cli_store"]  # the fixture, used by name


def test_people_lists_ids_names_consent_and_template_counts(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = add_person(cli_store)
    capsys.readouterr()
    assert jaga("store", "people", "--json") == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["external_id"] == "CLI-1" and row["person_uid"] == uid
    assert row["consent"] == "v1" and row["templates"] == 1
    assert "vector" not in json.dumps(row)


def test_erase_removes_the_person_and_queues_their_tombstone(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = add_person(cli_store)
    assert jaga("store", "erase", "CLI-1", "--reason", "erasure request 42") == 0
    assert f"erased CLI-1 ({uid})" in capsys.readouterr().out
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 0 and not store.galleries()
        tombstones = [e for e in store.outbox.entries() if e.operation == "tombstone"]
        assert [e.entity_uid for e in tombstones] == [uid]
        erased = [e for e in store.audit.entries() if e.action == "person.erased"]
        assert [e.subject for e in erased] == [uid] and store.audit.verify().ok


def test_erase_takes_the_uid_of_a_person_held_here_only_set_aside(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pulled person whose badge someone here holds is set aside, not enrolled: their
    badge names the holder, so ``erase`` takes their uid (from the pull's log line)."""
    holder = add_person(cli_store)
    hub = FakeHub()
    person = e.person(SITE, badge="CLI-1")
    hub.add_change("person", "upsert", person)
    uid = str(person["person_uid"])
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert client_of(store, hub).pull().set_aside == 1
    assert jaga("store", "erase", uid, "--reason", "erasure request 43") == 0
    assert f"erased {uid} ({uid})" in capsys.readouterr().out
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.database.query("SELECT count(*) FROM deferred_changes") == [(0,)]
        assert store.people.get(holder).external_id == "CLI-1"  # the holder stays
        erased = [e for e in store.audit.entries() if e.action == "person.erased"]
        assert [e.subject for e in erased] == [uid]


def test_erasing_nobody_is_one_error_line(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jaga("store", "erase", "NOBODY", "--reason", "r") == 1
    assert "nobody enrolled here has the id 'NOBODY'" in capsys.readouterr().err


def test_a_reason_longer_than_the_tombstone_carries_is_refused_before_anything_is_erased(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_person(cli_store)
    capsys.readouterr()
    reason = "x" * (MAX_ERASURE_REASON_CHARS + 1)
    assert jaga("store", "erase", "CLI-1", "--reason", reason) == 1
    error = capsys.readouterr().err
    assert f"the reason has {len(reason)} characters" in error
    assert f"at most {MAX_ERASURE_REASON_CHARS}" in error
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 1


def test_the_retention_purges_reason_is_refused_for_an_erasure_request(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hub holds a tombstone with the retention reason until retention ends by its
    clock: an operator's erasure worded so would have been left undone everywhere else."""
    add_person(cli_store)
    capsys.readouterr()
    assert jaga("store", "erase", "CLI-1", "--reason", f" {RETENTION_REASON.upper()} ") == 1
    assert "the retention purge's own reason" in capsys.readouterr().err
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 1


def test_a_reason_that_would_show_reordered_is_refused_where_it_is_typed(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tombstone travels with its reason as typed (an erasure applies whatever it says),
    so one that would show the hub's admin other words than stored is refused here, before
    anything is erased; its line breaks and marks are kept."""
    add_person(cli_store)
    capsys.readouterr()
    with pytest.raises(SystemExit) as usage:
        jaga("store", "erase", "CLI-1", "--reason", "request \u202e24 ,yb")
    assert usage.value.code == 2
    error = capsys.readouterr().err
    assert "the reason holds no bidirectional embedding, override or isolate ('\\u202e')" in error
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 1
    assert jaga("store", "erase", "CLI-1", "--reason", "request\n\u200e42\u200e") == 0


def test_counts_of_one_person_say_person(
    cli_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "1 people enrolled", and "erased again 1 people" after a restore."""
    add_person(cli_store)
    assert jaga("store", "people") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 person enrolled"
    nightly = tmp_path / "nightly.db"
    assert jaga("store", "backup", str(nightly)) == 0
    assert jaga("store", "erase", "CLI-1", "--reason", "erasure request 44") == 0
    capsys.readouterr()
    assert jaga("store", "restore", str(nightly), "--force", "--discard-unsynced") == 0
    assert "erased again 1 person erased since the backup" in capsys.readouterr().out


def test_the_listing_escapes_what_would_act_on_the_terminal(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pulled id or name (the hub's to judge) may hold a line feed, which would forge a
    row, or an escape, which would recolour the terminal: the listing shows them escaped,
    one line a person, and ``erase`` takes such a person by the uid it lists. (The protocol
    refuses them in a name since, and a pull passes such a change over; an earlier
    release's pull kept them, as written here.)"""
    add_person(cli_store)
    hub = FakeHub()
    person = e.person(SITE, name="Eve", badge="X-2")
    hub.add_change("person", "upsert", person)
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        client_of(store, hub).pull()
        with store.database.write() as connection:
            connection.execute(
                "UPDATE people SET external_id = ?, display_name = ? WHERE person_uid = ?",
                ("X-\n2", "Eve\x1b[31m", person["person_uid"]),
            )
    capsys.readouterr()
    assert jaga("store", "people") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[-1] == "2 people enrolled"
    assert lines[1].startswith("X-\\x0a2  Eve\\x1b[31m  ")
    uid = str(person["person_uid"])
    assert jaga("store", "erase", uid, "--reason", "erasure request 45") == 0
    assert f"erased {uid} ({uid})" in capsys.readouterr().out


def test_erase_finds_a_badge_typed_in_another_case(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = add_person(cli_store)
    assert jaga("store", "erase", "cli-1", "--reason", "erasure request 46") == 0
    assert f"erased cli-1 ({uid})" in capsys.readouterr().out
