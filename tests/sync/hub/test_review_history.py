"""The admin's history of a catch is where its answers are recorded (who confirmed which
species, or "not a fish"): it must stay readable once the catch has left the queue, which is
exactly when somebody asks who answered it. The queue's list and change page show queued
catches only; the history page looked the catch up the same way and, for an answered one,
sent the reviewer to the admin's front page with "doesn't exist"."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from sync.hub.models import FishObservation, Site, SiteMembership
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

QUEUE = "/admin/hub/fishreview/"
CORRECT = f"{QUEUE}correct/"
REVIEWER = ["view_fishreview", "change_fishreview"]

pytestmark = pytest.mark.usefixtures("species_packs_removed")


def _reviewer(*sites: str) -> tuple[User, Client]:
    user = User.objects.create_user(f"reviewer-{uuid.uuid4().hex[:8]}", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=REVIEWER))
    for slug in sites:
        SiteMembership.objects.create(user=user, site=Site.objects.get(slug=slug))
    client = Client()
    client.force_login(user)
    return user, client


def _flagged(api: Api) -> FishObservation:
    payload = e.observation()
    assert api.push(e.entry("fish_observation", "upsert", payload))["rejected"] == []
    stored: FishObservation = FishObservation.objects.get(uid=payload["observation_uid"])
    return stored


def _page(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


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
