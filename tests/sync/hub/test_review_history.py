"""The admin's history of a catch is where its answers are recorded (who confirmed which
species, or "not a fish"): it must stay readable once the catch has left the queue, which is
exactly when somebody asks who answered it. The queue's list and change page show queued
catches only; the history page looked the catch up the same way and, for an answered one,
sent the reviewer to the admin's front page with "doesn't exist"."""

from __future__ import annotations

import pytest

from sync.hub.models import FishObservation
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_review_queue_guards import _flagged, _page, _reviewer

QUEUE = "/admin/hub/fishreview/"
CORRECT = f"{QUEUE}correct/"

pytestmark = pytest.mark.usefixtures("species_packs_removed")


def test_an_answered_catchs_history_names_who_answered_it(api: Api) -> None:
    catch = _flagged(api)
    user, reviewer = _reviewer(api.site)
    reviewer.post(CORRECT, {"correction": f"{catch.pk}:Lutjanus synagris"})
    assert not FishObservation.objects.get(pk=catch.pk).needs_review
    _, auditor = _reviewer(api.site)
    history = auditor.get(f"{QUEUE}{catch.pk}/history/")
    assert history.status_code == 200, history.get("Location")
    page = _page(history)
    assert "Confirmed as Lutjanus synagris" in page
    assert user.username in page


def test_another_sites_answered_catch_history_stays_hidden(api: Api, other_api: Api) -> None:
    """Out of the queue is not out of the reviewer's scope: another site's catch is
    answered as a missing one, as its change page is."""
    catch = _flagged(api)
    _, reviewer = _reviewer(api.site)
    reviewer.post(CORRECT, {"correction": f"{catch.pk}:Lutjanus synagris"})
    _, stranger = _reviewer(other_api.site)
    history = stranger.get(f"{QUEUE}{catch.pk}/history/")
    assert history.status_code in (302, 404)
    assert "Lutjanus synagris" not in _page(history)
