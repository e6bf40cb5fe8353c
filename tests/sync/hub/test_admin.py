"""The operators' admin: device codes, erasure, and the one-click fish review correction."""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection
from django.test import Client

from sync.hub import auth, review
from sync.hub.admin.devices import DeviceAdmin, SiteAdmin
from sync.hub.models import (
    Change,
    Device,
    FishObservation,
    Person,
    Photo,
    Site,
    SiteMembership,
    SpeciesPack,
)
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api, one_shot_token

pytestmark = pytest.mark.usefixtures("species_packs_removed")

JPEG = b"\xff\xd8\xff\xe0" + bytes(200)


def _messages(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_adding_a_device_shows_a_code_that_registers_it(operator: Client, site_slug: str) -> None:
    site = Site.objects.create(slug=site_slug)
    url = "/admin/hub/device/add/"
    form = {"site": site.pk, "name": "kiosk-9", "_once": _once(operator.get(url))}
    response = operator.post(url, form, follow=True)
    code = re.search(r"One-time code for .*?: ([0-9A-Z-]{17})", _messages(response))
    assert code, _messages(response)
    registered = Client().post(
        "/api/v1/devices/register", {"code": code.group(1)}, content_type="application/json"
    )
    assert registered.status_code == 200
    assert registered.json()["site"] == site_slug


def _sessions_hold(code: str) -> bool:
    """Whether any django_session row holds ``code``, raw or decoded (messages live there)."""
    from django.contrib.sessions.models import Session

    return any(
        code in session.session_data or code in str(session.get_decoded())
        for session in Session.objects.all()
    )


@pytest.mark.parametrize("how", ["add", "issue_code"])
def test_a_code_is_shown_once_in_the_answer_and_never_kept_in_the_session(
    operator: Client, site_slug: str, how: str
) -> None:
    """It sat in django_session (the admin's messages) until the next page showed it: in
    the database, and in its backups, for as long as the operator did not look."""
    site = Site.objects.create(slug=site_slug)
    if how == "add":
        url = "/admin/hub/device/add/"
        form = {"site": site.pk, "name": "kiosk-1", "_once": _once(operator.get(url))}
    else:
        device = Device.objects.create(site=site, name="kiosk-1")
        url = "/admin/hub/device/"
        form = {"action": "issue_code", "post": "yes", "_once": _once(operator.get(url)),
                "_selected_action": [device.pk]}  # fmt: skip
    answer = operator.post(url, form)
    assert answer.status_code == 200  # the page itself, not a redirect to where it waits
    assert "no-store" in answer["Cache-Control"]
    code = re.search(r"One-time code for .*?: ([0-9A-Z-]{17})", _messages(answer))
    assert code, _messages(answer)
    assert not _sessions_hold(code.group(1))
    assert code.group(1) not in _messages(operator.get("/admin/hub/device/"))  # shown once
    assert auth.register(code.group(1))[0].site_id == site.pk


def _once(page: Any) -> str:
    """The one-shot token of the form on ``page``."""
    return one_shot_token(page.content.decode())


@pytest.mark.parametrize("how", ["add", "issue_code"])
def test_a_reload_of_the_code_page_does_nothing_again(
    operator: Client, site_slug: str, how: str
) -> None:
    """A reload of the page that shows the code sent its form again: a second device, or a
    new code voiding the one just shown (and maybe already typed on the device)."""
    site = Site.objects.create(slug=site_slug)
    if how == "add":
        url = "/admin/hub/device/add/"
        form = {"site": site.pk, "name": "kiosk-1", "_once": _once(operator.get(url))}
    else:
        Device.objects.create(site=site, name="kiosk-1")
        url = "/admin/hub/device/"
        form = {"action": "issue_code", "post": "yes", "_once": _once(operator.get(url)),
                "_selected_action": [site.devices.get().pk]}  # fmt: skip
    first = operator.post(url, form)
    code = re.search(r"One-time code for .*?: ([0-9A-Z-]{17})", _messages(first))
    assert code, _messages(first)
    again = operator.post(url, form, follow=True)  # the browser's reload of that answer
    assert "One-time code for" not in _messages(again)
    assert "already sent" in _messages(again)
    assert site.devices.count() == 1
    assert auth.register(code.group(1))[0].site_id == site.pk  # the code shown still works
    assert not _sessions_hold(code.group(1))


@pytest.mark.parametrize("how", ["add", "issue_code"])
def test_a_double_click_does_the_work_once(operator: Client, site_slug: str, how: str) -> None:
    """Two POSTs of one form at once (a double-click) both read the session before either
    saved the spent token: two devices, or two codes of which the first shown was void."""
    site = Site.objects.create(slug=site_slug)
    if how == "add":
        url = "/admin/hub/device/add/"
        form = {"site": site.pk, "name": "kiosk-1", "_once": _once(operator.get(url))}
    else:
        Device.objects.create(site=site, name="kiosk-1")
        url = "/admin/hub/device/"
        form = {"action": "issue_code", "post": "yes", "_once": _once(operator.get(url)),
                "_selected_action": [site.devices.get().pk]}  # fmt: skip
    clients = [Client(), Client()]
    for client in clients:
        client.cookies = operator.cookies  # one browser: one session
    start = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def click(i: int) -> None:
        start.wait()
        answers[i] = clients[i].post(url, form, follow=True)
        connection.close()  # this thread's own

    threads = [threading.Thread(target=click, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = [re.findall(r"One-time code for .*?: ([0-9A-Z-]{17})", _messages(a)) for a in answers]
    assert sorted(len(shown) for shown in codes) == [0, 1], codes
    assert any("already sent" in _messages(answer) for answer in answers)
    assert site.devices.count() == 1
    code = next(shown[0] for shown in codes if shown)
    assert auth.register(code)[0].site_id == site.pk  # the one code shown works


def _device_form(site: Site, how: str) -> tuple[str, dict[str, Any]]:
    """The URL and the fields (no token) of a form that issues a code for ``site``'s
    "kiosk-1": the add form, or the list's action (adding the device first)."""
    if how == "add":
        return "/admin/hub/device/add/", {"site": site.pk, "name": "kiosk-1"}
    device = Device.objects.create(site=site, name="kiosk-1")
    return "/admin/hub/device/", {
        "action": "issue_code", "post": "yes", "_selected_action": [device.pk]
    }  # fmt: skip


@pytest.mark.parametrize("how", ["add", "issue_code"])
def test_a_post_without_a_token_does_nothing_and_shows_the_form_again(
    operator: Client, site_slug: str, how: str
) -> None:
    """A POST without a token (a script, or a form page rendered before the upgrade) was
    not checked: it did the work, and a second send of it did it again."""
    site = Site.objects.create(slug=site_slug)
    url, form = _device_form(site, how)
    before = list(site.devices.values_list("uid", "token_hash"))
    refused = operator.post(url, form, follow=True)
    assert "One-time code for" not in _messages(refused)
    assert "carried no one-shot token" in _messages(refused)
    assert list(site.devices.values_list("uid", "token_hash")) == before
    done = operator.post(url, {**form, "_once": _once(refused)})  # the form shown again
    assert re.search(r"One-time code for kiosk-1 .*?: [0-9A-Z-]{17}", _messages(done))


@pytest.mark.parametrize(
    ("how", "did"),
    [("add", "added the device kiosk-1"), ("issue_code", "issued a new one-time code for kiosk-1")],
)
def test_a_form_sent_again_says_what_it_did_and_offers_a_fresh_one(
    operator: Client, site_slug: str, how: str, did: str
) -> None:
    """After the back button, the browser may show the form page it kept, with its spent
    token: the next add (another name), or a code for another device, was refused as
    "already sent", without saying what was sent, nor offering a form to do it on purpose."""
    site = Site.objects.create(slug=site_slug)
    url, first = _device_form(site, how)
    token = _once(operator.get(url))
    if how == "add":
        second = {**first, "name": "kiosk-2"}
    else:
        second = {
            **first,
            "_selected_action": [Device.objects.create(site=site, name="kiosk-2").pk],
        }
    shown = operator.post(url, {**first, "_once": token})
    code = re.search(r"One-time code for kiosk-1 .*?: ([0-9A-Z-]{17})", _messages(shown))
    assert code, _messages(shown)
    refused = operator.post(url, {**second, "_once": token}, follow=True)  # the restored page
    text = _messages(refused)
    assert "already sent" in text and did in text, text
    assert code.group(1) not in text and "One-time code for" not in text
    fresh = _once(refused)
    assert fresh != token
    again = operator.post(url, {**second, "_once": fresh})  # sent on purpose
    assert re.search(r"One-time code for kiosk-2 .*?: [0-9A-Z-]{17}", _messages(again))
    assert auth.register(code.group(1))[0].name == "kiosk-1"  # the first code still works


def test_issuing_a_code_asks_first_and_issues_nothing_until_confirmed(
    operator: Client, site_slug: str
) -> None:
    """One click on the list voided a working device's token: it stopped syncing until a
    new code was typed on it. The first POST now answers with a page naming the devices."""
    site = Site.objects.create(slug=site_slug)
    device, _ = auth.register(
        auth.issue_code(Device.objects.create(site=site, name="kiosk-1")).code
    )
    working = Device.objects.get(pk=device.pk).token_hash  # a registered device, syncing
    url = "/admin/hub/device/"
    asked = operator.post(url, {"action": "issue_code", "_once": _once(operator.get(url)),
                                "_selected_action": [device.pk]})  # fmt: skip
    page = asked.content.decode()
    assert asked.status_code == 200 and "Issue a new one-time code for 1 device?" in page
    assert "kiosk-1" in page and "One-time code for" not in page
    assert Device.objects.get(pk=device.pk).token_hash == working  # nothing issued yet
    confirmed = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    assert confirmed["post"] == "yes" and confirmed["action"] == "issue_code"
    done = operator.post(url, confirmed)
    assert re.search(r"One-time code for kiosk-1 .*?: [0-9A-Z-]{17}", _messages(done))
    assert Device.objects.get(pk=device.pk).token_hash is None  # as the page said


@pytest.mark.parametrize("url", ["/admin/hub/device/add/", "/admin/hub/device/"])
def test_the_one_shot_forms_are_never_kept_by_the_browser(operator: Client, url: str) -> None:
    """A form page the browser kept comes back with the back button, its token spent:
    ``no-store`` has it asked for again, with a fresh token."""
    page = operator.get(url)
    assert "no-store" in page["Cache-Control"]
    assert _once(page) != _once(operator.get(url))


def test_erase_action_tombstones_and_tells_the_site(operator: Client, api: Api) -> None:
    person = e.person(api.site, name="Ana Erase")
    api.push(e.entry("person", "upsert", person))
    pk = Person.objects.get(uid=person["person_uid"]).pk
    operator.post(
        "/admin/hub/person/", {"action": "erase", "_selected_action": [pk], "post": "yes"}
    )
    erased = Person.objects.get(pk=pk)
    assert erased.erased and erased.display_name == ""
    last = api.pull_all()[-1]
    assert (last["operation"], last["entity_uid"]) == ("tombstone", person["person_uid"])


def test_a_persons_admin_page_is_view_only(operator: Client, api: Api) -> None:
    """Every field is read-only: a Save would change nothing, but it wrote the person's name
    into the admin's history (LogEntry), where their erasure did not reach."""
    person = e.person(api.site, name="Vera Viewonly")
    api.push(e.entry("person", "upsert", person))
    pk = Person.objects.get(uid=person["person_uid"]).pk
    page = operator.get(f"/admin/hub/person/{pk}/change/")
    assert page.status_code == 200 and b"Vera Viewonly" in page.content
    assert b'name="_save"' not in page.content
    assert operator.post(f"/admin/hub/person/{pk}/change/", {}).status_code == 403
    assert not LogEntry.objects.filter(object_repr__contains="Vera Viewonly").exists()


def test_erasing_a_person_takes_its_own_permission(api: Api) -> None:
    """A staff user who may view people was offered the erase action, and it erased."""
    person = e.person(api.site, name="Petra Permission")
    api.push(e.entry("person", "upsert", person))
    pk = Person.objects.get(uid=person["person_uid"]).pk
    erase = {"action": "erase", "_selected_action": [pk], "post": "yes"}  # confirmed
    roles = (("viewer", ["view_person"]), ("eraser", ["view_person", "erase_person"]))
    for name, codenames in roles:
        user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": True})
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        SiteMembership.objects.get_or_create(user=user, site=Site.objects.get(slug=api.site))
        client = Client()
        client.force_login(user)
        offered = 'value="erase"' in client.get("/admin/hub/person/").content.decode()
        client.post("/admin/hub/person/", erase)
        erased = Person.objects.get(pk=pk).erased
        assert (offered, erased) == ("erase_person" in codenames,) * 2, name


def test_an_erasure_leaves_the_persons_name_in_no_admin_history(operator: Client, api: Api) -> None:
    """History written before the page was view-only (a Save), or by an admin page that
    names them in a change message, must not outlive the erasure in "Recent actions"."""
    person = e.person(api.site, name="Lena Logentry", badge="B-LOG")
    api.push(e.entry("person", "upsert", person))
    stored = Person.objects.get(uid=person["person_uid"])
    user_id = User.objects.get(username="operator").pk
    LogEntry.objects.create(
        user_id=user_id,
        content_type=ContentType.objects.get_for_model(Person),
        object_id=str(stored.pk),
        object_repr=str(stored),
        action_flag=CHANGE,
        change_message="[]",
    )
    site = Site.objects.get(slug=api.site)
    LogEntry.objects.create(
        user_id=user_id,
        content_type=ContentType.objects.get_for_model(Site),
        object_id=str(site.pk),
        object_repr=str(site),
        action_flag=CHANGE,
        change_message="Lena Logentry moved to another site",
    )
    assert b"Lena Logentry" in operator.get("/admin/").content  # "Recent actions"
    erase = {"action": "erase", "_selected_action": [stored.pk], "post": "yes"}
    operator.post("/admin/hub/person/", erase)
    assert not LogEntry.objects.filter(object_repr__contains="Lena Logentry").exists()
    assert not LogEntry.objects.filter(change_message__contains="Lena Logentry").exists()
    (kept,) = LogEntry.objects.filter(object_id=str(stored.pk), content_type__model="person")
    assert kept.object_repr == f"(erased {person['person_uid']})"
    assert LogEntry.objects.filter(object_id=str(site.pk), content_type__model="site").exists()
    assert b"Lena Logentry" not in operator.get("/admin/").content


def test_review_queue_shows_photo_and_top_k_and_corrects_in_one_click(
    operator: Client, api: Api
) -> None:
    photo = e.photo(JPEG)
    flagged = e.observation(photo_uid=photo["photo_uid"], pack_version="f4k-<b>2026.03</b>")
    api.push(e.entry("photo", "upsert", photo), e.entry("fish_observation", "upsert", flagged))
    Photo.objects.filter(uid=photo["photo_uid"]).update(data=JPEG)
    queue = operator.get("/admin/hub/fishreview/")
    page = queue.content.decode()
    assert "Lutjanus synagris (0.30)" in page
    assert "<b>2026.03</b>" not in page  # the device's text, escaped
    assert "f4k-&lt;b&gt;2026.03&lt;/b&gt;" in page  # the species pack behind the top-k
    by_pack = operator.get("/admin/hub/fishreview/", {"pack_version": "f4k-<b>2026.03</b>"})
    assert photo["photo_uid"] in by_pack.content.decode()  # reviewers filter by pack
    other_pack = operator.get("/admin/hub/fishreview/", {"pack_version": "f4k-2026.04"})
    assert photo["photo_uid"] not in other_pack.content.decode()
    assert f"/admin/hub/fishreview/photo/{photo['photo_uid']}/" in page
    image = operator.get(f"/admin/hub/fishreview/photo/{photo['photo_uid']}/")
    assert image["Content-Type"] == "image/jpeg"
    assert hashlib.sha256(image.content).hexdigest() == photo["sha256"]
    pk = FishObservation.objects.get(uid=flagged["observation_uid"]).pk
    operator.post("/admin/hub/fishreview/correct/", {"correction": f"{pk}:Lutjanus synagris"})
    corrected = FishObservation.objects.get(pk=pk)
    assert (corrected.confirmed_species, corrected.needs_review) == ("Lutjanus synagris", False)
    assert corrected.reviewed_by == "operator"
    assert photo["photo_uid"] not in operator.get("/admin/hub/fishreview/").content.decode()
    assert api.pull_all()[-1]["payload"]["confirmed_species"] == "Lutjanus synagris"


def test_revoke_action(operator: Client, api: Api) -> None:
    pk = Device.objects.get(uid=api.device_id).pk
    answer = operator.post(
        "/admin/hub/device/",
        {"action": "revoke", "_selected_action": [pk], "post": "yes"},
        follow=True,
    )
    assert api.get(api.site_path("changes")).json()["error"] == "device_revoked"
    assert "Revoked 1 device." in answer.content.decode()  # not "1 device(s)"


def test_issuing_codes_for_several_devices_is_all_or_nothing(
    operator: Client, site_slug: str
) -> None:
    """A failure midway (the database refusing one device's update) voided the tokens of
    the devices before it, committed, while the page that would show their codes became a
    500: those devices were locked out with no code to register again."""
    first, broken = Api.register_new(site_slug, "a-first"), Api.register_new(site_slug, "b-broken")
    devices = Device.objects.filter(uid__in=[first.device_id, broken.device_id])
    before = dict(devices.values_list("uid", "token_hash"))
    table, pk = Device._meta.db_table, Device.objects.get(uid=broken.device_id).pk
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION jaga_test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER jaga_test_refuse BEFORE UPDATE ON {table} FOR EACH ROW"
            f" WHEN (OLD.id = {int(pk)}) EXECUTE FUNCTION jaga_test_refuse()"
        )
    try:
        selected = list(devices.values_list("pk", flat=True))
        once = _once(operator.get("/admin/hub/device/"))
        form = {"action": "issue_code", "post": "yes", "_once": once,
                "_selected_action": selected}  # fmt: skip
        with pytest.raises(DatabaseError, match="refused for the test"):
            operator.post("/admin/hub/device/", form)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER jaga_test_refuse ON {table}")
            cursor.execute("DROP FUNCTION jaga_test_refuse()")
    assert dict(devices.values_list("uid", "token_hash")) == before
    first.pull_all()  # still registered: its token is taken


def test_species_pack_is_announced_to_sites_and_downloadable(api: Api) -> None:
    version = f"v-{api.site}"
    pack = review.publish_species_pack(version, b"species head bytes", "April retrain")
    latest = api.get("/api/v1/species-packs/latest").json()
    assert (latest["version"], latest["sha256"]) == (version, pack.sha256)
    download = api.get(f"/api/v1/species-packs/{version}/file")
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == pack.sha256
    announced = api.pull_all()[-1]
    assert (announced["entity"], announced["operation"]) == ("species_pack", "publish")
    assert announced["payload"]["sha256"] == pack.sha256
    assert api.get("/api/v1/species-packs/nope/file").status_code == 404


def test_admin_pages_and_their_styles_are_served(operator: Client) -> None:
    assert operator.get("/admin/hub/fishreview/").status_code == 200
    assert operator.get("/admin/hub/person/").status_code == 200
    assert operator.get("/admin/hub/device/add/").status_code == 200
    assert Client().get("/static/admin/css/base.css").status_code == 200


def test_the_review_photo_url_serves_catches_only_to_reviewers(operator: Client, api: Api) -> None:
    """Any staff login reaches the admin's URLs: the photo view checks the review queue's
    own permission, and never serves a person's photo, whatever uid is asked for (a catch
    naming it too: the portrait was no one's when the catch named it)."""
    from django.contrib.auth.models import User

    person = e.person(api.site, name="Ana Photo")
    catch, portrait = e.photo(JPEG), e.photo(JPEG + b"\x01")
    api.push(e.entry("person", "upsert", person), e.entry("photo", "upsert", catch),
             e.entry("photo", "upsert", portrait))  # fmt: skip
    for named in (catch, portrait):
        observation = e.observation(photo_uid=named["photo_uid"])
        api.push(e.entry("fish_observation", "upsert", observation))
    Photo.objects.filter(uid=catch["photo_uid"]).update(data=JPEG)
    Photo.objects.filter(uid=portrait["photo_uid"]).update(
        data=JPEG + b"\x01", person=Person.objects.get(uid=person["person_uid"])
    )
    url = "/admin/hub/fishreview/photo/{}/"
    assert operator.get(url.format(catch["photo_uid"])).status_code == 200
    assert operator.get(url.format(portrait["photo_uid"])).status_code == 404
    clerk = Client()
    clerk.force_login(User.objects.create_user("clerk", password="x", is_staff=True))
    assert clerk.get(url.format(catch["photo_uid"])).status_code == 403


def test_saving_a_site_never_writes_back_a_change_cursor_a_push_moved_meanwhile(
    operator: Client, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form's object is read, a device's push commits, then the form saves: writing the
    whole row back would roll the site's cursor behind its change log, and every later push
    of the site would clash with it for good."""
    site = Site.objects.get(slug=api.site)
    monkeypatch.setattr(SiteAdmin, "get_object", _then(lambda: api.push(_catch())))
    answer = operator.post(f"/admin/hub/site/{site.pk}/change/", {"slug": "moved", "name": "N"})
    assert answer.status_code == 302, _messages(answer)
    site.refresh_from_db()
    assert site.last_cursor == Change.objects.filter(site=site).order_by("-cursor")[0].cursor
    assert (site.slug, site.name) == (api.site, "N")  # a slug names the site to its devices
    assert api.push(_catch())["rejected"] == []


def test_saving_a_device_never_undoes_a_revocation_or_moves_it_to_another_site(
    operator: Client, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = Device.objects.get(uid=api.device_id)
    other = Site.objects.create(slug=f"other-{api.site}")

    def revoke_meanwhile() -> None:
        auth.revoke(Device.objects.get(pk=device.pk), "stolen")

    monkeypatch.setattr(DeviceAdmin, "get_object", _then(revoke_meanwhile))
    form = {"name": "renamed", "site": other.pk, "may_search_all_sites": ""}
    answer = operator.post(f"/admin/hub/device/{device.pk}/change/", form)
    assert answer.status_code == 302, _messages(answer)
    device.refresh_from_db()
    assert device.name == "renamed" and device.revoked_at is not None
    assert device.site.slug == api.site  # its records and token belong to its site
    assert api.get(api.site_path("changes")).json()["error"] == "device_revoked"


def test_a_published_pack_cannot_be_deleted(operator: Client, api: Api) -> None:
    """Devices were told of it and fetch it by version: deleted, every try would 404."""
    pack = review.publish_species_pack(f"keep-{api.site}", b"pack bytes")
    answer = operator.post(f"/admin/hub/speciespack/{pack.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 403
    assert SpeciesPack.objects.filter(pk=pack.pk).exists()


def _catch() -> Any:
    return e.entry("fish_observation", "upsert", e.observation())


def _then(meanwhile: Any) -> Any:
    """A ``get_object`` that runs ``meanwhile`` after reading the row, as a concurrent
    request would commit between the admin's read and its save."""
    original = admin.ModelAdmin.get_object

    def get_object(self: Any, request: Any, object_id: str, from_field: Any = None) -> Any:
        found = original(self, request, object_id, from_field)
        meanwhile()
        return found

    return get_object


def test_a_large_body_outside_the_api_is_refused_before_it_is_read(
    operator: Client, api: Api
) -> None:
    """Django spools a multipart upload to disk while it parses the form, before the CSRF
    check or the login can refuse it."""
    anyone = Client()
    anyone.get("/admin/login/")  # a CSRF cookie is all an outsider needs
    big = {"file": ("face.jpg", b"x" * (2 * 1024 * 1024)), "username": "x", "password": "y"}
    refused = anyone.post("/admin/login/", big)
    assert refused.status_code == 413
    pack = review.publish_species_pack(f"small-{api.site}", b"pack bytes")  # admin still works
    assert operator.get(f"/admin/hub/speciespack/{pack.pk}/change/").status_code == 200


def test_a_content_length_of_other_digits_outside_the_api_is_413_not_a_500() -> None:
    """``"²".isdigit()`` is true, ``int("²")`` fails: the admin's body guard raised on a
    Content-Length of it (Latin-1 0xB2, which Django's own server passes on), a 500."""
    anyone = Client()
    refused = anyone.post("/admin/login/", {"username": "x"}, CONTENT_LENGTH="\xb2")
    assert refused.status_code == 413
