"""The hub's erasure journal (``sync.hub.erasure_journal``): one line per committed erasure,
never the reason typed, none for a rolled-back one; whole lines from processes appending at
once; a failure to write it counted and said, the erasure standing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from django.db import transaction
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from main import main
from sync.hub import review
from sync.hub.erasure_journal import DATA_DIR_ENV, JOURNAL_FILE, read_journal
from sync.hub.models import Person
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import REPO, Api
from tests.sync.hub.journalkit import enrolled

TOKEN = "erasure-journal-metrics-token"
FAILURES = "jaga_hub_erasure_journal_failures_total"


def test_a_committed_erasure_is_journaled_once_without_the_reason_typed(
    api: Api, journal: Path
) -> None:
    person = enrolled(api)

    review.erase_person(person.pk, "Jane Roe asked, by phone")

    lines = journal.read_text().splitlines()
    assert len(lines) == 1 and "Jane" not in lines[0] and "phone" not in lines[0]
    fields = json.loads(lines[0])
    assert fields.keys() == {"person", "site", "erased_at", "kind", "hub"}
    assert fields["person"] == str(person.uid) and fields["site"] == api.site
    assert fields["kind"] == "admin"
    assert journal.stat().st_mode & 0o077 == 0


def test_a_rolled_back_erasure_is_not_journaled(api: Api, journal: Path) -> None:
    person = enrolled(api)

    with pytest.raises(RuntimeError), transaction.atomic():
        review.erase_person(person.pk, "asked to")
        raise RuntimeError("the caller's transaction fails after the erasure")

    person.refresh_from_db()
    assert not person.erased and not journal.exists()


def test_two_processes_appending_at_once_interleave_no_lines(tmp_path: Path) -> None:
    """Each process appends 300 lines of its own, both at once: every line is whole. This
    catches a line written in more than one write (a torn line's newline apart from it, a
    buffered file); on a local Linux file one small ``O_APPEND`` write is whole anyway, so
    it cannot tell the ``flock`` (which keeps the torn-line check and the write together)
    from its absence."""
    path = tmp_path / JOURNAL_FILE
    script = (
        "import sys, uuid; from datetime import UTC, datetime; from pathlib import Path;"
        "from sync.hub.erasure_journal import JournaledErasure, append;"
        "[append(Path(sys.argv[1]), JournaledErasure(uuid.uuid4(), sys.argv[2] * 40,"
        " datetime.now(UTC), 'admin', 'a' * 16).line(Path(sys.argv[1]).parent))"
        " for _ in range(300)]"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(path), site], cwd=REPO)
        for site in ("a", "b")
    ]
    assert [writer.wait(120) for writer in writers] == [0, 0]

    read = read_journal(path)
    assert read.unreadable == 0 and len(read.erasures) == 600
    assert sorted({item.site for item in read.erasures}) == ["a" * 40, "b" * 40]


def test_a_line_a_crash_left_torn_is_ended_and_skipped(api: Api, journal: Path) -> None:
    journal.write_bytes(b'{"person":"' + str(uuid4()).encode()[:9])  # no newline: torn
    person = enrolled(api)

    review.erase_person(person.pk, "asked to")

    read = read_journal(journal)
    assert read.unreadable == 1 and [item.person_uid for item in read.erasures] == [person.uid]


def scrape_journal_metrics() -> dict[str, float]:
    """The `jaga_hub_erasure_journal*` samples of a real `/metrics` answer."""
    with override_settings(JAGA_HUB_METRICS_TOKEN=TOKEN):
        text = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("jaga_hub_erasure_journal")
    }


def test_an_erasure_that_cannot_be_journaled_stands_and_metrics_say_so(
    api: Api, journal: Path
) -> None:
    """The journal cannot be written (here: its name taken by a folder):
    the erasure stands, the failure is counted, and the scrape says the journal is not
    writable."""
    person = enrolled(api)
    before = scrape_journal_metrics()
    assert before["jaga_hub_erasure_journal_writable"] == 1
    journal.unlink()
    journal.mkdir()

    review.erase_person(person.pk, "asked to")

    person.refresh_from_db()
    assert person.erased
    after = scrape_journal_metrics()
    assert after["jaga_hub_erasure_journal_writable"] == 0
    assert after[FAILURES] == before.get(FAILURES, 0) + 1  # this process's count


def test_the_command_says_when_it_cannot_read_the_journal(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal.mkdir()  # unreadable as a file

    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 1

    said = capsys.readouterr()
    assert "could not read the erasure journal" in said.err
    assert "renewed the change log's epoch" in said.out  # the renewal is not held back


_GOOD = '{"person":"%s","site":"s","erased_at":"2026-01-01T00:00:00+00:00","kind":"admin"}'


def test_a_damaged_line_of_any_shape_is_skipped_and_counted(journal: Path) -> None:
    """Valid JSON of the wrong shape (a number for a uid, a list, null), a line too long to
    be one, bytes that are no text: each skipped and counted, the good line read."""
    good = uuid4()
    damaged = [
        b'{"person":5,"site":"s","erased_at":"2026-01-01T00:00:00+00:00","kind":"admin"}',
        b'{"person":[1],"site":"s","erased_at":"2026-01-01T00:00:00+00:00","kind":"admin"}',
        (_GOOD % uuid4()).replace('"site":"s"', '"site":7').encode(),
        (_GOOD % uuid4()).replace('"kind":"admin"', '"kind":{}').encode(),
        (_GOOD % uuid4()).replace('"2026-01-01T00:00:00+00:00"', "20260101").encode(),
        (_GOOD % uuid4()).replace('"hub"', "").replace("}", ',"hub":3}').encode(),
        b"[1, 2]",
        b"null",
        b"[" * 100_000,
        b"x" * 300_000,
        b"\xff\xfe{}",
    ]
    journal.write_bytes(b"\n".join([*damaged, (_GOOD % good).encode()]) + b"\n")

    read = read_journal(journal)

    assert read.unreadable == len(damaged)
    assert [item.person_uid for item in read.erasures] == [good]


def test_the_command_renews_whatever_the_journal_raises(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A named pipe at the journal's path (reading it would wait for a writer for ever): the
    command says it, renews the epochs all the same and exits 1."""
    os.mkfifo(journal)

    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 1

    said = capsys.readouterr()
    assert "could not read the erasure journal" in said.err
    assert "renewed the change log's epoch" in said.out


def test_a_line_of_another_hub_is_skipped_and_listed_unless_accepted(
    api: Api, journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line another hub wrote (a staging hub's journal joined by mistake) naming a person
    this hub holds live: not applied, listed; applied with --accept-other-hubs. A line
    written before lines named their hub is this hub's own."""
    foreign, old = enrolled(api), enrolled(api)
    line = json.loads(_GOOD % foreign.uid) | {"site": api.site, "hub": "0" * 16}
    journal.write_text(
        json.dumps(line) + "\n" + (_GOOD % old.uid).replace('"s"', f'"{api.site}"') + "\n"
    )

    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 1

    foreign.refresh_from_db()
    old.refresh_from_db()
    assert not foreign.erased and old.erased
    said = capsys.readouterr()
    assert "skipped 1 line of the erasure journal naming another hub" in said.err
    assert str(foreign.uid) in said.err
    assert "take them out" not in said.err

    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path), "--accept-other-hubs"]) == 0
    foreign.refresh_from_db()
    assert foreign.erased


def test_accepted_hubs_are_this_hubs_own_at_every_later_replay(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--accept-other-hubs keeps the hubs it accepted in the data folder: a later replay
    (a start's, the command's without the flag) skips none of their lines, so the other_hub
    count the README says to alert on goes back to 0 while the lines are kept."""
    from sync.hub.erasure_journal import last_replay

    line = {"person": str(uuid4()), "site": "s", "erased_at": "2026-01-01T00:00:00+00:00",
            "kind": "admin"}  # fmt: skip
    journal.write_text(json.dumps(line | {"hub": "0" * 16}) + "\n")
    command = ["hub", "renew-log-epoch", "--data", str(tmp_path)]
    assert main([*command, "--accept-other-hubs"]) == 0

    assert main(command) == 0
    replay = last_replay(tmp_path)
    assert replay is not None and replay["other_hub"] == 0
    accepted = tmp_path / "accepted-hubs"
    assert accepted.read_text() == "0" * 16 + "\n" and accepted.stat().st_mode & 0o077 == 0
    with journal.open("a") as out:  # another hub, not accepted
        out.write(json.dumps(line | {"person": str(uuid4()), "hub": "1" * 16}) + "\n")
    capsys.readouterr()
    assert main(command) == 1
    assert "skipped 1 line of the erasure journal naming another hub" in capsys.readouterr().err


def test_a_line_names_this_hub(api: Api, journal: Path, tmp_path: Path) -> None:
    """Each line names the hub that wrote it (the data folder's hub-id, made at the first
    erasure, at random: not from the key, which a staging hub may share): read back as
    this hub's."""
    from sync.hub.erasure_journal import HUB_ID_FILE, hub_identity, key_identity

    review.erase_person(enrolled(api).pk, "asked to")

    assert (tmp_path / HUB_ID_FILE).read_text().strip() == hub_identity(tmp_path)
    assert hub_identity(tmp_path) != key_identity()
    assert json.loads(journal.read_text())["hub"] == hub_identity(tmp_path)
    assert [item.hub for item in read_journal(journal).erasures] == [hub_identity(tmp_path)]


def test_lines_of_this_hubs_key_are_its_own_whatever_its_hub_id(
    api: Api, journal: Path, tmp_path: Path
) -> None:
    """A line written before the hub-id file, with the current key's identity, is applied
    even where the hub-id file was made otherwise (from a throwaway key)."""
    from sync.hub.erasure_journal import HUB_ID_FILE, key_identity

    (tmp_path / HUB_ID_FILE).write_text("f" * 16 + "\n")
    person = enrolled(api)
    line = json.loads(_GOOD % person.uid) | {"site": api.site, "hub": key_identity()}
    journal.write_text(json.dumps(line) + "\n")

    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 0

    person.refresh_from_db()
    assert person.erased


def test_a_site_made_again_after_the_restore_gets_its_journaled_erasures(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """P, of a site made after the backup, erased on the hub; the restore lost the site. The
    command keeps P's erasure; once the site is made again, P is erased there at once, so a
    kiosk that never pulled the tombstone cannot bring P back by pushing them."""
    from sync.hub.models import Change

    slug = f"later-{uuid4().hex[:10]}"
    payload = e.person(slug, name="Pat Later")
    journal.write_text((_GOOD % payload["person_uid"]).replace('"s"', f'"{slug}"') + "\n")
    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 0
    assert "applied when a site of that slug is made" in capsys.readouterr().err

    kiosk = Api.register_new(slug, "kiosk-again")  # the site made again
    kiosk.push(e.entry("person", "upsert", payload))

    person = Person.objects.get(uid=payload["person_uid"])
    assert person.erased and person.display_name == ""
    assert not Change.objects.filter(entity_uid=person.uid, operation="upsert").exists()


def test_the_purge_lists_the_erasures_it_could_not_journal_and_fails(
    api: Api, tmp_path: Path, hub_database: str
) -> None:
    """`jaga hub purge-expired`, its own process as the timer runs it, with a journal it
    cannot append to: the erasure stands, its uid is listed and the command exits 1 (the
    timer's unit fails), as no /metrics scrape ever sees that process's count."""
    from datetime import timedelta

    from django.utils import timezone

    from sync.protocol import format_timestamp
    from tests.sync.hub.hubkit import jaga_hub

    person = e.person(api.site, name="Old Consent")
    given = timezone.now() - timedelta(days=400)
    person["consent"]["given_at"] = format_timestamp(given)
    person["consent"]["retain_until"] = format_timestamp(given + timedelta(days=30))
    assert api.push(e.entry("person", "upsert", person))["rejected"] == []
    data = tmp_path / "hubdata"
    (data / JOURNAL_FILE).mkdir(parents=True)  # cannot be appended to

    done = jaga_hub(
        "purge-expired", "--data", str(data), "--trust-clock", database_url=hub_database
    )

    assert done.returncode == 1, done.stderr
    assert Person.objects.get(uid=person["person_uid"]).erased
    assert "1 erasure could not be journaled" in done.stderr
    assert person["person_uid"] in done.stderr.split("could not be journaled", 1)[1]


def test_a_site_the_admin_makes_again_gets_its_kept_erasures(operator: Client) -> None:
    """The same when the admin makes the site again: its kept erasure is applied in the
    add's transaction, and forgotten."""
    from datetime import UTC, datetime

    from sync.hub.models import Change, SitelessErasure

    slug, uid = f"later-{uuid4().hex[:10]}", uuid4()
    SitelessErasure.objects.create(
        person_uid=uid, site_slug=slug, erased_at=datetime.now(UTC), kind="device"
    )

    operator.post("/admin/hub/site/add/", {"slug": slug, "name": "Made again"})

    assert Person.objects.get(uid=uid).erased and Person.objects.get(uid=uid).site.slug == slug
    assert Change.objects.filter(entity_uid=uid, operation="tombstone").exists()
    assert not SitelessErasure.objects.filter(person_uid=uid).exists()


def test_a_replay_that_skips_lines_says_so_in_metrics(
    api: Api, journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged line and a line of another hub: the replay's counts are kept in the data
    folder, and every worker's /metrics says them (what a start's stderr alone said)."""
    at = "2026-01-01T00:00:00+00:00"
    foreign = {"person": str(uuid4()), "site": api.site, "erased_at": at, "kind": "admin"}
    journal.write_text(
        f'{{"person":5,"site":"{api.site}","erased_at":"{at}","kind":"admin"}}\n'
        + json.dumps(foreign | {"hub": "0" * 16})
        + "\n"
    )

    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 1

    with override_settings(JAGA_HUB_METRICS_TOKEN=TOKEN):
        text = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    skipped = {
        sample.labels["why"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "jaga_hub_erasure_journal_skipped_lines"
    }
    assert skipped == {"unreadable": 1, "other_hub": 1, "no_site": 0}
    assert scrape_journal_metrics()["jaga_hub_erasure_journal_replay_read"] == 1
    assert "hub-id file was lost" in capsys.readouterr().err


def test_siteless_lines_cost_one_query_a_batch_and_are_said_once(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """People of a slug the database holds no site of: kept at the first replay; the next
    replays find them kept with one query a batch and add, and say, nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sync.hub.erasure_replay import reapply_journal
    from sync.hub.models import SitelessErasure

    slug = f"gone-{uuid4().hex[:8]}"
    journal.write_text(
        "".join((_GOOD % uuid4()).replace('"s"', f'"{slug}"') + "\n" for _ in range(300))
    )
    assert reapply_journal(journal).no_site == 300

    with CaptureQueriesContext(connection) as queries:
        again = reapply_journal(journal)

    assert (again.no_site, again.still_kept, again.count) == (0, 300, 0)
    assert len(queries) <= 3
    assert SitelessErasure.objects.filter(site_slug=slug).count() == 300


def test_making_a_site_leaves_a_kept_uid_held_by_another_site(api: Api) -> None:
    """A kept uid that another site holds live is not erased there when a site of the kept
    slug is made: that site's lock is not held, and its person is not the one journaled."""
    from datetime import UTC, datetime

    from sync.hub.auth import create_device
    from sync.hub.models import Change, SitelessErasure

    held = enrolled(api)
    slug = f"gone-{uuid4().hex[:8]}"
    SitelessErasure.objects.create(
        person_uid=held.uid, site_slug=slug, erased_at=datetime.now(UTC), kind="device"
    )

    create_device(slug, "new-site-kiosk")

    held.refresh_from_db()
    assert not held.erased
    assert not Change.objects.filter(entity_uid=held.uid, operation="tombstone").exists()
    assert not SitelessErasure.objects.filter(person_uid=held.uid).exists()


def test_a_new_hub_id_is_the_keys_only_when_the_journal_holds_the_keys_lines(
    tmp_path: Path,
) -> None:
    """A staging hub given production's key (its data folder copied, hub-id deleted, or a
    fresh one) gets a hub-id of its own, so its lines are never production's; a hub upgraded
    from the release whose lines named it by its key makes its hub-id from that key, so
    those lines stay its own."""
    from sync.hub.erasure_journal import HUB_ID_FILE, hub_identity, key_identity

    fresh, upgraded = tmp_path / "fresh", tmp_path / "upgraded"
    fresh.mkdir()
    upgraded.mkdir()
    line = {"person": str(uuid4()), "site": "s", "erased_at": "2026-01-01T00:00:00+00:00",
            "kind": "admin"}  # fmt: skip
    (fresh / JOURNAL_FILE).write_text(json.dumps(line | {"hub": "0" * 16}) + "\n")
    (upgraded / JOURNAL_FILE).write_text(json.dumps(line | {"hub": key_identity()}) + "\n")

    assert hub_identity(fresh) not in {key_identity(), "0" * 16}
    assert hub_identity(upgraded) == key_identity()
    assert (fresh / HUB_ID_FILE).read_text().strip() == hub_identity(fresh)
    (fresh / HUB_ID_FILE).unlink()
    assert hub_identity(fresh) != key_identity()


def test_a_replay_record_that_cannot_be_written_is_not_served_as_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk when a replay is recorded: /metrics no longer shows the earlier replay's
    counts as this one's (0 skipped, read) but replay_read 0, the state unknown."""
    import errno

    from sync.hub.erasure_journal import REPLAY_FILE, record_replay

    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    record_replay(tmp_path, {"applied": 0, "unreadable": 0, "other_hub": 0, "no_site": 0})
    assert scrape_journal_metrics()["jaga_hub_erasure_journal_replay_read"] == 1

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    record_replay(tmp_path, {"applied": 0, "unreadable": 0, "other_hub": 1, "no_site": 0})
    monkeypatch.undo()
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))

    scraped = scrape_journal_metrics()
    assert scraped["jaga_hub_erasure_journal_replay_read"] == 0
    assert "jaga_hub_erasure_journal_skipped_lines" not in scraped
    assert [path.name for path in tmp_path.iterdir() if "replay" in path.name] == []
    assert not (tmp_path / REPLAY_FILE).exists()


@pytest.mark.parametrize(
    "record",
    ['{"at": 1, "read": true, "other_hub": 1' + "0" * 400 + "}",
     '{"at": 1, "read": true, "other_hub": "nan"}', '{"at": 1, "read": true, "applied": "inf"}',
     '{"at": NaN, "read": true}', "[" * 100_000],
)  # fmt: skip
def test_a_corrupt_replay_record_is_unreadable_not_a_failed_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: str
) -> None:
    """A count too large for a float, or not finite: the record is unreadable (replay_read
    0), and every other metric is served all the same."""
    from sync.hub.erasure_journal import REPLAY_FILE, last_replay

    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    (tmp_path / REPLAY_FILE).write_text(record)

    assert last_replay(tmp_path) is None
    assert scrape_journal_metrics()["jaga_hub_erasure_journal_replay_read"] == 0


@pytest.mark.parametrize("name", ["hub-id", "erasure-replay.json", "accepted-hubs"])
def test_a_named_pipe_in_the_data_folder_is_refused_not_waited_on(
    tmp_path: Path, name: str
) -> None:
    """A named pipe at hub-id, erasure-replay.json or accepted-hubs: refused at once, as the
    journal refuses one, not read (which would wait for a writer for ever: every worker's
    append, every start's replay)."""
    import threading

    from sync.hub.erasure_journal import JournalFileError, last_replay, own_identities

    os.mkfifo(tmp_path / name)
    if name != "hub-id":
        (tmp_path / "hub-id").write_text("a" * 16 + "\n")
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(last_replay(tmp_path) if name == REPLAY else own_identities(tmp_path))
        except JournalFileError as error:
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(30)
    if reader.is_alive():  # release it: a writer opens the pipe and goes
        os.close(os.open(tmp_path / name, os.O_WRONLY | os.O_NONBLOCK))
    assert outcome, "blocked on the named pipe"
    if name == REPLAY:
        assert outcome == [None]
    else:
        assert isinstance(outcome[0], JournalFileError) and outcome[0].path == tmp_path / name


REPLAY = "erasure-replay.json"


def _said_first(said: str, *paths: Path) -> Path:
    """Which of ``paths`` the message ``said`` names first."""
    named = [path for path in paths if str(path) in said]
    assert named, said
    return min(named, key=lambda path: said.index(str(path)))


@pytest.mark.parametrize("kept", ["", "\n", "g" * 16 + "\n", "a" * 15 + "\n"])
def test_a_hub_id_emptied_or_damaged_fails_appends_and_replays_loudly(
    api: Api, journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kept: str
) -> None:
    """hub-id emptied (a `cp` from a backup onto a full disk) or holding no id: not read as
    the key's identity (which names none of the hub's lines), nor remade; an erasure stands
    but its append is counted as failed, and a replay fails, naming hub-id first and saying
    to put it back from a backup, /metrics saying replay_read 0 and no skipped lines."""
    from sync.hub.erasure_journal import HUB_ID_FILE

    (tmp_path / HUB_ID_FILE).write_text(kept)
    person = enrolled(api)
    before = scrape_journal_metrics().get(FAILURES, 0)

    review.erase_person(person.pk, "asked to")

    person.refresh_from_db()
    assert person.erased and read_journal(journal).erasures == []
    assert scrape_journal_metrics()[FAILURES] == before + 1
    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 1
    said = capsys.readouterr().err
    assert _said_first(said, tmp_path / HUB_ID_FILE, journal) == tmp_path / HUB_ID_FILE
    assert "backup" in said
    assert (tmp_path / HUB_ID_FILE).read_text() == kept
    scraped = scrape_journal_metrics()
    assert scraped["jaga_hub_erasure_journal_replay_read"] == 0
    assert "jaga_hub_erasure_journal_skipped_lines" not in scraped


def test_a_hub_name_not_16_lower_hex_digits_makes_a_line_unreadable(
    journal: Path, tmp_path: Path
) -> None:
    """A line naming its hub with padding, a newline, capitals or too few digits (crafted,
    or damaged) is unreadable: --accept-other-hubs cannot write a name that never matches
    its line again, or one that no line names; accept_hubs writes only hub ids."""
    from sync.hub.erasure_journal import ACCEPTED_FILE, accept_hubs, accepted_hubs

    line = {"person": str(uuid4()), "site": "s", "erased_at": "2026-01-01T00:00:00+00:00",
            "kind": "admin"}  # fmt: skip
    hubs = [" padded ", "evil\n" + "2" * 16, "A" * 16, "0" * 15, "0" * 16]
    journal.write_text("".join(json.dumps(line | {"hub": hub}) + "\n" for hub in hubs))

    assert read_journal(journal).unreadable == 4
    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path), "--accept-other-hubs"]) == 0
    assert (tmp_path / ACCEPTED_FILE).read_text() == "0" * 16 + "\n"
    accept_hubs(tmp_path, [" padded ", "1" * 16, "evil\n" + "2" * 16])
    assert accepted_hubs(tmp_path) == {"0" * 16, "1" * 16}


def test_an_accepted_hubs_file_over_its_cap_is_named_as_the_file_at_fault(
    journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """accepted-hubs past its cap: the replay fails naming that file first, not the
    journal, and /metrics says replay_read 0 alone, not skipped lines it never counted."""
    from sync.hub.erasure_journal import ACCEPTED_FILE

    journal.write_text("")
    (tmp_path / ACCEPTED_FILE).write_text("".join(f"{n:016x}\n" for n in range(4000)))

    assert main(["hub", "renew-log-epoch", "--data", str(tmp_path)]) == 1

    said = capsys.readouterr().err
    assert _said_first(said, tmp_path / ACCEPTED_FILE, journal) == tmp_path / ACCEPTED_FILE
    scraped = scrape_journal_metrics()
    assert scraped["jaga_hub_erasure_journal_replay_read"] == 0
    assert "jaga_hub_erasure_journal_skipped_lines" not in scraped
