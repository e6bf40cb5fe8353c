"""The admin's one-shot forms' spent tokens (``sync.hub.admin.once``)."""

from __future__ import annotations

from django.db import models


class SpentForm(models.Model):
    """A one-shot form's token, spent by the POST that did its work. Its SHA-256 (any length
    a POST sends fits), as the key: two POSTs of one form (a double-click) insert the same
    key, and the second waits for the first's transaction, then fails (already sent), and says
    what the first did (``did``)."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    spent_at = models.DateTimeField(auto_now_add=True, db_index=True)
    did = models.TextField(default="", blank=True)  # what its POST did: names, never a code
    showed_code = models.BooleanField(default=False)  # its answer showed a one-time code

    def __str__(self) -> str:
        return f"form {self.token_hash[:12]} sent at {self.spent_at}"
