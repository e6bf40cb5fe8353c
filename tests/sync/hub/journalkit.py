"""What the erasure journal's tests share: a data folder this process's erasures are
journaled in, and a person enrolled by a device to erase."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.hub.erasure_journal import DATA_DIR_ENV, JOURNAL_FILE
from sync.hub.models import Person
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The journal of a hub data folder this process's erasures go to, as a hub's would."""
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    return tmp_path / JOURNAL_FILE


def enrolled(api: Api) -> Person:
    """A person the device ``api`` enrolled, as the hub holds them."""
    person = e.person(api.site, name="Jane Roe")
    assert api.push(e.entry("person", "upsert", person))["rejected"] == []
    found: Person = Person.objects.get(uid=person["person_uid"])
    return found
