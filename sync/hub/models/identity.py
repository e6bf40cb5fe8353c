"""The hub's own id, one row: what devices tell this hub apart by (``sync.hub.identity``)."""

from __future__ import annotations

from django.db import models


class HubIdentity(models.Model):
    # Always true and unique: the table holds one row at most.
    one = models.BooleanField(default=True, unique=True, editable=False)
    uid = models.UUIDField(unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (
            models.CheckConstraint(condition=models.Q(one=True), name="hub_identity_one"),
        )

    def __str__(self) -> str:
        return str(self.uid)
