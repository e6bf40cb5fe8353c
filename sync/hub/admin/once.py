"""One-shot forms: a form whose work must not be done twice carries a token (``FIELD``),
spent by the POST that does the work.

A browser's reload of the answer to a POST sends the form again, and so does its back button
followed by "resend". For a form that issues a one-time code, that second POST added a second
device or issued a new code, voiding the one just shown. Its answer cannot redirect to a page
that shows the code (the code would have to wait somewhere in between: it is shown once and
stored nowhere), so the form carries a token instead: a POST with a spent token does nothing.

The spent tokens (random, never a code) are kept in the user's session, the last ``KEEP``.
A POST without a token (a script, not a browser's form) is not checked.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest

FIELD = "_once"
SPENT = "hub_spent_forms"
KEEP = 50
ALREADY_SENT = (
    "Nothing was done again: this form was already sent (reloading the page that answered "
    "it sends it again). A one-time code is shown once, on that answer, and still works; "
    "if it was lost, issue a new one."
)


def new_token() -> str:
    """A token for a form about to be shown."""
    return secrets.token_urlsafe(16)


def already_sent(request: HttpRequest) -> bool:
    """Whether ``request`` sends a form whose token an earlier POST spent."""
    token = request.POST.get(FIELD)
    return bool(token) and token in request.session.get(SPENT, [])


def spend(request: HttpRequest) -> None:
    """Spend the token ``request`` sends: the same form sent again does nothing."""
    token = request.POST.get(FIELD)
    if token:
        request.session[SPENT] = [*request.session.get(SPENT, []), token][-KEEP:]
