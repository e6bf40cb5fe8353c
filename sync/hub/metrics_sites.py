"""Counts per site for the hub's database metrics: every family by site gives every site
the hub knows, 0 included (an alert on a series that is absent never fires, nor clears).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, QuerySet


def count_by_site(query: QuerySet[Any]) -> QuerySet[Any]:
    """``query``'s rows counted per site (``site_id``, ``n``)."""
    return query.values("site_id").annotate(n=Count("pk")).order_by()


def every_site(
    slugs: dict[int, str],
    rows: Iterable[dict[str, Any]],
    fields: tuple[str, ...],
    site_key: str = "site_id",
) -> dict[str, dict[str, float]]:
    """``fields`` of ``rows`` (counts of one site each, or of one site and label) summed per
    site slug, for every site in ``slugs``: 0 for one without rows."""
    filled = {slug: dict.fromkeys(fields, 0.0) for slug in slugs.values()}
    for row in rows:
        site = filled.setdefault(slugs.get(row[site_key], "?"), dict.fromkeys(fields, 0.0))
        for name in fields:
            site[name] += row.get(name) or 0
    return filled
