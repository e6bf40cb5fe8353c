"""The hub judges a new badge as a device's store does (``sync.badges``): a badge with a
control character, surrounding spaces or mixed scripts is refused for good, and one that reads
as another live person's badge of the site is held; badges already stored keep applying."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sync.hub.models import Person
from sync.protocol import format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def _stored_as(person: dict[str, Any], badge: str) -> dict[str, Any]:
    """``person``, its badge set as the hub stored it before it judged badges."""
    Person.objects.filter(uid=person["person_uid"]).update(external_id=badge)
    return {**person, "external_id": badge}


@pytest.mark.parametrize(
    ("badge", "why"),
    [
        ("B-\n1", "holds a control character (U+000A)"),
        ("B-1\u202e", "holds a control character (U+202E)"),
        (" B-1", "begins or ends with a space"),
        ("\u0412-1B", "mixes scripts (Cyrillic, Latin)"),
    ],
)
def test_a_new_person_with_a_badge_no_device_would_enrol_is_refused_for_good(
    api: Api, badge: str, why: str
) -> None:
    person = e.person(api.site, badge=badge)

    (rejection,) = api.push(e.entry("person", "upsert", person))["rejected"]

    assert rejection["retryable"] is False
    assert f"its badge {why}" in rejection["reason"]
    assert badge.strip() not in rejection["reason"]  # a badge is personal: reasons are kept
    assert not Person.objects.filter(uid=person["person_uid"]).exists()
    assert api.pull_all() == []  # nothing told to the site's devices


def test_a_badge_change_to_one_no_device_would_enrol_is_refused(api: Api) -> None:
    person = e.person(api.site, badge="B-1")
    api.push(e.entry("person", "upsert", person))
    bad = e.entry("person", "upsert", {**person, "external_id": "B-1\x1b"}, when=e.at(1))
    (rejection,) = api.push(bad)["rejected"]
    assert "its badge holds a control character (U+001B)" in rejection["reason"]
    assert Person.objects.get(uid=person["person_uid"]).external_id == "B-1"


@pytest.mark.parametrize("badge", ["b-1", "\uff22-1", "\u0432-1"])  # case, width, Cyrillic VE
def test_a_badge_that_reads_as_a_held_one_is_refused_as_held(api: Api, badge: str) -> None:
    holder = e.person(api.site, badge="B-1")
    api.push(e.entry("person", "upsert", holder))
    again = e.person(api.site, name="Ana Again", badge=badge)

    (rejection,) = api.push(e.entry("person", "upsert", again))["rejected"]

    assert rejection["retryable"] is False
    assert f"held by person {holder['person_uid']} of this site" in rejection["reason"]
    assert not Person.objects.filter(uid=again["person_uid"]).exists()


def test_a_badge_change_onto_one_that_reads_as_held_is_refused(api: Api) -> None:
    first, second = e.person(api.site, badge="B-1"), e.person(api.site, badge="B-2")
    api.push(e.entry("person", "upsert", first), e.entry("person", "upsert", second))
    onto_held = e.entry("person", "upsert", {**second, "external_id": "b-1"}, when=e.at(1))
    (rejection,) = api.push(onto_held)["rejected"]
    assert f"held by person {first['person_uid']}" in rejection["reason"]
    assert Person.objects.get(uid=second["person_uid"]).external_id == "B-2"


def test_a_holder_past_retention_that_reads_as_the_badge_is_erased(api: Api) -> None:
    holder = e.person(api.site, badge="B-1")
    given = timezone.now() - timedelta(days=400)
    holder["consent"] |= {
        "given_at": format_timestamp(given),
        "retain_until": format_timestamp(given + timedelta(days=30)),
    }
    api.push(e.entry("person", "upsert", holder))
    again = e.person(api.site, name="Ana Again", badge="b-1")
    assert api.push(e.entry("person", "upsert", again))["acknowledged"]
    assert Person.objects.get(uid=holder["person_uid"]).erased


def test_people_whose_stored_badges_would_be_refused_now_keep_applying(api: Api) -> None:
    odd, upper, lower = (e.person(api.site) for _ in range(3))
    api.push(*(e.entry("person", "upsert", person) for person in (odd, upper, lower)))
    odd, upper = _stored_as(odd, "B-\n1"), _stored_as(upper, "B-2")
    lower = _stored_as(lower, "b-2")  # two live people of one badge, from before

    edits = [
        e.entry("person", "upsert", {**person, "display_name": "Renamed"}, when=e.at(1))
        for person in (odd, upper, lower)
    ]
    result = api.push(*edits)

    assert result["rejected"] == []
    renamed = Person.objects.filter(uid__in=[p["person_uid"] for p in (odd, upper, lower)])
    assert {(p.external_id, p.display_name) for p in renamed} == {
        ("B-\n1", "Renamed"),
        ("B-2", "Renamed"),
        ("b-2", "Renamed"),
    }


def test_the_admin_writes_no_badge_so_none_escapes_the_push_check(
    operator: Client, api: Api
) -> None:
    """The push is the only way a badge reaches the hub: a person's admin page is view-only
    (``PersonAdmin``: no add, no change, ``external_id`` read-only), so even a superuser
    cannot type a badge there that devices would then fail on. Should it ever take one, its
    form must judge it by ``sync.badges`` as the push does."""
    held, other = e.person(api.site, badge="B-1"), e.person(api.site, badge="B-2")
    api.push(e.entry("person", "upsert", held), e.entry("person", "upsert", other))
    stored = Person.objects.get(uid=other["person_uid"])
    for badge in ("B-\n1", " B-1", "\u0412-1B", "b-1"):  # flawed, or reads as held
        typed = {"uid": str(uuid.uuid4()), "site": stored.site_id, "external_id": badge,
                 "display_name": "X", "consent": "{}", "_save": "Save"}  # fmt: skip
        changed = operator.post(f"/admin/hub/person/{stored.pk}/change/", typed)
        added = operator.post("/admin/hub/person/add/", typed)
        assert (changed.status_code, added.status_code) == (403, 403), repr(badge)
    assert Person.objects.get(pk=stored.pk).external_id == "B-2"
    assert Person.objects.filter(site=stored.site_id).count() == 2
