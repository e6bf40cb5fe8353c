"""Actions that cannot be undone ask first, as Django's own "Delete selected" does.

The first POST of such an action (from the list) answers with a page naming what it would
act on, site by site, and those it would leave as they are; that page's form posts the same
action again with the same records (their ids, so a record added to the list meanwhile is
not swept in, even after "select all") and ``post=yes``, and only that POST does the work.
Its Cancel goes back to the list as it was filtered; nothing is done. The ids travel in one
field (``SELECTED``), put back as the list's checkboxes before Django reads the POST
(``unpack_selected``): one field per record met Django's limit of 1,000 fields a request
(``DATA_UPLOAD_MAX_NUMBER_FIELDS``), and a confirmed "select all" over more people or
devices than that answered 400, doing nothing. The confirming POST is
an ordinary admin action POST: the CSRF check and the action's permission apply to it as to
the first (``ModelAdmin.response_action``), and the list's queryset (the sites the staff
user works for) bounds it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Model
from django.http import HttpRequest
from django.template.response import TemplateResponse

TEMPLATE = "admin/hub/action_confirmation.html"
CONFIRMED = "post"  # the field Django's delete confirmation posts, and its value
YES = "yes"
SELECTED = "_selected_ids"  # the records acted on, their ids comma-separated


def confirmed(request: HttpRequest) -> bool:
    """Whether ``request`` is the POST of the confirmation page (not the list's first one)."""
    return bool(request.POST.get(CONFIRMED) == YES)


@dataclass(frozen=True)
class Question:
    """What the page asks and says; ``name`` names a record acted on for the page,
    ``name_left`` one of ``left``, those selected that would be left as they are."""

    action: str
    title: str
    question: str
    consequences: str
    button: str
    name: Callable[[Any], str]
    left_heading: str = ""
    left: list[Any] = field(default_factory=list)
    name_left: Callable[[Any], str] = str


def unpack_selected(request: HttpRequest) -> None:
    """Put the confirmation page's ``SELECTED`` ids back as the checkboxes Django's
    changelist reads (``helpers.ACTION_CHECKBOX_NAME``); nothing for any other POST."""
    packed = request.POST.get(SELECTED) if request.method == "POST" else None
    if packed is None:
        return
    post = request.POST.copy()
    post.setlist(helpers.ACTION_CHECKBOX_NAME, [pk for pk in packed.split(",") if pk])
    del post[SELECTED]
    request.POST = post  # Django's own is immutable: a copy takes its place


def by_site(records: Iterable[Any], name: Callable[[Any], str]) -> list[tuple[str, list[str]]]:
    """``records``' names under their sites' slugs, the sites in order."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for record in records:
        grouped[str(record.site)].append(name(record))
    return sorted(grouped.items())


def page(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    acted_on: list[Any],
    ask: Question,
    hidden: dict[str, str] | None = None,
) -> TemplateResponse:
    """The confirmation page for ``ask.action`` on ``acted_on`` (and ``ask.left``); its form
    carries ``hidden``'s fields too (a one-shot token: ``once``)."""
    selected: list[Model] = [*acted_on, *ask.left]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": ask.title,
        "ask": ask,
        "acted_on": by_site(acted_on, ask.name),
        "left": by_site(ask.left, ask.name_left),
        "selected": ",".join(str(record.pk) for record in selected),
        "selected_field": SELECTED,
        "confirmed_field": CONFIRMED,
        "yes": YES,
        "back": request.get_full_path(),  # the list, as it was filtered
        "hidden": sorted((hidden or {}).items()),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)
