"""The fish review queue: flagged observations with photo, top-k (and the species pack that
made it), the pack's verdict (an ``unknown`` or ``no_fish`` names no species: its top-k are
candidates only), the fish's box when the photo holds several, and one-click correction.

Each top-k species is a button in the list; pressing it posts to ``correct/``, which
confirms that species through ``sync.hub.review`` (LWW stamp "hub", a change for the site's
devices) and returns to the queue. Any other species can be typed on the change page, by
its name or folder id: it is stored by the current species pack's display name, as a
device stores it, and one the pack does not list is refused (``sync.hub.species_names``),
a typo never becoming a species, unless the reviewer ticks "New species": then it is taken
as typed, as a device takes one, to teach the next pack.

The top-k are named by the pack that classified the catch, which may since have been
replaced by one that names a species otherwise or lists it no more (published with
``--allow-species-change``). So a button is offered only for a display name the current pack
lists (never matched with a folder id), labelled and posted as that pack names it; another is
shown, without a button, as
not in the current pack (the reviewer types it, ticking "New species" if it is meant), and
``correct/`` puts whatever is posted through the same check as a typed species.

A photo with no fish in it (a face, the deck) is answered "Not a fish": the list's action
or the change page's box. It leaves the queue with no species, is never exported for
training, and reaches the devices as a review with no species (``review.answer_not_a_fish``);
the admin's history records it as it records a confirmation.

A reviewer sees, corrects and opens the photos of the catches of their own sites only
(``sync.hub.admin.staff``): another site's catch is refused (403), its photo not found (404).
The list shows each catch's thumbnail, its page the photo itself
(``sync.hub.admin.review_photos``, which serves them as a catch's, by the catch's site).

A catch of the reviewer's sites opened after it left the queue (a stale list: another
reviewer answered it meanwhile) sends the reviewer back to the queue, its filters kept,
saying whose answer stands; another site's catch is answered as a missing one.

Every answer is given to a catch still in the queue (``review``'s ``queued_only``): one
from a page loaded before another reviewer, or a device, answered is refused with the
answer that stands, never written over it. Each answer applied is in the admin's history
(the species named); one refused is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html_join

from sync import plural
from sync.hub import review, species_names
from sync.hub.admin.review_photos import ReviewPhotos
from sync.hub.admin.staff import SiteScopedAdmin, scoped
from sync.hub.models import FishObservation, FishReview

NOT_A_FISH_MESSAGE = "Answered: not a fish (no species; never used for training)."
# Set on a request for a catch's history, which an answered catch keeps (see ``history_view``).
_HISTORY = "_jaga_review_history"
# Set on a request whose answer ``save_model`` refused (``review.AlreadyReviewedError``, a
# device's later verdict): the change page then neither logs it nor says it was saved.
_NOT_APPLIED = "_jaga_review_not_applied"


class CorrectionForm(forms.ModelForm):
    """A species, named by the current species pack (``sync.hub.species_names``), or the
    answer that the photo shows no fish: one of the two."""

    confirmed_species = forms.CharField(
        max_length=200,
        required=False,
        label="Confirm as species",
        help_text="a species of the current species pack, by its name or folder id",
    )
    new_species = forms.BooleanField(
        required=False,
        label="New species",
        help_text="the species is not one of the current species pack's: keep it as typed,"
        " to teach the next pack",
    )
    not_a_fish = forms.BooleanField(
        required=False,
        label="Not a fish",
        help_text="the photo shows no fish: it leaves the queue with no species and is never"
        " used for training",
    )

    class Meta:
        model = FishReview
        fields = ("confirmed_species",)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        typed = (cleaned.get("confirmed_species") or "").strip()
        if cleaned.get("not_a_fish"):
            if typed:
                raise forms.ValidationError("Name a species or tick 'Not a fish', not both.")
            return cleaned
        if not typed:
            raise forms.ValidationError("Name a species, or tick 'Not a fish'.")
        if problem := species_names.hidden_characters_problem(typed):
            self.add_error("confirmed_species", problem)  # new or not: no list may be known
            return cleaned
        try:
            cleaned["confirmed_species"] = species_names.species_name(typed)
        except species_names.UnknownSpeciesError as unknown:
            if cleaned.get("new_species"):
                cleaned["confirmed_species"] = " ".join(typed.split())
            else:
                self.add_error(
                    "confirmed_species",
                    f"{unknown} (or, if it is a species the pack does not know, tick 'New"
                    " species')",
                )
        return cleaned


@admin.register(FishReview)
class FishReviewAdmin(ReviewPhotos, SiteScopedAdmin):
    form = CorrectionForm
    list_display = (
        "thumbnail",
        "top_k",
        "verdict",
        "pack",
        "fish_box",
        "correct_buttons",
        "site",
        "observed_at",
        "officer",
    )
    list_filter = (("site", admin.RelatedOnlyFieldListFilter), "status", "pack_version")
    readonly_fields = (
        "photo",
        "top_k",
        "verdict",
        "pack",
        "fish_box",
        "site",
        "observed_at",
        "officer",
        "vessel",
        "trip",
        "haul",
        "count",
        "length_cm",
        "notes",
    )

    actions = ("answer_not_a_fish",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[FishReview]:
        queryset: QuerySet[FishReview] = super().get_queryset(request)
        if not getattr(request, _HISTORY, False):
            queryset = queryset.filter(needs_review=True)
        return queryset.select_related("site")

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A catch's history, queued or answered: its answers are recorded there, and an
        answered catch is the one whose answer is asked about ("who confirmed this?").
        Still the reviewer's own sites' catches only (``SiteScopedAdmin``)."""
        setattr(request, _HISTORY, True)
        response: HttpResponse = super().history_view(request, object_id, extra_context)
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """A catch of the reviewer's sites that left the queue since their list was loaded
        (answered by another reviewer, or a device): back to the queue, saying whose answer
        stands, not Django's "doesn't exist". Another site's catch is not named."""
        if answered := self._answered_meanwhile(request, object_id):
            messages.warning(
                request, f"{answered} left the queue: {review.already_reviewed(answered)}."
            )
            return HttpResponseRedirect(self._queue_url(request))
        response: HttpResponse = super().change_view(request, object_id, form_url, extra_context)
        return response

    def _answered_meanwhile(self, request: HttpRequest, object_id: str) -> FishObservation | None:
        pk = _catch_pk(unquote(object_id))
        if pk is None or not self.has_view_or_change_permission(request):
            return None
        left = FishObservation.objects.filter(pk=pk, needs_review=False)
        found: FishObservation | None = scoped(left, request.user).first()
        return found

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("correct/", self.admin_site.admin_view(self.correct_view), name="hub_correct"),
            *self.photo_urls(),
        ]
        inherited: list[URLPattern] = super().get_urls()
        return own + inherited

    @admin.display(description="top-k")
    def top_k(self, obj: FishObservation) -> str:
        rows = ((species, f"{confidence:.2f}") for species, confidence in obj.predictions)
        html: str = format_html_join(", ", "{} ({})", rows)
        return html or "—"

    @admin.display(description="pack's verdict", ordering="status")
    def verdict(self, obj: FishObservation) -> str:
        """Whether the pack named the first of the top-k, and if not, why; "—" where the
        device did not say (one older than protocol 4)."""
        if obj.status is None:
            return "—"
        label = str(obj.get_status_display())
        return f"{label} ({obj.status_reason})" if obj.status_reason else label

    @admin.display(description="species pack", ordering="pack_version")
    def pack(self, obj: FishObservation) -> str:
        return obj.pack_version or "—"

    @admin.display(description="fish in photo")
    def fish_box(self, obj: FishObservation) -> str:
        """The box the prediction was made on (one of several fish in the photo), in the
        photo's pixels; the photo beside it is shown whole."""
        if obj.crop is None:
            return "whole photo"
        x, y, width, height = obj.crop
        return f"{width}x{height} px at ({x}, {y})"

    def get_list_display(self, request: HttpRequest) -> Any:
        """The columns, the buttons' reading the current pack's species once per page, not
        once per row (a published pack's list is looked up, the default pack's read from
        its files), and posting with the queue's filters, to come back to the queue as it
        was (as the change page does)."""
        correct = reverse("admin:hub_correct")
        if filters := self.get_preserved_filters(request):
            correct = f"{correct}?{filters}"
        buttons = _buttons_by(species_names.current_species(), correct)
        return tuple(buttons if name == "correct_buttons" else name for name in self.list_display)

    @admin.display(description="confirm as")
    def correct_buttons(self, obj: FishObservation) -> str:
        """The column as ``get_list_display`` shows it (named here for the admin's checks)."""
        return _buttons_by(species_names.current_species(), reverse("admin:hub_correct"))(obj)

    def save_model(self, request: Any, obj: FishReview, form: Any, change: bool) -> None:
        try:
            if form.cleaned_data.get("not_a_fish"):
                review.answer_not_a_fish(obj.pk, str(request.user), queued_only=True)
            else:
                species = form.cleaned_data.get("confirmed_species") or ""
                review.correct_species(obj.pk, species, str(request.user), queued_only=True)
        except review.CorrectionSupersededError as superseded:
            setattr(request, _NOT_APPLIED, True)  # neither logged nor said to be saved
            messages.warning(request, f"Not applied: {superseded}.")

    def construct_change_message(self, request: Any, form: Any, formsets: Any, add: Any) -> Any:
        """The admin's history names the answer: "not a fish", or the species confirmed."""
        if form.cleaned_data.get("not_a_fish"):
            return NOT_A_FISH_MESSAGE
        return confirmed_message(form.cleaned_data.get("confirmed_species") or "")

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        """The change page logs after ``save_model`` whatever it did: an answer refused there
        changed nothing, and the history must not say this reviewer changed the catch."""
        if getattr(request, _NOT_APPLIED, False):
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        """Back to the queue, without "changed successfully" where the answer was refused."""
        if getattr(request, _NOT_APPLIED, False):
            return HttpResponseRedirect(self._queue_url(request))
        response: HttpResponse = super().response_change(request, obj)
        return response

    @admin.action(
        description="Not a fish: no species, never used for training", permissions=["change"]
    )
    def answer_not_a_fish(self, request: HttpRequest, queryset: QuerySet[FishReview]) -> None:
        """Answer for each selected catch that its photo shows no fish (a face, the deck),
        recorded in the admin's history as a confirmation is."""
        answered = 0
        for observation in queryset:
            try:
                review.answer_not_a_fish(observation.pk, str(request.user), queued_only=True)
            except review.CorrectionSupersededError as superseded:
                messages.warning(request, f"Not applied to {observation}: {superseded}.")
                continue
            self.log_change(request, observation, NOT_A_FISH_MESSAGE)
            answered += 1
        messages.success(request, f"{plural.catches(answered)} answered: not a fish.")

    def correct_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        text, _, posted = request.POST.get("correction", "").partition(":")
        pk = _catch_pk(text)
        found = FishObservation.objects.filter(pk=pk)
        if pk is not None and found.exists() and not scoped(found, request.user).exists():
            raise PermissionDenied  # another site's catch
        try:
            if pk is None:
                raise FishObservation.DoesNotExist
            species = species_names.species_name(posted)  # as a typed species is named
            observation = review.correct_species(pk, species, str(request.user), queued_only=True)
        except species_names.UnknownSpeciesError as unknown:
            messages.error(request, f"Not applied: {unknown}.")
        except review.CorrectionSupersededError as superseded:
            messages.warning(request, f"Not applied: {superseded}.")
        except (ValueError, FishObservation.DoesNotExist):
            messages.error(request, "That correction could not be applied.")
        else:
            # as the queue's catch: the history page lists the queue's (proxy) model's entries
            self.log_change(request, _as_review(observation), confirmed_message(species))
            messages.success(request, f"Confirmed {species}: {observation} leaves the queue.")
        return HttpResponseRedirect(self._queue_url(request))

    def _queue_url(self, request: HttpRequest) -> str:
        """The queue, filtered as it was when the reviewer answered from it (the filters
        the buttons posted with): always this page, whatever else was posted."""
        context = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
        url: str = add_preserved_filters(context, reverse("admin:hub_fishreview_changelist"))
        return url


def confirmed_message(species: str) -> str:
    """The admin's history of a confirmation: the species, which Django's own message
    ("Changed Confirm as species") leaves out."""
    return f"Confirmed as {species}."


def _as_review(observation: FishObservation) -> FishReview:
    """The catch as the queue's model, which the admin's history files its entries under
    (logged as the concrete model, an answer was missing from the catch's history page)."""
    as_review: FishReview = FishReview.objects.get(pk=observation.pk)
    return as_review


def _catch_pk(text: str) -> int | None:
    """The catch's id a correction button posts, or None for anything else: ``isdigit``
    is true for "²", which ``int`` refuses."""
    return int(text) if text.isascii() and text.isdigit() else None


def _buttons_by(
    known: species_names.SpeciesList | None, url: str
) -> Callable[[FishObservation], str]:
    """The "confirm as" column by the species list ``known``: a button per top-k species
    the list accepts, as it names it, posting to ``url``; the others said to be not in the
    current pack."""

    def correct_buttons(obj: FishObservation) -> str:
        named = [(species, _accepted(known, species)) for species, _ in obj.predictions]
        # formaction: the changelist is already one form (with its CSRF token), so each
        # button posts it to the correction view instead of nesting forms.
        buttons = format_html_join(
            " ",
            '<button type="submit" class="button" formaction="{}" name="correction" '
            'value="{}:{}">{}</button>',
            ((url, obj.pk, name, name) for name in dict.fromkeys(n for _, n in named if n)),
        )
        others = format_html_join(
            " ",
            '<span title="type it on the catch\'s page">{} (not in the current pack)</span>',
            ((species,) for species, name in named if name is None),
        )
        html: str = format_html_join(" ", "{}", ((part,) for part in (buttons, others) if part))
        return html

    column: Callable[[FishObservation], str] = admin.display(description="confirm as")(
        correct_buttons
    )
    return column


def _accepted(known: species_names.SpeciesList | None, species: str) -> str | None:
    """The current pack's display name of ``species``, a top-k name (the text, its spacing
    tidied, where no pack is known), or None where the pack lists no such name."""
    if known is None:
        return species_names.name_by(known, species)
    return known.named(species)
