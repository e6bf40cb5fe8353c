"""A pull in a process of its own, held at a chosen point for the parent to SIGKILL:
``python -m tests.sync.client.pull_worker DB HUB_URL SITE DEVICE_ID TOKEN PAGE POINT``.

It pulls ``PAGE`` changes a page and, at ``POINT``, prints ``at POINT``, flushes, and
waits (for the kill):

* ``before-cursor`` — inside the first page's transaction, its records written, just before
  its cursor is: the moment a crash must lose the whole page and nothing else.
* ``after-commit`` — the first page committed (records and cursor), before the next page is
  asked for.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from sync.client import Registration
from sync.client import apply as apply_module
from sync.client import pull as pull_module
from sync.client.site_state import cursor_name
from tests.sync.client.devices import FAST_TUNING, Device

POINTS = ("before-cursor", "after-commit")


def hold(point: str) -> None:
    print(f"at {point}", flush=True)
    threading.Event().wait()  # until SIGKILL


def hold_before_the_cursor(site: str) -> None:
    original = getattr(apply_module, "put_value")  # noqa: B009  # its own import

    def put_value(connection: Any, name: str, value: str, now: datetime) -> None:
        if name == cursor_name(site):
            hold("before-cursor")
        original(connection, name, value, now)

    setattr(apply_module, "put_value", put_value)  # noqa: B010  # as monkeypatch does


def hold_after_the_first_commit() -> None:
    original = getattr(pull_module, "apply_page")  # noqa: B009  # its own import

    def apply_page(*args: Any, **kwargs: Any) -> apply_module.PageReport:
        report: apply_module.PageReport = original(*args, **kwargs)
        hold("after-commit")
        return report

    setattr(pull_module, "apply_page", apply_page)  # noqa: B010  # as monkeypatch does


def main(argv: list[str]) -> int:
    db, hub_url, site, device_id, token, page, point = argv
    if point == POINTS[0]:
        hold_before_the_cursor(site)
    else:
        hold_after_the_first_commit()
    device = Device(Path(db), Registration(hub_url, site, UUID(device_id), token))
    tuning = replace(FAST_TUNING, pull_limit=int(page))
    with device.open() as store, httpx.Client() as http:
        device.client(store, http, tuning=tuning).pull()
    print("pulled without being held", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
