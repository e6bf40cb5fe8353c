"""Opening a catch another reviewer answered meanwhile: a reviewer working from a stale
queue clicks a catch that already left it. Django's answer ("…doesn't exist. Perhaps it
was deleted?") sent them to the admin's index and looked like data loss; the queue (with
its filters) and whose answer stands is what they need. Another site's catch, or no catch,
is answered as before: the page tells nothing of a catch the reviewer may not see."""

from __future__ import annotations

from sync.hub.models import Site
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_review_queue_guards import CORRECT, QUEUE, _flagged, _page, _reviewer

MISSING = "Perhaps it was deleted?"  # Django's answer for a record it cannot find


def test_opening_a_catch_answered_meanwhile_returns_to_the_queue_naming_the_answer(
    api: Api,
) -> None:
    catch = _flagged(api)
    first_user, first = _reviewer(api.site)
    _, second = _reviewer(api.site)
    first.post(CORRECT, {"correction": f"{catch.pk}:Lutjanus synagris"})
    site = Site.objects.get(slug=api.site).pk
    kept = f"_changelist_filters=site__id__exact%3D{site}"
    answer = second.get(f"{QUEUE}{catch.pk}/change/?{kept}")
    assert answer.status_code == 302
    assert answer["Location"] == f"{QUEUE}?site__id__exact={site}"
    page = _page(second.get(answer["Location"]))
    assert f"already reviewed: Lutjanus synagris by {first_user.username}" in page
    assert MISSING not in page


def test_another_sites_answered_catch_is_answered_as_a_missing_one(
    api: Api, other_api: Api
) -> None:
    catch = _flagged(api)
    _, of_a = _reviewer(api.site)
    _, of_b = _reviewer(other_api.site)
    of_a.post(CORRECT, {"correction": f"{catch.pk}:Lutjanus synagris"})
    answered = of_b.get(f"{QUEUE}{catch.pk}/change/", follow=True)
    missing = of_b.get(f"{QUEUE}{catch.pk + 10**6}/change/", follow=True)
    past_any_id = of_a.get(f"{QUEUE}{'9' * 30}/change/", follow=True)  # no server error
    assert answered.redirect_chain == [("/admin/", 302)] == missing.redirect_chain
    assert past_any_id.redirect_chain == [("/admin/", 302)]
    assert MISSING in _page(answered) and "already reviewed" not in _page(answered)
