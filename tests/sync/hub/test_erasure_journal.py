"""The hub's erasure journal (``sync.hub.erasure_journal``): one line per committed erasure,
never the reason typed, none for a rolled-back one; whole lines from processes appending at
once; a failure to write it counted and said, the erasure standing."""

from __future__ import annotations

import json
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

TOKEN = "erasure-journal-metrics-token"
FAILURES = "jaga_hub_erasure_journal_failures_total"


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The journal of a hub data folder this process's erasures go to, as a hub's would."""
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    return tmp_path / JOURNAL_FILE


def _enrolled(api: Api) -> Person:
    person = e.person(api.site, name="Jane Roe")
    assert api.push(e.entry("person", "upsert", person))["rejected"] == []
    enrolled: Person = Person.objects.get(uid=person["person_uid"])
    return enrolled


def test_a_committed_erasure_is_journaled_once_without_the_reason_typed(
    api: Api, journal: Path
) -> None:
    person = _enrolled(api)

    review.erase_person(person.pk, "Jane Roe asked, by phone")

    lines = journal.read_text().splitlines()
    assert len(lines) == 1 and "Jane" not in lines[0] and "phone" not in lines[0]
    fields = json.loads(lines[0])
    assert fields.keys() == {"person", "site", "erased_at", "kind"}
    assert fields["person"] == str(person.uid) and fields["site"] == api.site
    assert fields["kind"] == "admin"
    assert journal.stat().st_mode & 0o077 == 0


def test_a_rolled_back_erasure_is_not_journaled(api: Api, journal: Path) -> None:
    person = _enrolled(api)

    with pytest.raises(RuntimeError), transaction.atomic():
        review.erase_person(person.pk, "asked to")
        raise RuntimeError("the caller's transaction fails after the erasure")

    person.refresh_from_db()
    assert not person.erased and not journal.exists()


def test_two_processes_appending_at_once_interleave_no_lines(tmp_path: Path) -> None:
    """Each process appends 300 lines of its own, both at once: every line is whole."""
    path = tmp_path / JOURNAL_FILE
    script = (
        "import sys, uuid; from datetime import UTC, datetime; from pathlib import Path;"
        "from sync.hub.erasure_journal import JournaledErasure, append;"
        "[append(Path(sys.argv[1]), JournaledErasure(uuid.uuid4(), sys.argv[2] * 40,"
        " datetime.now(UTC), 'admin').line()) for _ in range(300)]"
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
    person = _enrolled(api)

    review.erase_person(person.pk, "asked to")

    read = read_journal(journal)
    assert read.unreadable == 1 and [item.person_uid for item in read.erasures] == [person.uid]


def _scrape() -> dict[str, float]:
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
    person = _enrolled(api)
    before = _scrape()
    assert before["jaga_hub_erasure_journal_writable"] == 1
    journal.unlink()
    journal.mkdir()

    review.erase_person(person.pk, "asked to")

    person.refresh_from_db()
    assert person.erased
    after = _scrape()
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
