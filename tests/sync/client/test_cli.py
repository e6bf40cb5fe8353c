"""``jaga sync register | now | status | requeue`` in-process, against the real hub; the token
is never printed."""

from __future__ import annotations

import io
import json
import logging
import uuid
from pathlib import Path

import pytest

from main import main
from sync.hub.auth import create_device
from sync.store import OutboxState, Passphrase, Store
from tests.sync.client.devices import PASSPHRASE, add_access_events, add_observations, enrol
from tests.sync.client.hubcheck import drained, hub_tally
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess


def register(
    db: Path, hub: HubProcess, site_slug: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jaga sync register` with a fresh device's one-time code, as an operator runs it."""
    monkeypatch.setenv("JAGA_SYNC_CODE", create_device(site_slug, name).code)
    assert main(["sync", "register", "--hub", hub.url, "--db", str(db)]) == 0


def test_register_now_and_status(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(db, live_hub, site_slug, "kiosk-cli", monkeypatch)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        add_observations(store, 25, "cli")
        token = store.database.query("SELECT value FROM sync_state WHERE name = 'device_token'")
    assert main(["sync", "now", "--db", str(db)]) == 0
    assert main(["sync", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "pushed 25 acknowledged, 0 quarantined" in out
    assert f"site         {site_slug}" in out and "acknowledged and kept 25" in out
    assert "set (kept in the encrypted store)" in out
    assert token[0][0] not in out
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        assert drained(store)
        tally = hub_tally(site_slug, [store])
    assert (tally.lost, tally.duplicated) == (0, 0)


def test_status_says_its_acknowledged_count_is_what_the_store_keeps(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A kiosk whose person, template and 6 decisions the hub took read "acknowledged 0":
    those are deleted once acknowledged, so the count holds only what the store keeps."""
    register(db, live_hub, site_slug, "kiosk-acks", monkeypatch)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        enrol(store, site_slug, "A-1", seed=43)
        add_access_events(store, site_slug, 6)
    assert main(["sync", "now", "--db", str(db)]) == 0
    assert main(["sync", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "pushed 8 acknowledged" in out
    assert "outbox       queued 0, sent 0, acknowledged and kept 0, rejected 0" in out, out
    assert "(access decisions, people and face templates are not kept" in out, out


def test_a_revoked_or_unknown_token_pauses_with_a_clear_message(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(db, live_hub, site_slug, "kiosk-cli", monkeypatch)
    monkeypatch.setenv("JAGA_SYNC_TOKEN", "jaga_not-a-real-token")
    assert main(["sync", "now", "--db", str(db), "--retries", "1"]) == 1
    err = capsys.readouterr().err
    assert "sync paused" in err and "unknown_token" in err
    assert "jaga_not-a-real-token" not in err


def test_an_unregistered_device_is_told_to_register(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "now", "--db", str(db)]) == 1
    assert "jaga sync register --hub URL" in capsys.readouterr().err
    assert main(["sync", "status", "--db", str(db)]) == 0
    assert "(not registered)" in capsys.readouterr().out


def test_a_quarantined_person_is_requeued_and_its_template_follows(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(db, live_hub, site_slug, "kiosk-requeue", monkeypatch)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        person = enrol(store, site_slug, "R-1", seed=41)
        (held,) = [e for e in store.outbox.queued() if e.entity == "person"]
        store.outbox.mark_sent([held.idempotency_key])  # as a push that the hub refused
        store.outbox.mark_rejected(held.idempotency_key, "consent form not on file")
    assert main(["sync", "now", "--db", str(db)]) == 0  # the hub: "push the person first"
    assert main(["sync", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"quarantined  #{held.sequence} person {person}: consent form not on file" in out
    assert "jaga sync requeue #SEQUENCE" in out
    # The template waits.
    assert "outbox       queued 1, sent 0, acknowledged and kept 0, rejected 1" in out
    assert main(["sync", "requeue", "--db", str(db), f"#{held.sequence}"]) == 0
    assert "requeued 1 quarantined entry;" in capsys.readouterr().out
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        entry = store.outbox.get(held.idempotency_key)
        assert (entry.state, entry.reject_reason, entry.refusals) == (OutboxState.QUEUED, None, 0)
        (audited,) = [a for a in store.audit.entries() if a.action == "outbox.requeued"]
        assert json.loads(audited.details_json) == {"entries": 1, "sequences": [held.sequence]}
    assert main(["sync", "now", "--db", str(db)]) == 0
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        assert drained(store)  # the person, and the template the hub had refused without it
        tally = hub_tally(site_slug, [store])
    assert (tally.lost, tally.duplicated) == (0, 0)


@pytest.mark.parametrize("retries", ["-1", "0", "3.5"])
def test_retries_is_a_number_of_attempts_from_one(
    db: Path, retries: str, capsys: pytest.CaptureFixture[str]
) -> None:  # -1 and 0 were taken, and made one attempt
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "now", "--db", str(db), "--retries", retries])
    assert exit_.value.code == 2
    assert "--retries: expected a whole number of at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("arguments", [[], ["--all", "#1"]])
def test_requeue_wants_either_entries_or_all(db: Path, arguments: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "requeue", "--db", str(db), *arguments])
    assert exit_.value.code == "jaga: error: name the entries to requeue (#SEQUENCE) or pass --all"


def test_requeue_of_an_entry_not_quarantined_moves_nothing(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        add_observations(store, 8, "cli")
    assert main(["sync", "requeue", "--db", str(db), "#3", "#7"]) == 1
    assert "not quarantined (see `jaga sync status`): #3, #7" in capsys.readouterr().err
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.outbox.counts()[OutboxState.QUEUED] == 8


def test_requeue_refuses_what_is_not_a_sequence(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "requeue", "--db", str(db), "#twelve"])
    assert exit_.value.code == 2
    assert "not an outbox sequence (#12): '#twelve'" in capsys.readouterr().err


@pytest.mark.usefixtures("species_packs_removed")
def test_retry_pack_downloads_a_backing_off_pack_at_once(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sync.hub.models import SpeciesPack
    from tests.sync.client.test_packs import publish
    from tests.sync.test_species_packs import make_pack

    register(db, live_hub, site_slug, "boat-cli", monkeypatch)
    version = f"retry.{site_slug}"
    # `register` ran `main`, which has the first pack checked against the default pack's
    # species; this test's pack is about downloads, not species.
    good = publish(make_pack(db.parent / "pack", seed=5), version, allow_species_change=True)
    SpeciesPack.objects.filter(version=version).update(data=good[::-1])  # same size, wrong bytes
    assert main(["sync", "now", "--db", str(db)]) == 0
    assert "not the announced pack" in capsys.readouterr().out
    SpeciesPack.objects.filter(version=version).update(data=good)
    assert main(["sync", "now", "--db", str(db)]) == 0
    waiting = capsys.readouterr().out
    assert (
        "failed 1 time, next try after" in waiting and "installed the species pack" not in waiting
    )
    assert main(["sync", "now", "--retry-pack", "--db", str(db)]) == 0
    assert f"installed the species pack in {db.parent / 'species-packs' / version}" in (
        capsys.readouterr().out
    )


def test_a_sync_logs_no_line_per_http_request_unless_verbose(
    db: Path,
    live_hub: HubProcess,
    site_slug: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpx logs each request at INFO, the CLI's level: one line per photo chunk, tens of
    thousands for a backlog, in the journal of every timer run."""
    register(db, live_hub, site_slug, "quiet-cli", monkeypatch)
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        add_observations(store, 3, "quiet")
    caplog.set_level(logging.INFO)  # what main's logging.basicConfig sets outside pytest
    assert main(["sync", "now", "--db", str(db)]) == 0
    http = [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
    assert [r for r in http if r.levelno < logging.WARNING] == []
    caplog.clear()
    assert main(["--verbose", "sync", "now", "--db", str(db)]) == 0
    assert any(r.name == "httpx" and r.levelno == logging.INFO for r in caplog.records)


def test_register_takes_a_code_read_aloud_in_groups(
    db: Path, live_hub: HubProcess, site_slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spaces between the groups, and lower case, as an operator types what is read out."""
    code = create_device(site_slug, "spaced").code
    monkeypatch.setenv("JAGA_SYNC_CODE", f" {code.replace('-', '  ').lower()} ")
    assert main(["sync", "register", "--hub", live_hub.url, "--db", str(db)]) == 0


@pytest.mark.parametrize("code", ["R0C2J", "R0C2J/MRP4H/FCVV1", "R0C2J-MRP4H-FCVV1-" + "X" * 30])
def test_register_refuses_a_mistyped_code_saying_what_a_code_looks_like(
    db: Path, code: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pydantic traceback before; the code is a secret, so it is not repeated."""
    monkeypatch.setenv("JAGA_SYNC_CODE", code)
    assert main(["sync", "register", "--hub", "http://127.0.0.1:1", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jaga: error: that is not a registration code: a code looks like ")
    assert code not in err


def test_register_without_a_code_or_a_terminal_says_how_to_give_one(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """getpass's EOFError traceback before: the code prompt had no terminal check."""
    monkeypatch.delenv("JAGA_SYNC_CODE", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO())  # as under a timer: not a terminal
    assert main(["sync", "register", "--hub", "http://127.0.0.1:1", "--db", str(db)]) == 1
    assert capsys.readouterr().err == (
        "jaga: error: no registration code: set JAGA_SYNC_CODE, or run in a terminal to be asked\n"
    )


@pytest.mark.parametrize("url", ["http://[::1", "http://hub:99999", "http://hub:port"])
def test_a_malformed_hub_url_is_one_line(
    db: Path, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """urlsplit's ValueError was a traceback, from `register --hub` and from JAGA_HUB_URL.
    On the command line it is a usage error (test_cli_usage)."""
    monkeypatch.setenv("JAGA_SYNC_CODE", "R0C2J-MRP4H-FCVV1")
    words = f"the hub URL must be http(s)://host[:port], not {url!r}\n"
    refused = f"jaga: error: {words}"
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "register", "--hub", url, "--db", str(db)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith(f"argument --hub: {words}")
    registered(monkeypatch, JAGA_HUB_URL=url)
    assert main(["sync", "now", "--db", str(db), "--retries", "1"]) == 1
    assert capsys.readouterr().err == refused


@pytest.mark.parametrize("token", ["tök", "jaga_\x07bell"])
def test_a_token_that_cannot_be_sent_is_refused_unsent(
    db: Path, token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-ASCII token cannot be an HTTP header: a UnicodeEncodeError traceback before."""
    registered(monkeypatch, JAGA_SYNC_TOKEN=token)
    assert main(["sync", "now", "--db", str(db), "--retries", "1"]) == 1
    err = capsys.readouterr().err
    assert err == "jaga: error: the device token is empty or malformed\n"


def registered(monkeypatch: pytest.MonkeyPatch, **changed: str) -> None:
    """A device registered through its environment (its hub is not there), with ``changed``."""
    identity = {
        "JAGA_HUB_URL": "http://127.0.0.1:1",
        "JAGA_SYNC_SITE": "site",
        "JAGA_SYNC_DEVICE_ID": str(uuid.uuid4()),
        "JAGA_SYNC_TOKEN": "jaga_token",
    }
    for name, value in (identity | changed).items():
        monkeypatch.setenv(name, value)
