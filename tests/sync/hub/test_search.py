"""Template search through pgvector's HNSW index agrees with exact search; sites scope it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sync.hub.models import Device
from sync.hub.search import nearest_templates
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api

MODEL = ("dlib-resnet-128", "1")


def _enrol(api: Api, vectors: NDArray[np.float32]) -> list[str]:
    people = []
    pushed = []
    for vector in vectors:
        person = e.person(api.site)
        people.append(person["person_uid"])
        pushed += [
            e.entry("person", "upsert", person),
            e.entry("face_template", "upsert", e.template(person["person_uid"], vector.tolist())),
        ]
    assert api.push(*pushed)["rejected"] == []
    return people


def _unit(rng: np.random.Generator, n: int) -> NDArray[np.float32]:
    vectors = rng.normal(size=(n, 128)).astype(np.float32)
    unit: NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def test_hnsw_top1_matches_exact_search_and_sites_scope_results(api: Api, other_api: Api) -> None:
    rng = np.random.default_rng(7)
    mine, theirs = _unit(rng, 60), _unit(rng, 60)
    my_people = _enrol(api, mine)
    _enrol(other_api, theirs)
    site_id = Device.objects.get(uid=api.device_id).site_id
    for index in range(0, 60, 6):
        probe = mine[index] + 0.05 * rng.normal(size=128).astype(np.float32)
        approx = nearest_templates(probe.tolist(), *MODEL, k=3, site_id=site_id)
        exact = nearest_templates(probe.tolist(), *MODEL, k=3, site_id=site_id, exact=True)
        assert str(approx[0].person_uid) == my_people[index]
        assert [m.template_uid for m in approx] == [m.template_uid for m in exact]
        assert all(m.site == api.site for m in approx)
        assert approx[0].similarity > 0.8  # 0.05 noise per dimension: cosine ~0.87


def test_the_search_endpoint_and_the_all_sites_permission(api: Api, other_api: Api) -> None:
    rng = np.random.default_rng(11)
    theirs = _unit(rng, 5)
    their_people = _enrol(other_api, theirs)
    probe = {"model_id": MODEL[0], "model_version": MODEL[1], "vector": theirs[2].tolist(), "k": 1}
    own = api.post(api.site_path("search"), probe)
    assert own.status_code == 200
    assert all(m["site"] == api.site for m in own.json()["matches"])
    Device.objects.filter(uid=api.device_id).update(may_search_all_sites=True)
    central = api.post(api.site_path("search"), probe | {"all_sites": True}).json()["matches"]
    assert central[0]["person_uid"] == their_people[2]
    assert central[0]["site"] == other_api.site
    assert central[0]["similarity"] > 0.999
