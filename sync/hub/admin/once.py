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
than that counts as new. A POST without a token (a script, not a browser's form) is not
checked.
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
ALREADY_SENT = (
    "Nothing was done again: this form was already sent (reloading the page that answered "
    "it, or clicking twice, sends it again). A one-time code is shown once, on that answer, "
    "and still works; if it was lost, issue a new one."
)


class AlreadySentError(Exception):
    """The form was sent before: an earlier POST spent its token and did its work."""


def new_token() -> str:
    """A token for a form about to be shown."""
    return secrets.token_urlsafe(16)


def spend(request: HttpRequest) -> None:
    """Spend the token ``request`` sends, in the caller's transaction and before its work:
    ``AlreadySentError`` when an earlier POST spent it (one still running is waited for), and
    the caller's transaction then rolls back whatever it did."""
    token = request.POST.get(FIELD)
    if not token:
        return
    SpentForm.objects.filter(spent_at__lt=timezone.now() - KEEP).delete()
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction goes on
            SpentForm.objects.create(token_hash=hashlib.sha256(token.encode()).hexdigest())
    except IntegrityError:
        raise AlreadySentError from None
