"""A restore's mark (``sync.hub.restore_mark``) against what could take it away too early: a
``renew-log-epoch`` run by hand beside the restore, and a restore whose purge failed. Real
``pg_restore``, real ``jaga hub`` processes; a restore held at its load (or a renewal at its
start) by a hook that waits for the test's go."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from main import main
from sync.hub.embedded import program_path
from sync.hub.restore_mark import RESTORE_MARK
from tests.sync.hub.hubkit import REPO, Api, HubProcess, free_port
from tests.sync.hub.journalkit import enrolled
from tests.sync.hub.test_backup_restore import _epoch
from tests.sync.hub.test_cli_args import _jaga_hub
from tests.sync.hub.test_clock_jump import JUMP, clock_ahead

# pg_restore held before it loads until the test says go (a large backup's load).
_HELD_LOAD = """#!/bin/sh
case "$*" in *--single-transaction*)
  echo $$ > "{hooks}/pid"
  touch "{hooks}/loading"
  while [ ! -e "{hooks}/go" ]; do sleep 0.1; done ;;
esac
exec "{real}" "$@"
"""
_THROUGH_THE_SCRIPT = """
from pathlib import Path
import sync.hub.embedded as embedded
_real = embedded.program_path
embedded.program_path = lambda name: Path({script!r}) if name == "pg_restore" else _real(name)
"""
# renew-log-epoch held before it renews until the test says go (a long journal replay).
_HELD_RENEWAL = """
import time
from pathlib import Path
import sync.hub.cli_restore as cli_restore
_real = cli_restore.reapply_erasures
def _held(*args, **kwargs):
    Path({hooks!r}, "renewing").touch()
    while not Path({hooks!r}, "go").exists():
        time.sleep(0.1)
    return _real(*args, **kwargs)
cli_restore.reapply_erasures = _held
"""


def _started(tmp: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """``jaga hub ARGS`` started as its own process, as ``_jaga_hub`` runs one."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "main.py"), "hub", *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), "JAGA_HUB_ALLOWED_HOSTS": "127.0.0.1"}
        | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp,
    )


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300  # a loaded machine; it is there in seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"ended first: {process.communicate()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_renew_log_epoch_by_hand_is_refused_while_a_restore_loads(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    """Run beside the load, it renewed the epochs the load then rewound, and took the mark
    away: a restore killed after its load was then served with the old epochs."""
    from django.db import connections

    data, dump, hooks = tmp_path / "hub", tmp_path / "hub.dump", tmp_path / "hooks"
    hooks.mkdir()
    script = hooks / "pg_restore"
    script.write_text(_HELD_LOAD.format(hooks=hooks, real=program_path("pg_restore")))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (hooks / "sitecustomize.py").write_text(_THROUGH_THE_SCRIPT.format(script=str(script)))
    made = _jaga_hub(tmp_path, "backup", "--data", str(data), "--out", str(dump),
                     DATABASE_URL=hub_database)  # fmt: skip
    assert made.returncode == 0, made.stderr
    epoch = _epoch(api.site)
    connections.close_all()
    restore = _started(tmp_path, "restore", "--data", str(data), str(dump),
                       DATABASE_URL=hub_database, PYTHONPATH=f"{hooks}:{REPO}")  # fmt: skip
    try:
        _wait_for(hooks / "loading", restore)

        by_hand = _jaga_hub(tmp_path, "renew-log-epoch", "--data", str(data),
                            DATABASE_URL=hub_database)  # fmt: skip

        assert (data / RESTORE_MARK).exists()
        assert _epoch(api.site) == epoch  # renewed nothing
        connections.close_all()
    finally:
        (hooks / "go").touch()
        out, err = restore.communicate(timeout=300)
    assert by_hand.returncode == 1, by_hand.stdout
    said = by_hand.stderr.strip().splitlines()
    assert len(said) == 1 and "`jaga hub restore` of" in said[0], by_hand.stderr
    assert "under way" in said[0] and "renewed nothing" in said[0]
    assert restore.returncode == 0, err
    assert "the restore is complete" in out
    assert _epoch(api.site) != epoch  # the restore's own renewal, after its load
    assert not (data / RESTORE_MARK).exists()


def test_a_restore_is_refused_while_renew_log_epoch_runs(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    """A renewal that committed before the load would be rewound by it, then take the mark
    away as it ended: the restore waits for it instead, restoring nothing."""
    from django.db import connections

    from sync.hub.models import Site

    data, dump, hooks = tmp_path / "hub", tmp_path / "hub.dump", tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_HELD_RENEWAL.format(hooks=str(hooks)))
    made = _jaga_hub(tmp_path, "backup", "--data", str(data), "--out", str(dump),
                     DATABASE_URL=hub_database)  # fmt: skip
    assert made.returncode == 0, made.stderr
    later = Api.register_new(f"later-{api.site}")  # after the backup
    connections.close_all()
    renewal = _started(tmp_path, "renew-log-epoch", "--data", str(data),
                       DATABASE_URL=hub_database, PYTHONPATH=f"{hooks}:{REPO}")  # fmt: skip
    try:
        _wait_for(hooks / "renewing", renewal)

        done = _jaga_hub(tmp_path, "restore", "--data", str(data), str(dump),
                         DATABASE_URL=hub_database)  # fmt: skip
    finally:
        (hooks / "go").touch()
        renewal.communicate(timeout=300)
    assert done.returncode == 1, done.stdout
    said = done.stderr.strip().splitlines()
    assert len(said) == 1, done.stderr
    assert "`jaga hub renew-log-epoch` or `jaga hub purge-expired` runs" in said[0]
    assert "restored nothing" in said[0]
    assert Site.objects.filter(slug=later.site).exists()  # nothing was loaded
    assert not (data / RESTORE_MARK).exists()
    assert renewal.returncode == 0


def test_a_restore_whose_purge_failed_is_not_served_until_purged(
    api: Api, journal: Path, hub_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backup holds the decisions retention deleted since and the reasons it forgot;
    with the purge refused (a clock it cannot trust), `jaga hub run` served them all the
    same, to every device pulling its site again."""
    data = journal.parent
    enrolled(api)
    dump = data / "hub.dump"
    assert main(["hub", "purge-expired", "--data", str(data)]) == 0  # the backup's last run
    assert main(["hub", "backup", "--data", str(data), "--out", str(dump)]) == 0
    epoch = _epoch(api.site)

    with clock_ahead(JUMP):  # past the four weeks a clock is trusted beyond the last run
        assert main(["hub", "restore", "--data", str(data), str(dump)]) == 1

    assert _epoch(api.site) != epoch  # renewed
    said = capsys.readouterr().err
    assert "`jaga hub purge-expired` failed" in said and "renew-log-epoch`" not in said
    env = {"DATABASE_URL": hub_database, "PYTHONPATH": str(REPO)}
    refused = _jaga_hub(tmp_path, "run", "--data", str(data), "--port", str(free_port()), **env)
    assert refused.returncode == 1
    line = refused.stderr.strip().splitlines()
    assert len(line) == 1 and "renewed but not purged" in line[0], refused.stderr
    assert f"jaga hub purge-expired --data {data}" in line[0]
    purged = _jaga_hub(tmp_path, "purge-expired", "--data", str(data), **env)
    assert purged.returncode == 0, purged.stderr
    assert not (data / RESTORE_MARK).exists()
    hub = HubProcess(hub_database, data)
    hub.start()  # served again: it would raise when the hub did not answer
    hub.stop()


# purge-expired held after its purge, before it reads the mark (its VACUUM FULL, a long
# catch-up of the journal): the daily timer's run begun before a restore.
_HELD_PURGE = """
import time
from pathlib import Path
import sync.hub.cli_purge as cli_purge
_real = cli_purge.clear_after_purge
def _held(*args, **kwargs):
    Path({hooks!r}, "purged").touch()
    while not Path({hooks!r}, "go").exists():
        time.sleep(0.1)
    return _real(*args, **kwargs)
cli_purge.clear_after_purge = _held
"""
# A restore's own purge never runs: the power is cut between its renewal and its purge.
_CUT_BEFORE_ITS_PURGE = """
import time
from pathlib import Path
import sync.hub.cli_purge as cli_purge
def _cut(*args, **kwargs):
    Path({hooks!r}, "renewed").touch()
    while True:
        time.sleep(1)
cli_purge.purge_data = _cut
"""


def test_a_purge_begun_before_a_restore_does_not_take_its_mark_away(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    """The daily purge-expired, begun before a restore's load, purged the database the load
    then replaced, and once the restore had renewed took its mark away: a restore cut off
    before its own purge was then served with what retention had deleted since the backup.
    The restore now waits for a purge under way, as for a renew-log-epoch."""
    from django.db import connections

    from sync.hub.models import Site

    data, dump = tmp_path / "hub", tmp_path / "hub.dump"
    purging, restoring = tmp_path / "purging", tmp_path / "restoring"
    for hooks in (purging, restoring):
        hooks.mkdir()
    (purging / "sitecustomize.py").write_text(_HELD_PURGE.format(hooks=str(purging)))
    (restoring / "sitecustomize.py").write_text(_CUT_BEFORE_ITS_PURGE.format(hooks=str(restoring)))
    made = _jaga_hub(tmp_path, "backup", "--data", str(data), "--out", str(dump),
                     DATABASE_URL=hub_database)  # fmt: skip
    assert made.returncode == 0, made.stderr
    later = Api.register_new(f"later-{api.site}")  # after the backup
    connections.close_all()
    purge = _started(tmp_path, "purge-expired", "--data", str(data),
                     DATABASE_URL=hub_database, PYTHONPATH=f"{purging}:{REPO}")  # fmt: skip
    restore: subprocess.Popen[str] | None = None
    try:
        _wait_for(purging / "purged", purge)
        restore = _started(tmp_path, "restore", "--data", str(data), str(dump),
                           DATABASE_URL=hub_database, PYTHONPATH=f"{restoring}:{REPO}")  # fmt: skip
        while restore.poll() is None and not (restoring / "renewed").exists():
            time.sleep(0.1)
        if restore.poll() is None:
            restore.kill()  # the power cut, between the restore's renewal and its purge
    finally:
        (purging / "go").touch()
        purge.communicate(timeout=300)
        if restore is not None:
            restore.kill()
            out, err = restore.communicate(timeout=300)
    loaded = (restoring / "renewed").exists()
    assert not loaded or (data / RESTORE_MARK).exists()  # never served before its purge
    assert purge.returncode == 0
    assert restore.returncode == 1, out
    said = err.strip().splitlines()
    assert len(said) == 1 and "purge-expired` runs on" in said[0], err
    assert "restored nothing" in said[0]
    assert Site.objects.filter(slug=later.site).exists()  # nothing was loaded


def test_a_restore_whose_renewal_failed_names_the_purge_to_run_after_it(
    api: Api, journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its purge ran before the renewal, which a purge does not finish: the last line named
    renew-log-epoch alone, and after it `jaga hub run` still refused, asking for a purge."""
    from sync.hub.restore_mark import RestoreUnfinishedError, check_no_unfinished_restore

    data = journal.parent
    dump = data / "hub.dump"
    assert main(["hub", "backup", "--data", str(data), "--out", str(dump)]) == 0
    journal.mkdir()  # the erasure journal cannot be read: the renewal fails

    assert main(["hub", "restore", "--data", str(data), str(dump)]) == 1

    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "`jaga hub renew-log-epoch` failed" in last, last
    assert "then `jaga hub purge-expired`" in last
    journal.rmdir()
    assert main(["hub", "renew-log-epoch", "--data", str(data)]) == 0
    with pytest.raises(RestoreUnfinishedError, match="renewed but not purged"):
        check_no_unfinished_restore(data)  # as `jaga hub run` does, before it serves
    assert main(["hub", "purge-expired", "--data", str(data)]) == 0
    assert not (data / RESTORE_MARK).exists()


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped does not: this container's init may not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_a_pg_restore_does_not_outlive_a_killed_restore(
    api: Api, hub_database: str, tmp_path: Path
) -> None:
    """Left running, it held none of the restore's locks: a renew-log-epoch and a purge run
    by hand meanwhile took the mark away, then it loaded the backup over their renewal."""
    from django.db import connections

    from sync.hub.models import Site

    data, dump, hooks = tmp_path / "hub", tmp_path / "hub.dump", tmp_path / "hooks"
    hooks.mkdir()
    script = hooks / "pg_restore"
    script.write_text(_HELD_LOAD.format(hooks=hooks, real=program_path("pg_restore")))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (hooks / "sitecustomize.py").write_text(_THROUGH_THE_SCRIPT.format(script=str(script)))
    made = _jaga_hub(tmp_path, "backup", "--data", str(data), "--out", str(dump),
                     DATABASE_URL=hub_database)  # fmt: skip
    assert made.returncode == 0, made.stderr
    later = Api.register_new(f"later-{api.site}")  # after the backup
    connections.close_all()
    restore = _started(tmp_path, "restore", "--data", str(data), str(dump),
                       DATABASE_URL=hub_database, PYTHONPATH=f"{hooks}:{REPO}")  # fmt: skip
    _wait_for(hooks / "loading", restore)
    loader = int((hooks / "pid").read_text())

    restore.kill()
    restore.communicate(timeout=60)

    deadline = time.monotonic() + 30
    while _running(loader) and time.monotonic() < deadline:
        time.sleep(0.1)
    still_running = _running(loader)
    (hooks / "go").touch()  # a loader left running would load now
    assert not still_running
    assert Site.objects.filter(slug=later.site).exists()  # nothing was loaded
    assert (data / RESTORE_MARK).exists()  # and the hub refuses until it is restored again
