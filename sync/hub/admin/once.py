"""One-shot forms: a form whose work must not be done twice carries a token (``FIELD``),
spent by the POST that does the work.

A browser's reload of the answer to a POST sends the form again, and so does its back button
followed by "resend", or a double-click. For a form that issues a one-time code, that second
POST added a second device or issued a new code, voiding the one just shown. Its answer
cannot redirect to a page that shows the code (the code would have to wait somewhere in
between: it is shown once and stored nowhere), so the form carries a token instead: a POST
with a spent token does nothing.

The token (random, never a code) is spent in the database, in the work's own transaction,
before the work (``spend``): its hash is a unique key (``SpentForm``), so of two POSTs at
once the second waits for the first, then finds it spent; had the first failed (rolled
back), the second does the work. Spent tokens are kept ``KEEP``: a form sent again later
than that counts as new.

A refused POST (``RefusedError``) does nothing, and its view answers with a fresh form (a new
token) and a message saying why, so that one path only does the work and a refusal is
recoverable:

- a POST without a token (a form page rendered before the hub was upgraded, or a script:
  scripts use ``jaga hub create-device``, or read the token from the form's page first, as a
  browser does) is refused, never done unchecked;
- a spent token is refused as already sent, saying when and what that first POST did
  (``record``: the devices' names, never a code). The browser keeps no form page
  (``Cache-Control: no-store``, as the admin sends on every page), so its back button asks
  for the page again, with a fresh token; a browser that restores the page anyway (a
  back-forward cache) sends its spent token, and the admin then sees this refusal.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from sync.hub.models import SpentForm

FIELD = "_once"
KEEP = timedelta(days=30)
AGAIN = "To do it again on purpose, use the fresh form on this page."
NO_TOKEN = (
    "Nothing was done: the form sent carried no one-shot token (a page opened before the hub"
    f" was upgraded, or a script). {AGAIN}"
)
SHOWN_ONCE = (
    "Reloading the page that answered it, going back to it, or clicking twice sends a form"
    " again. A one-time code is shown once, on that answer, and still works; if it was lost,"
    " issue a new one."
)
NO_CODE_SHOWN = (
    "Reloading the page that answered it, going back to it, or clicking twice sends a form"
    " again. That answer showed no one-time code."
)
NAMED = 5  # devices named in a record; the others are counted


class RefusedError(Exception):
    """A one-shot form's POST refused before its work; ``str()`` says why, to the admin."""


class AlreadySentError(RefusedError):
    """The form was sent before: an earlier POST spent its token and did its work."""


class NoTokenError(RefusedError):
    """The POST carried no token: not a form this hub rendered since it checks them."""


def new_token() -> str:
    """A token for a form about to be shown."""
    return secrets.token_urlsafe(16)


def spend(request: HttpRequest) -> SpentForm:
    """Spend the token ``request`` sends, in the caller's transaction and before its work:
    ``NoTokenError`` when it sends none, ``AlreadySentError`` when an earlier POST spent it
    (one still running is waited for); the caller's transaction then rolls back whatever it
    did. The spent token, for the caller to ``record`` what it did."""
    token = request.POST.get(FIELD)
    if not token:
        raise NoTokenError(NO_TOKEN)
    SpentForm.objects.filter(spent_at__lt=timezone.now() - KEEP).delete()
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    spent = SpentForm(token_hash=token_hash)
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction goes on
            spent.save(force_insert=True)
    except IntegrityError:
        raise AlreadySentError(_already_sent(token_hash)) from None
    return spent


def record(spent: SpentForm, did: str, *, showed_code: bool) -> None:
    """Keep what the POST that spent ``spent`` did (``"added the device …"``) and whether its
    answer showed a one-time code, in its transaction, for the refusal of the form sent
    again. Never a code."""
    spent.did = did
    spent.showed_code = showed_code
    spent.save(update_fields=["did", "showed_code"])


def named(things: list[str]) -> str:
    """``things`` for a record, the first ``NAMED`` by name."""
    shown = ", ".join(things[:NAMED])
    return shown if len(things) <= NAMED else f"{shown} and {len(things) - NAMED} more"


def _already_sent(token_hash: str) -> str:
    """The refusal of a form sent again: when it was sent first, and what that did."""
    earlier = SpentForm.objects.filter(token_hash=token_hash).first()  # committed: it waited
    sent = "this form was already sent"
    shown = SHOWN_ONCE
    if earlier is not None:
        sent += f" at {timezone.localtime(earlier.spent_at):%Y-%m-%d %H:%M %Z}"
        if earlier.did:
            sent += f", and it {earlier.did}"
            # A first POST that showed no code (no change permission, every device with an
            # open break) must not send the admin looking for one.
            shown = shown if earlier.showed_code else NO_CODE_SHOWN
    return f"Nothing was done: {sent}. {shown} {AGAIN}"
