"""1:N search of a probe descriptor over the hub's templates (pgvector, cosine, HNSW).

Used for central look-ups and de-duplication at enrolment, across every site or within one.
``ef_search`` (``JAGA_HUB_EF_SEARCH``) trades recall for latency; a site or model filter
runs with pgvector's iterative index scan so a selective filter does not starve the
result. ``python -m sync.hub.bench_search`` measures recall@1 against exact search. A person
past their consent's retention is never matched (``sync.hub.retention``), even before the
purge erases them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from sync.hub.models import FaceTemplate
from sync.hub.models.people import past_retention


@dataclass(frozen=True)
class TemplateMatch:
    template_uid: UUID
    person_uid: UUID
    site: str
    similarity: float


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{float(v):.8g}" for v in vector) + "]"


def nearest_templates(
    vector: Sequence[float],
    model_id: str,
    model_version: str,
    *,
    k: int = 5,
    site_id: int | None = None,
    ef_search: int | None = None,
    exact: bool = False,
) -> list[TemplateMatch]:
    """The ``k`` most similar templates of one model, best first.

    ``exact`` disables the index (a sequential scan): the ground truth for measurements.
    """
    where = "model_id = %s AND model_version = %s"
    params: list[object] = [model_id, model_version]
    if site_id is not None:
        where += " AND site_id = %s"
        params.append(site_id)
    expired, expired_params = past_retention(timezone.now()).values("pk").query.sql_with_params()
    where += f" AND person_id NOT IN ({expired})"
    params.extend(expired_params)
    probe = vector_literal(vector)
    table = FaceTemplate._meta.db_table
    sql = (
        f"SELECT id, 1 - (embedding <=> %s::vector) FROM {table} WHERE {where}"
        " ORDER BY embedding <=> %s::vector LIMIT %s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        _tune(cursor, ef_search or settings.JAGA_HUB_EF_SEARCH, exact)
        cursor.execute(sql, [probe, *params, probe, k])
        rows = cursor.fetchall()
    # NaN (a degenerate stored vector) cannot rank; drop it rather than report it.
    ranked = [(int(pk), float(sim)) for pk, sim in rows if sim is not None and math.isfinite(sim)]
    return _describe(ranked)


def _tune(cursor: Any, ef_search: int, exact: bool) -> None:
    execute = cursor.execute
    execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
    execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
    if exact:
        execute("SELECT set_config('enable_indexscan', 'off', true)")


def _describe(ranked: list[tuple[int, float]]) -> list[TemplateMatch]:
    rows = FaceTemplate.objects.filter(pk__in=[row_id for row_id, _ in ranked]).values_list(
        "pk", "uid", "person__uid", "site__slug"
    )
    by_pk = {pk: (uid, person_uid, slug) for pk, uid, person_uid, slug in rows}
    return [
        TemplateMatch(by_pk[pk][0], by_pk[pk][1], by_pk[pk][2], similarity)
        for pk, similarity in ranked
        if pk in by_pk
    ]
