"""A kiosk whose threshold lets two enrolled people pass as each other says so at start:
on NUAA's people most pairs of different people reach the default 1:1 threshold
(``tools.measure_face_impostors``), and an operator who accepted a "duplicate" at enrolment
has just enrolled such a pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.kiosk.assemble import KioskOptions, kiosk_session, kiosk_settings
from desktop.kiosk.enrol import NewPerson, enrol_person
from inference.face.settings import FaceSettings
from inference.face.stages import Stages
from sync.store import Store
from tests.conftest import shared_path

pytestmark = pytest.mark.needs_shared


def nuaa_frames(person: str) -> list[Path]:
    folder = shared_path("data", "spoof", "nuaa", "train", "frames", "live", person)
    return sorted(folder.glob("*.jpg"))[:2]


def enrol(store: Store, stages: Stages, external_id: str, person: str) -> None:
    new = NewPerson(external_id, external_id, "gate", "v1", "desk", 30)
    enrol_person(store, stages, FaceSettings(), new, nuaa_frames(person), accept_duplicates=True)


def warning(store: Store, stages: Stages, claim: str | None = None) -> str | None:
    options = KioskOptions(site="gate", device="k1", claim=claim)
    return kiosk_session(store, stages, kiosk_settings(None), options, {}).warning


def test_two_people_who_pass_as_each_other_are_named_for_the_operator_by_uid(
    kiosk_store: Store, stages: Stages
) -> None:
    """NUAA's 0003 and 0009 (first two frames each) reach 0.957: past 1:1's 0.911 and 1:N's
    0.947 alike. 31 of the 36 pairs of NUAA's nine people reach 0.911 on those frames."""
    enrol(kiosk_store, stages, "B-3", "0003")
    assert warning(kiosk_store, stages) is None  # one person cannot pass as another
    enrol(kiosk_store, stages, "B-9", "0009")
    one_to_n = warning(kiosk_store, stages)
    people = [kiosk_store.people.by_external_id(badge) for badge in ("B-3", "B-9")]
    uids = sorted(person.person_uid for person in people if person is not None)
    assert one_to_n is not None and f"{uids[0]} and {uids[1]}" in one_to_n, one_to_n
    assert "0.947" in one_to_n, one_to_n
    # The warning reaches logs and journals: a badge must not (jaga store people maps them).
    assert "B-3" not in one_to_n and "B-9" not in one_to_n, one_to_n
    one_to_one = warning(kiosk_store, stages, claim="B-3")
    assert one_to_one is not None and "threshold 0.911" in one_to_one, one_to_one


def test_every_pair_that_passes_is_counted_and_the_closest_named_first(
    kiosk_store: Store, stages: Stages
) -> None:
    """On NUAA's 0002, 0003, 0007 and 0009 (first two frames each) three pairs reach 1:N's
    0.947 (0003-0009 0.957, 0002-0007 0.953, 0002-0003 0.950; next is 0007-0009, 0.942) and
    all six reach 1:1's 0.911. Naming only the closest pair, the operator who fixes it learns
    of the next one only at the next start."""
    for person in ("0002", "0003", "0007", "0009"):
        enrol(kiosk_store, stages, f"B-{person[-1]}", person)
    uids = {badge: held.person_uid for badge in ("B-2", "B-3", "B-7", "B-9")
            if (held := kiosk_store.people.by_external_id(badge)) is not None}  # fmt: skip

    def pair(first: str, second: str) -> str:
        return " and ".join(sorted((uids[first], uids[second])))

    named = [pair("B-3", "B-9"), pair("B-2", "B-7"), pair("B-2", "B-3")]
    one_to_n = warning(kiosk_store, stages)
    assert one_to_n is not None, one_to_n
    places = [one_to_n.find(words) for words in named]
    assert -1 not in places and places == sorted(places), one_to_n
    assert "more pair" not in one_to_n, one_to_n
    one_to_one = warning(kiosk_store, stages, claim="B-3")
    assert one_to_one is not None and all(words in one_to_one for words in named), one_to_one
    assert "and 3 more pairs" in one_to_one, one_to_one
    assert not any(badge in one_to_one for badge in uids), one_to_one


def test_a_gallery_whose_people_stay_apart_gives_no_warning(
    kiosk_store: Store, stages: Stages
) -> None:
    johns = shared_path("data", "faces", "johns")
    for person in sorted(p for p in johns.iterdir() if p.is_dir())[:3]:
        new = NewPerson(person.name, person.name, "gate", "v1", "desk", 30)
        enrol_person(kiosk_store, stages, FaceSettings(), new, sorted(person.glob("*.jpg"))[:2])
    assert warning(kiosk_store, stages) is None
