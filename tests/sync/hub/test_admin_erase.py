"""The admin's irreversible actions ask first: Erase on the people's list (everywhere, and
journaled) and Revoke on the devices' list show a confirmation page, as Django's own
delete does; only the POST that confirms it does the work."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from sync.hub.models import Device, Person
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

PEOPLE = "/admin/hub/person/"
DEVICES = "/admin/hub/device/"


def _text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def _messages(response: Any) -> list[str]:
    """The admin's messages on the page ``response`` shows."""
    return re.findall(r'<li class="(?:success|info|warning|error)">(.*?)</li>', _text(response))


def _enrol(api: Api, name: str, badge: str) -> Person:
    person = e.person(api.site, name=name, badge=badge)
    assert api.push(e.entry("person", "upsert", person))["rejected"] == []
    found: Person = Person.objects.get(uid=person["person_uid"])
    return found


def _erase(client: Client, *people: Person, confirmed: bool) -> Any:
    form: dict[str, Any] = {"action": "erase", "_selected_action": [p.pk for p in people]}
    if confirmed:
        form["post"] = "yes"
    return client.post(PEOPLE, form, follow=True)


def _journaled(journal: Path) -> list[str]:
    if not journal.exists():
        return []
    return [json.loads(line)["person"] for line in journal.read_text().splitlines()]


def test_the_first_erase_post_only_asks_and_erases_no_one(
    operator: Client, api: Api, journal: Path
) -> None:
    ana = _enrol(api, "Ana Asked", "B-ASK1")
    bo = _enrol(api, "Bo Asked", "B-ASK2")

    page = _erase(operator, ana, bo, confirmed=False)

    assert page.status_code == 200 and page.redirect_chain == []  # the page, not the list
    said = _text(page)
    assert "Erase 2 people everywhere?" in said
    assert "Ana Asked" in said and "Bo Asked" in said and api.site in said
    assert 'name="post" value="yes"' in said and 'name="csrfmiddlewaretoken"' in said
    for person in (ana, bo):
        person.refresh_from_db()
        assert not person.erased and person.display_name
    assert _journaled(journal) == []
    assert [c["operation"] for c in api.pull_all()].count("tombstone") == 0


def test_select_all_asks_for_the_people_of_the_staff_users_sites_only(
    operator: Client, api: Api, other_api: Api
) -> None:
    """ "Select all" erased everyone on the first POST; now it lists them first."""
    mine = _enrol(api, "Cy Everyone", "B-ALL1")
    theirs = _enrol(other_api, "Di Everyone", "B-ALL2")
    form = {"action": "erase", "select_across": "1", "index": "0", "_selected_action": [mine.pk]}

    said = _text(operator.post(PEOPLE, form))

    assert "Cy Everyone" in said and "Di Everyone" in said
    assert api.site in said and other_api.site in said
    assert not Person.objects.filter(pk__in=[mine.pk, theirs.pk], erased_at__isnull=False)


def test_the_confirming_post_erases_and_journals(operator: Client, api: Api, journal: Path) -> None:
    ana = _enrol(api, "Ana Confirmed", "B-YES1")

    answer = _erase(operator, ana, confirmed=True)

    ana.refresh_from_db()
    assert ana.erased and ana.display_name == ""
    assert _journaled(journal) == [str(ana.uid)]
    assert "Erased 1 person; devices pull it next." in _text(answer)
    assert answer.redirect_chain == [] or answer.redirect_chain[-1][0].endswith(PEOPLE)


def test_cancel_goes_back_to_the_list_and_erases_no_one(
    operator: Client, api: Api, journal: Path
) -> None:
    ana = _enrol(api, "Ana Cancelled", "B-NO1")
    filtered = f"{PEOPLE}?q=Cancelled"
    form = {"action": "erase", "_selected_action": [ana.pk]}
    page = operator.post(filtered, form).content.decode()

    cancel = re.search(r'<a href="([^"]*)"[^>]*class="button cancel-link"', page)

    assert cancel, page
    assert html.unescape(cancel.group(1)) == filtered  # the list, as it was filtered
    back = operator.get(html.unescape(cancel.group(1)))
    assert back.status_code == 200 and "Ana Cancelled" in _text(back)
    ana.refresh_from_db()
    assert not ana.erased and _journaled(journal) == []


def test_erasing_again_counts_only_who_was_erased_and_names_the_others(
    operator: Client, api: Api, journal: Path
) -> None:
    before = _enrol(api, "Ed Before", "B-AGN1")
    now = _enrol(api, "Flo Now", "B-AGN2")
    _erase(operator, before, confirmed=True)
    before.refresh_from_db()
    reason = before.erasure_reason

    page = _text(_erase(operator, before, now, confirmed=False))
    said = _text(_erase(operator, before, now, confirmed=True))

    assert f"{before.uid}" in page and "already erased" in page.lower()
    assert "Erased 1 person;" in said and "Erased 2 people" not in said
    assert f"1 person already erased, left as they were: {before.uid} ({api.site})" in said
    assert _journaled(journal) == [str(before.uid), str(now.uid)]
    before.refresh_from_db()
    assert before.erasure_reason == reason

    nothing = _messages(_erase(operator, before, confirmed=True))
    assert nothing == [f"1 person already erased, left as they were: {before.uid} ({api.site})."]
    assert _journaled(journal) == [str(before.uid), str(now.uid)]


def test_the_confirming_post_needs_its_csrf_token(operator: Client, api: Api) -> None:
    ana = _enrol(api, "Ana Forged", "B-CSRF")
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(User.objects.get(username="operator"))

    answer = forged.post(PEOPLE, {"action": "erase", "_selected_action": [ana.pk], "post": "yes"})

    assert answer.status_code == 403
    ana.refresh_from_db()
    assert not ana.erased


def test_revoke_asks_first_then_revokes(operator: Client, api: Api) -> None:
    device = Device.objects.get(uid=api.device_id)
    form: dict[str, Any] = {"action": "revoke", "_selected_action": [device.pk]}

    page = _text(operator.post(DEVICES, form))

    assert "Revoke 1 device?" in page and device.name in page and api.site in page
    device.refresh_from_db()
    assert not device.revoked

    answer = operator.post(DEVICES, {**form, "post": "yes"}, follow=True)

    assert "Revoked 1 device." in _text(answer)
    assert api.get(api.site_path("changes")).json()["error"] == "device_revoked"


def test_a_confirmed_select_all_over_more_than_a_thousand_devices_is_done(
    operator: Client, api: Api
) -> None:
    """The page sent one field per record: past Django's 1,000 fields a request, the
    confirming POST answered 400 and revoked no one."""
    device = Device.objects.get(uid=api.device_id)
    Device.objects.bulk_create(Device(site=device.site, name=f"spare-{n}") for n in range(1_000))
    first = {"action": "revoke", "select_across": "1", "index": "0",
             "_selected_action": [device.pk]}  # fmt: skip
    page = operator.post(f"{DEVICES}?site__id__exact={device.site_id}", first)
    assert "Revoke 1001 devices?" in _text(page)
    form: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                                  page.content.decode()):  # fmt: skip
        form.setdefault(name, []).append(value)  # every field the page's form sends

    answer = operator.post(f"{DEVICES}?site__id__exact={device.site_id}", form, follow=True)

    assert answer.status_code == 200
    assert "Revoked 1001 devices." in _text(answer)
    assert Device.objects.filter(site=device.site, revoked_at__isnull=True).count() == 0
