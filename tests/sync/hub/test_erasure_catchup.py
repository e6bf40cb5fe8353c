"""The erasure journal's catch-up (``sync.hub.erasure_catchup``): an erasure the database
holds and no line names (its append failed, its process killed before it, or made before the
journal existed) is journaled at the next start or ``renew-log-epoch``, so a restore of the
database cannot bring the person back; none is journaled twice. And the data folder's files
a command run as root makes are the folder owner's, not root's."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from main import main
from sync.hub import review
from sync.hub.cli_restore import reapply_erasures
from sync.hub.erasure_journal import DATA_DIR_ENV, HUB_ID_FILE, JOURNAL_FILE, JournalReading
from sync.hub.models import Person, Site
from sync.protocol import RETENTION_REASON
from tests.sync.hub.hubkit import Api, HubProcess
from tests.sync.hub.journalkit import enrolled
from tests.sync.hub.test_erasure_journal import scrape_journal_metrics


def _lines_of(journal: Path, uid: UUID) -> list[str]:
    """The kinds of the journal's lines naming ``uid`` (the session's database holds other
    tests' erasures too, which a catch-up journals beside them)."""
    return [item.kind for item in JournalReading(journal) if item.person_uid == uid]


def _erased_with_the_append_failing(api: Api, journal: Path) -> Person:
    """A person erased by the admin while the journal cannot be appended to (a folder at its
    name); the folder then removed, the journal writable again, and no line names them."""
    person = enrolled(api)
    journal.mkdir()
    review.erase_person(person.pk, "asked to")
    journal.rmdir()
    person.refresh_from_db()
    assert person.erased and _lines_of(journal, person.uid) == []
    return person


def test_an_erasure_whose_line_was_lost_is_journaled_at_the_next_start(
    api: Api, journal: Path, tmp_path: Path
) -> None:
    """The code a start runs (the replay, then the catch-up) writes the lost line; a
    database then restored to before the erasure (here: the person set live again by SQL)
    has them erased again by the replay."""
    person = _erased_with_the_append_failing(api, journal)

    assert reapply_erasures(tmp_path, at_start=True) is not None

    assert _lines_of(journal, person.uid) == ["caught_up"]
    Person.objects.filter(pk=person.pk).update(erased_at=None, display_name="Jane Roe")
    assert reapply_erasures(tmp_path, at_start=True) is not None
    person.refresh_from_db()
    assert person.erased and person.display_name == ""


def test_renew_log_epoch_journals_a_lost_line(
    api: Api, journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person = _erased_with_the_append_failing(api, journal)

    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 0

    assert _lines_of(journal, person.uid) == ["caught_up"]
    assert re.search(r"journaled \d+ erasures? the erasure journal", capsys.readouterr().out)


def test_the_daily_purge_journals_a_lost_line(
    api: Api, journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The purge's timer runs daily: a line lost since the hub started is written then,
    without waiting for the next start."""
    person = _erased_with_the_append_failing(api, journal)

    assert main(["hub", "purge-expired", "--data", str(tmp_path), "--trust-clock"]) == 0

    assert _lines_of(journal, person.uid) == ["caught_up"]


def test_a_catch_up_that_cannot_write_says_so_and_fails(
    api: Api,
    journal: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The disk still full at the next command: it fails, saying why; the next run that
    can write journals the erasure."""
    import errno

    from sync.hub import erasure_catchup

    person = _erased_with_the_append_failing(api, journal)

    def full(path: Path, line: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(erasure_catchup, "append", full)
    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 1
    assert "could not journal" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))

    assert reapply_erasures(tmp_path, at_start=True) is not None
    assert _lines_of(journal, person.uid) == ["caught_up"]


def test_metrics_count_the_erasures_a_start_could_not_journal_until_they_are(
    api: Api, journal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start whose catch-up fails says so on stderr, which no admin reads once it serves:
    the scrape shows the erased people the journal is not known to hold, until a catch-up
    journals them."""
    import errno

    from sync.hub import erasure_catchup

    missing = "jaga_hub_erasure_journal_missing_erasures"
    # The session's other tests' erasures, if any (a scrape here would make the journal).
    before = Person.objects.filter(erased_at__isnull=False, journaled_at=None).count()
    _erased_with_the_append_failing(api, journal)

    def full(path: Path, line: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(erasure_catchup, "append", full)
    assert reapply_erasures(tmp_path, at_start=True) is None  # the start serves all the same
    assert scrape_journal_metrics()[missing] == before + 1
    monkeypatch.undo()
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))

    assert reapply_erasures(tmp_path, at_start=True) is not None
    assert scrape_journal_metrics()[missing] == 0


def test_rejournal_erasures_writes_what_an_older_journal_copy_lacks_once(
    api: Api, journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new host given the newest journal copy there is: the erasures made after it was
    taken are marked journaled in the database, but no line names them. The command has them
    journaled; those the copy names are not written twice."""
    named = enrolled(api)
    review.erase_person(named.pk, "asked to")
    copy = journal.read_bytes()  # the backup of the journal, taken here
    lacking = enrolled(api)
    review.erase_person(lacking.pk, "asked to")
    journal.write_bytes(copy)  # the data folder lost, the copy put in place
    assert Person.objects.get(pk=lacking.pk).journaled_at is not None  # so no catch-up sees it

    assert main(["hub", "rejournal-erasures", "--data", str(tmp_path)]) == 0

    assert _lines_of(journal, named.uid) == ["admin"]
    assert _lines_of(journal, lacking.uid) == ["caught_up"]
    assert not Person.objects.filter(erased_at__isnull=False, journaled_at=None).exists()
    said = capsys.readouterr().out
    assert re.search(r"cleared the journaled mark of \d+ (person|people) erased", said)
    assert re.search(r"journaled \d+ erasures? the erasure journal", said)


def test_rejournal_erasures_on_a_host_whose_hub_id_was_not_put_back_writes_none_twice(
    api: Api, journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The journal copy put in place but not its hub-id: the copy's lines name another hub
    and are skipped, so a catch-up would journal the people they name a second time. The
    command writes nothing, exits 1 naming its own --accept-other-hubs; with it, the lines
    are this hub's and only the erasure the copy lacks is journaled."""
    named = enrolled(api)
    review.erase_person(named.pk, "asked to")
    copy = journal.read_bytes()
    lacking = enrolled(api)
    review.erase_person(lacking.pk, "asked to")
    journal.write_bytes(copy)
    (tmp_path / HUB_ID_FILE).unlink()
    command = ["hub", "rejournal-erasures", "--data", str(tmp_path)]

    assert main(command) == 1

    assert journal.read_bytes() == copy
    said = capsys.readouterr()
    assert "rejournal-erasures --accept-other-hubs" in said.err
    assert "renew-log-epoch" not in said.err
    assert "restored from a backup" not in said.out
    assert main([*command, "--accept-other-hubs"]) == 0
    assert _lines_of(journal, named.uid) == ["admin"]
    assert _lines_of(journal, lacking.uid) == ["caught_up"]


def test_rejournal_erasures_refused_for_another_hubs_lines_clears_no_mark(
    api: Api, journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command that exits 1 for lines of another hub changes nothing: the journaled
    marks stay, so a `jaga hub run` started before hub-id is put back (the replay, then the
    catch-up, as a start runs them) journals none of the people those lines name again."""
    named = enrolled(api)
    review.erase_person(named.pk, "asked to")
    copy = journal.read_bytes()
    lacking = enrolled(api)
    review.erase_person(lacking.pk, "asked to")
    journal.write_bytes(copy)
    (tmp_path / HUB_ID_FILE).unlink()
    marked = set(Person.objects.exclude(journaled_at=None).values_list("pk", flat=True))

    assert main(["hub", "rejournal-erasures", "--data", str(tmp_path)]) == 1

    assert set(Person.objects.exclude(journaled_at=None).values_list("pk", flat=True)) == marked
    said = capsys.readouterr()
    assert "cleared the journaled mark" not in said.out
    assert "rejournal-erasures --accept-other-hubs" in said.err
    assert reapply_erasures(tmp_path, at_start=True) is not None
    assert _lines_of(journal, named.uid) == ["admin"]
    assert journal.read_bytes() == copy


@pytest.mark.parametrize("accept", [[], ["--accept-other-hubs"]], ids=["own", "accepting"])
def test_rejournal_erasures_that_cannot_read_the_journal_clears_no_mark(
    api: Api,
    journal: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    accept: list[str],
) -> None:
    """Accepting other hubs' lines too: it read first only without the flag, and with it
    cleared every mark before it failed to read the journal."""
    person = enrolled(api)
    review.erase_person(person.pk, "asked to")
    journal.unlink()
    journal.mkdir()  # a folder at its name: it cannot be read

    assert main(["hub", "rejournal-erasures", "--data", str(tmp_path), *accept]) == 1

    assert Person.objects.get(pk=person.pk).journaled_at is not None
    assert "cleared no journaled mark" in capsys.readouterr().err


def test_an_erasure_journaled_is_not_journaled_again(
    api: Api, journal: Path, tmp_path: Path
) -> None:
    """Its append marked it; and one whose mark is missing (a hub upgraded from the release
    before the mark, or killed between the append and the mark) is marked by the replay,
    which read its line: the catch-up writes no second line either way."""
    person = enrolled(api)
    review.erase_person(person.pk, "asked to")
    assert Person.objects.get(pk=person.pk).journaled_at is not None
    reapply_erasures(tmp_path, at_start=True)
    assert _lines_of(journal, person.uid) == ["admin"]

    Person.objects.filter(pk=person.pk).update(journaled_at=None)
    reapply_erasures(tmp_path, at_start=True)

    assert _lines_of(journal, person.uid) == ["admin"]
    assert Person.objects.get(pk=person.pk).journaled_at is not None


def test_erasures_older_than_the_journal_are_journaled_in_batches(
    api: Api, journal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erased people no line names (made before the journal), more than a batch: each
    journaled once, the purge's as the purge's kind (the replay keeps its fixed reason)."""
    from sync.hub import erasure_catchup

    monkeypatch.setattr(erasure_catchup, "BATCH", 4)
    site = Site.objects.get(slug=api.site)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    old = Person.objects.bulk_create(
        Person(uid=uuid4(), site=site, erased_at=at, erasure_reason=reason)
        for reason in [RETENTION_REASON] * 5 + ["asked, by phone"] * 5
    )

    erasure_catchup.catch_up_journal(tmp_path)

    kinds = [_lines_of(journal, person.uid) for person in old]
    assert kinds == [["retention"]] * 5 + [["caught_up"]] * 5
    assert not Person.objects.filter(pk__in=[p.pk for p in old], journaled_at=None).exists()
    assert "phone" not in journal.read_text()


def test_a_started_hub_journals_a_lost_line_before_it_serves(
    api: Api, journal: Path, tmp_path: Path, hub_database: str
) -> None:
    """End to end: a real `jaga hub run` on the data folder whose journal lost the line."""
    person = _erased_with_the_append_failing(api, journal)
    hub = HubProcess(hub_database, tmp_path)
    hub.start()
    try:
        assert _lines_of(journal, person.uid) == ["caught_up"]
    finally:
        hub.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives a file to another user")
def test_files_a_root_command_makes_in_the_data_folder_are_its_owners(
    api: Api, journal: Path, tmp_path: Path
) -> None:
    """A command run by hand as root in the data folder of a hub that runs as another user
    makes the journal, hub-id, the replay record, accepted-hubs and the secret key that
    user's: the service can still read and append to them (not root's, 0600)."""
    import json

    from sync.hub.bootstrap import SECRET_KEY_FILE, kept_secret_key
    from sync.hub.erasure_journal import ACCEPTED_FILE, HUB_ID_FILE, REPLAY_FILE

    os.chown(tmp_path, 65534, 65534)
    review.erase_person(enrolled(api).pk, "asked to")
    line = {"person": str(uuid4()), "site": "s", "erased_at": "2026-01-01T00:00:00+00:00",
            "kind": "admin", "hub": "0" * 16}  # fmt: skip
    with journal.open("a") as out:
        out.write(json.dumps(line) + "\n")
    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path), "--accept-other-hubs"]) == 0
    kept_secret_key(tmp_path)  # the tests name a key: the command made none

    for name in (JOURNAL_FILE, HUB_ID_FILE, REPLAY_FILE, ACCEPTED_FILE, SECRET_KEY_FILE):
        found = (tmp_path / name).stat()
        assert (found.st_uid, found.st_gid) == (65534, 65534), name
        assert found.st_mode & 0o077 == 0, name
