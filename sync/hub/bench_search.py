"""Benchmark of the hub's 1:N template search: recall@1 against exact search, latency.

``python -m sync.hub.bench_search`` starts a throwaway embedded PostgreSQL (or uses
``--database-url``), migrates a fresh ``jaga_bench`` database, loads N random-but-clustered
128-D templates (unit vectors, several per identity, spread over sites) with COPY, builds
the hub's own HNSW index, and runs probes (fresh noisy samples of enrolled identities)
through ``sync.hub.search.nearest_templates`` — the function the API calls — at several
``ef_search`` values. Ground truth is brute force over the same float32 vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sync.cli_errors import output_file

MODEL = ("bench-128", "1")
DIM = 128
Floats = NDArray[np.float32]


@dataclass(frozen=True)
class Dataset:
    vectors: Floats  # (n, 128), unit rows
    identity: NDArray[np.int64]  # identity of each template
    site: NDArray[np.int64]  # site index of each template (its identity's site)
    centres: Floats  # (identities, 128)


@dataclass(frozen=True)
class Result:
    ef_search: int
    scope: str
    queries: int
    recall_at_1: float
    identity_hit_rate: float
    p50_ms: float
    p95_ms: float


def make_dataset(templates: int, identities: int, sites: int, noise: float, seed: int) -> Dataset:
    """Identity centres on the sphere; 1..2k-1 templates each (mean k), noise around them."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(identities, DIM)).astype(np.float32))
    per = templates / identities
    counts = rng.integers(1, max(2, int(2 * per)), size=identities)
    counts = np.maximum(1, np.round(counts * templates / counts.sum())).astype(np.int64)
    identity = np.repeat(np.arange(identities), counts)[:templates]
    identity = np.concatenate([identity, rng.integers(0, identities, templates - len(identity))])
    vectors = _unit(
        centres[identity] + noise * rng.normal(size=(templates, DIM)).astype(np.float32)
    )
    site_of_identity = rng.integers(0, sites, size=identities)
    return Dataset(vectors, identity, site_of_identity[identity], centres)


def make_probes(
    data: Dataset, count: int, noise: float, seed: int, site: int | None = None
) -> tuple[Floats, NDArray[np.int64]]:
    """Fresh samples of enrolled identities (of ``site`` only, when given)."""
    rng = np.random.default_rng(seed + 1)
    pool = data.identity if site is None else data.identity[data.site == site]
    who = rng.choice(np.unique(pool), size=count)
    probes = _unit(data.centres[who] + noise * rng.normal(size=(count, DIM)).astype(np.float32))
    return probes, who


def _unit(matrix: Floats) -> Floats:
    unit: Floats = (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)
    return unit


def exact_top1(
    data: Dataset, probes: Floats, mask: NDArray[np.bool_] | None = None
) -> NDArray[np.int64]:
    """Brute-force nearest template (cosine) per probe; rows outside ``mask`` excluded."""
    best = np.empty(len(probes), dtype=np.int64)
    for start in range(0, len(probes), 256):
        scores = probes[start : start + 256] @ data.vectors.T
        if mask is not None:
            scores[:, ~mask] = -np.inf
        best[start : start + 256] = np.argmax(scores, axis=1)
    return best


@contextmanager
def bench_database(database_url: str | None, keep: bool) -> Iterator[str]:
    """A fresh ``jaga_bench`` database: on the given server, or an embedded one."""
    from sync.hub.dburl import with_database
    from sync.hub.embedded import EmbeddedPostgres

    if database_url:
        yield with_database(database_url, "jaga_bench")
        return
    root = Path(tempfile.mkdtemp(prefix="jaga-bench-"))
    server = EmbeddedPostgres(root / "pg")
    server.start()
    try:
        server.create_database("jaga_bench")
        yield server.url("jaga_bench")
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Loaded:
    site_ids: list[int]
    template_uids: list[uuid.UUID]  # in dataset row order
    person_of: dict[uuid.UUID, uuid.UUID]  # template uid -> person uid
    load_s: float
    build_s: float


def load(data: Dataset, sites: int) -> Loaded:
    """Sites, people and templates into the hub's tables with COPY; the HNSW index is
    dropped for the load and built once after it (timed)."""
    from django.db import connection

    from sync.hub.models import FaceTemplate, Site

    started = time.perf_counter()

    site_ids = [Site.objects.create(slug=f"bench-{i}").pk for i in range(sites)]
    person_uids = [uuid.uuid4() for _ in range(int(data.identity.max()) + 1)]
    template_uids = [uuid.uuid4() for _ in range(len(data.vectors))]
    identity_site = dict(zip(data.identity.tolist(), data.site.tolist(), strict=True))
    with connection.cursor() as cursor:
        _copy(
            cursor,
            "hub_person",
            "uid, site_id, external_id, display_name, consent, "
            "field_versions, erasure_reason, created_at, updated_at",
            (
                (
                    uid,
                    site_ids[identity_site.get(i, 0)],
                    f"B-{i}",
                    f"Person {i}",
                    "{}",
                    "{}",
                    "",
                    "now",
                    "now",
                )
                for i, uid in enumerate(person_uids)
            ),
        )
        cursor.execute("SELECT uid, id FROM hub_person")
        person_id = dict(cursor.fetchall())
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", ["face_template_hnsw_cosine"]
        )
        (index_sql,) = cursor.fetchone()
        cursor.execute("DROP INDEX face_template_hnsw_cosine")  # bulk load, then build once
        _copy(
            cursor,
            "hub_facetemplate",
            "uid, person_id, site_id, model_id, model_version, "
            "embedding, quality, source, created_at",
            (
                (
                    template_uids[row],
                    person_id[person_uids[ident]],
                    site_ids[site],
                    *MODEL,
                    _literal(vector),
                    0.9,
                    "bench",
                    "now",
                )
                for row, (vector, ident, site) in enumerate(
                    zip(data.vectors, data.identity.tolist(), data.site.tolist(), strict=True)
                )
            ),
        )
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        started = time.perf_counter()
        cursor.execute(index_sql)
        build_s = time.perf_counter() - started
        cursor.execute("ANALYZE hub_person")
        cursor.execute("ANALYZE hub_facetemplate")
    person_of = dict(FaceTemplate.objects.values_list("uid", "person__uid"))
    load_s = time.perf_counter() - started
    return Loaded(site_ids, template_uids, person_of, round(load_s, 1), round(build_s, 1))


def _copy(cursor: Any, table: str, columns: str, rows: Any) -> None:
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _literal(vector: Floats) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in vector.tolist()) + "]"


@dataclass(frozen=True)
class Workload:
    """Probes of one scope with their exact answers (template) and true identities (person)."""

    scope: str
    site_id: int | None
    probes: Floats
    truth: list[uuid.UUID]
    people: list[uuid.UUID]


def make_workload(data: Dataset, loaded: Loaded, args: argparse.Namespace,
                  site: int | None) -> Workload:  # fmt: skip
    probes, who = make_probes(data, args.queries, args.noise, args.seed, site)
    mask = None if site is None else data.site == site
    truth = [loaded.template_uids[i] for i in exact_top1(data, probes, mask)]
    first_row = {int(i): int(np.argmax(data.identity == i)) for i in np.unique(who)}
    people = [loaded.person_of[loaded.template_uids[first_row[int(w)]]] for w in who]
    scope = "all sites" if site is None else "one site"
    site_id = None if site is None else loaded.site_ids[site]
    return Workload(scope, site_id, probes, truth, people)


def measure(workload: Workload, loaded: Loaded, ef: int) -> Result:
    """Recall@1 and latency of ``nearest_templates`` (what the API runs) at ``ef``."""
    from sync.hub.search import nearest_templates

    def search(probe: Floats) -> uuid.UUID | None:
        found = nearest_templates(
            probe.tolist(), *MODEL, k=1, site_id=workload.site_id, ef_search=ef
        )
        return found[0].template_uid if found else None

    for probe in workload.probes[:20]:  # warm the index pages first
        search(probe)
    latencies, hits, identity_hits = [], 0, 0
    for probe, expected, person in zip(
        workload.probes, workload.truth, workload.people, strict=True
    ):
        started = time.perf_counter()
        found = search(probe)
        latencies.append((time.perf_counter() - started) * 1000)
        hits += found == expected
        identity_hits += found is not None and loaded.person_of[found] == person
    quantiles = statistics.quantiles(latencies, n=100)
    count = len(workload.probes)
    return Result(ef, workload.scope, count, hits / count, identity_hits / count,
                  round(quantiles[49], 3), round(quantiles[94], 3))  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from sync.hub.bootstrap import setup_django

    data = make_dataset(args.templates, args.identities, args.sites, args.noise, args.seed)
    with bench_database(args.database_url, args.keep) as url:
        os.environ["DATABASE_URL"] = url
        setup_django()
        call_command("migrate", interactive=False, verbosity=0)
        loaded = load(data, args.sites)
        # A central look-up across all sites, and a kiosk searching its own site only (a
        # filtered HNSW scan: the case pgvector's iterative scan is for).
        workloads = [make_workload(data, loaded, args, site) for site in (None, 0)]
        results = [measure(w, loaded, ef) for w in workloads for ef in args.ef_search]
        exact_ms = _exact_latency(workloads[0].probes[:20])
        with connection.cursor() as cursor:
            plan = _plan(cursor, workloads[0].probes[0])
    return {"templates": args.templates, "identities": args.identities, "sites": args.sites,
            "load_s": loaded.load_s, "hnsw_build_s": loaded.build_s, "plan": plan,
            "exact_sql_p50_ms": exact_ms, "results": [asdict(r) for r in results]}  # fmt: skip


def _exact_latency(probes: Floats) -> float:
    """Median latency of the same query as a sequential scan (the exact answer)."""
    from sync.hub.search import nearest_templates

    latencies = []
    for probe in probes:
        started = time.perf_counter()
        nearest_templates(probe.tolist(), *MODEL, k=1, exact=True)
        latencies.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(latencies), 1)


def _plan(cursor: Any, probe: Floats) -> str:
    cursor.execute("BEGIN")
    cursor.execute("SET LOCAL hnsw.ef_search = 100")
    cursor.execute(
        "EXPLAIN SELECT id FROM hub_facetemplate WHERE model_id = %s AND "
        "model_version = %s ORDER BY embedding <=> %s::vector LIMIT 1",
        [*MODEL, _literal(probe)],
    )
    lines = [str(row[0]) for row in cursor.fetchall()]
    cursor.execute("COMMIT")
    return next((line.strip() for line in lines if "Index" in line or "Scan" in line), lines[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=100_000)
    parser.add_argument("--identities", type=int, default=25_000)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--noise",
        type=float,
        default=0.05,
        help="per-dimension noise around an identity (0.05: same-person cosine ~0.75)",
    )
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 100, 200])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--database-url",
        default=None,
        help="use this server (a jaga_bench database must exist) instead of an embedded one",
    )
    parser.add_argument("--keep", action="store_true", help="keep the embedded server's folder")
    parser.add_argument(
        "--json", type=output_file, default=None, help="also write the results here"
    )
    args = parser.parse_args()
    report = run(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
