"""A consent, once the hub records it, is the person's for good: no push changes it.

Nothing renews a consent (README): someone who consents again is enrolled again, as a new
person. A push of a stored person that carries another consent (another kiosk of the site,
a buggy or hostile one) is refused for good, so it cannot bring back someone past retention.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from sync.hub.models import Person
from sync.hub.search import nearest_templates
from sync.protocol import format_timestamp
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

VECTOR = [float(i % 7) for i in range(128)]


def _expired_person(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """A person enrolled a month ago whose retention ended yesterday, with a template."""
    now = timezone.now()
    person = e.person(api.site, name="Ana Ruiz")
    person["consent"]["given_at"] = format_timestamp(now - timedelta(days=30))
    person["consent"]["retain_until"] = format_timestamp(now - timedelta(days=1))
    template = e.template(person["person_uid"], VECTOR)
    then = now - timedelta(days=30)
    result = api.push(
        e.entry("person", "upsert", person, when=then),
        e.entry("face_template", "upsert", template, when=then),
    )
    assert result["rejected"] == []
    return person, template


def test_another_device_cannot_extend_an_expired_persons_consent(api: Api, site_slug: str) -> None:
    person, template = _expired_person(api)
    stored = Person.objects.get(uid=person["person_uid"]).consent
    other = Api.register_new(site_slug, "kiosk-2")
    ends = format_timestamp(timezone.now() + timedelta(days=7300))
    extended = {**person, "consent": {**person["consent"], "retain_until": ends}}

    pushed = e.entry("person", "upsert", extended, when=timezone.now())
    result = other.push(pushed)

    assert result["acknowledged"] == [], "a push changed the consent the hub recorded"
    (rejection,) = result["rejected"]
    assert "consent" in rejection["reason"] and rejection["retryable"] is False
    assert Person.objects.get(uid=person["person_uid"]).consent == stored
    # the search is hub-wide, and other tests' people share this database: look for this one
    found = nearest_templates(VECTOR, template["model_id"], template["model_version"])
    assert [m for m in found if str(m.person_uid) == person["person_uid"]] == []
    pulled = [c for c in api.pull_all() if c["entity_uid"] == person["person_uid"]]
    assert [c for c in pulled if c["payload"].get("consent") != stored] == []


def test_a_push_of_the_same_consent_still_applies_other_fields(api: Api) -> None:
    """A device sends a stored person again (a re-registration's resend) with the consent
    the hub holds: that is no change of consent, and a rename in it applies as ever."""
    person = e.person(api.site)
    api.push(e.entry("person", "upsert", person))
    renamed = {**person, "display_name": "Ana Again"}

    result = api.push(e.entry("person", "upsert", renamed, when=e.at(1)))

    assert result["rejected"] == []
    assert Person.objects.get(uid=person["person_uid"]).display_name == "Ana Again"


def test_a_shorter_or_reworded_consent_is_refused_too(api: Api) -> None:
    """Not only an extension: the consent recorded (which text, when, before whom) is the
    record of what the person agreed to, and a push rewrites none of it."""
    person = e.person(api.site)
    api.push(e.entry("person", "upsert", person))
    stored = Person.objects.get(uid=person["person_uid"]).consent
    edits = [
        {"retain_until": format_timestamp(timezone.now() + timedelta(days=1))},
        {"text_version": "kiosk-consent-v4"},
        {"operator": "officer-8"},
    ]
    for n, edit in enumerate(edits, start=1):
        changed = {**person, "consent": {**person["consent"], **edit}}
        result = api.push(e.entry("person", "upsert", changed, when=e.at(n)))
        assert len(result["rejected"]) == 1, edit
    assert Person.objects.get(uid=person["person_uid"]).consent == stored
