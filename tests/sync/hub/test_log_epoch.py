"""The hub's safety net for a rewound change log (``sync.hub.log_epoch``): a pull from past
the site's log renews the site's epoch once, and a device cannot have it renewed at will."""

from __future__ import annotations

from typing import Any

from sync.protocol import LOG_EPOCH_HEADER, NO_LOG_EPOCH, PROTOCOL_VERSION
from tests.sync.hub import entries as e
from tests.sync.hub.hubkit import Api


def _pull(api: Api, cursor: int, known: str) -> Any:
    headers = {**api.auth(), LOG_EPOCH_HEADER: known}
    params = {"cursor": cursor, "protocol_version": PROTOCOL_VERSION}
    return api.get(api.site_path("changes"), params, headers=headers)


def _epoch(api: Api, known: str = NO_LOG_EPOCH, cursor: int = 0) -> str:
    response = _pull(api, cursor, known)
    assert response.status_code == 200, response.content
    return str(response.json()["log_epoch"])


def test_a_pull_from_past_the_log_renews_the_sites_epoch_once(api: Api) -> None:
    api.push(e.entry("fish_observation", "upsert", e.observation()))
    epoch = _epoch(api)
    assert _epoch(api, epoch, cursor=1) == epoch  # at the log's end: nothing rewound
    renewed = _epoch(api, epoch, cursor=50)
    assert renewed != epoch
    assert _epoch(api, epoch, cursor=50) == renewed  # knows the old one: starts again anyway
    assert _epoch(api, renewed, cursor=99) == renewed  # not again within the hour
    assert _epoch(api, NO_LOG_EPOCH, cursor=99) == renewed
    assert "log_epoch" not in api.pull(cursor=99)  # a release before epochs is not told


def test_a_log_epoch_that_is_not_a_uuid_is_refused(api: Api) -> None:
    response = _pull(api, 0, "yesterday")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_header"
