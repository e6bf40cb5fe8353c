"""A badge enrolled here is printable text in one script with no spaces around it, and reads
as no badge already enrolled (in another case, width or look-alike letters); a badge is
looked up by the same reading. People pulled from the hub apply whatever their badge."""

from __future__ import annotations

import re

import pytest

from sync.errors import RecordConflictError, RecordInvalidError, RecordNotFoundError
from sync.store import Store
from tests.sync.client.fakehub import FakeHub
from tests.sync.client.units import client_of
from tests.sync.conftest import FakeClock, enrol, template
from tests.sync.hub import entries as e
from tests.sync.test_store_enrolment import enrol_templates


@pytest.mark.parametrize(
    "badge", ["B-\n3", "B-\x1b[31m4", "B-\u202e1", "B\u200b-1", "B-\x85", "B-\x001"]
)
def test_a_badge_with_a_control_character_is_refused(
    store: Store, clock: FakeClock, badge: str
) -> None:
    with pytest.raises(RecordInvalidError, match="holds a control character"):
        enrol(store, clock, badge, seed=1)
    assert store.people.count() == 0


@pytest.mark.parametrize("badge", [" B-1", "B-1 ", "B-1\u00a0", "\u3000B-1"])
def test_a_badge_with_spaces_around_it_is_refused_not_stripped(
    store: Store, clock: FakeClock, badge: str
) -> None:
    with pytest.raises(RecordInvalidError, match=re.escape(f"{badge!r} begins or ends")):
        enrol(store, clock, badge, seed=1)
    assert store.people.count() == 0


@pytest.mark.parametrize(
    ("badge", "scripts"), [("\u0412OB-1", "Cyrillic, Latin"), ("P\u0391Y-1", "Greek, Latin")]
)
def test_a_badge_mixing_scripts_is_refused(
    store: Store, clock: FakeClock, badge: str, scripts: str
) -> None:
    with pytest.raises(RecordInvalidError, match=f"mixes scripts \\({scripts}\\)"):
        enrol(store, clock, badge, seed=1)
    assert store.people.count() == 0


@pytest.mark.parametrize("badge", ["\u6771\u4eac\u30bf\u30ef\u30fc-1", "Jos\u00e9-7", "\u0412-1"])
def test_a_badge_in_one_writing_is_taken(store: Store, clock: FakeClock, badge: str) -> None:
    """Japanese mixes Han and Katakana; an accented Latin letter is Latin."""
    uid = enrol(store, clock, badge, seed=1)
    assert store.people.get(uid).external_id == badge


@pytest.mark.parametrize("badge", ["b-1", "\uff22-1", "\u0412-1"])  # case, full width, Cyrillic
def test_a_badge_that_reads_as_one_enrolled_is_refused_naming_its_holder(
    store: Store, clock: FakeClock, badge: str
) -> None:
    holder = enrol(store, clock, "B-1", seed=1)
    with pytest.raises(RecordConflictError) as raised:
        enrol(store, clock, badge, seed=2)
    said = f"badge {badge!r} is already enrolled as 'B-1' (Person B-1, person {holder})"
    assert str(raised.value).startswith(said)
    assert store.people.count() == 1


@pytest.mark.parametrize("accept_duplicates", [False, True])
def test_a_taken_badge_is_said_before_the_face_is_compared(
    store: Store, clock: FakeClock, accept_duplicates: bool
) -> None:
    holder = enrol(store, clock, "C-3", seed=1)
    with pytest.raises(RecordConflictError) as raised:
        enrol_templates(store, clock, "C-3", [template(1)], accept_duplicates=accept_duplicates)
    said = f"badge 'C-3' is already enrolled (Person C-3, person {holder}); erase it first"
    assert str(raised.value).startswith(said)


def test_a_badge_is_found_in_another_case_or_width_or_with_spaces(
    store: Store, clock: FakeClock
) -> None:
    holder = enrol(store, clock, "B-1", seed=1)
    for typed in ("b-1", " B-1 ", "\uff22-1", "\u0412-1"):
        found = store.people.by_external_id(typed)
        assert found is not None and found.person_uid == holder, typed
    assert store.people.by_external_id("B-2") is None


def test_pulled_people_apply_whatever_their_badge_and_are_found_exactly(
    store: Store, clock: FakeClock
) -> None:
    """The hub judges its people's badges; a rule new here must not set aside people it
    already holds. Where several ids read as the one given, none exactly, the lookup names
    them all rather than pick one."""
    local = enrol(store, clock, "B-1", seed=1)
    hub = FakeHub()
    pulled = {badge: e.person("north-gate", badge=badge) for badge in ("b-1", "X-\n2", " X-3")}
    for person in pulled.values():
        hub.add_change("person", "upsert", person)
    client_of(store, hub).pull()
    assert store.people.count() == 4
    for badge, person in pulled.items():
        found = store.people.by_external_id(badge)
        assert found is not None and found.person_uid == person["person_uid"]
    assert store.people.get(local).external_id == "B-1"
    with pytest.raises(RecordNotFoundError, match=r"several read as it: 'B-1' .* 'b-1'"):
        store.people.by_external_id(" b-1")
