"""A pull SIGKILLed in its own process, at a point it was held at: inside a page's
transaction just before its cursor is written, and just after a page committed. The store
is then exactly at the last committed page (records and cursor together), and a new pull
brings the rest, each change once; one more pull brings nothing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sync.client.state import read_cursor
from sync.store import Store
from tests.sync.client.devices import (
    Device,
    add_observations,
    enrol,
    new_device,
)
from tests.sync.client.pull_worker import POINTS
from tests.sync.hub.hubkit import REPO, HubProcess

PAGE = 10
CATCHES, PEOPLE = 23, 3  # each person is two changes (the person and a template): 29


def pulled_kinds(store: Store) -> tuple[int, int, int]:
    templates = store.database.query("SELECT count(*) FROM face_templates")[0][0]
    return store.observations.count(), store.people.count(), int(templates)


def hub_cursor(site: str) -> int:
    from sync.hub.models import Change

    last: int = Change.objects.filter(site__slug=site).order_by("-cursor")[0].cursor
    return last


@pytest.fixture
def written(live_hub: HubProcess, site_slug: str, tmp_path: Path) -> None:
    writer = new_device(tmp_path, live_hub.url, site_slug, "writer")
    with writer.open() as store, httpx.Client() as http:
        for number in range(PEOPLE):
            enrol(store, site_slug, f"B-{number}", seed=number)
        add_observations(store, CATCHES, "pulled")
        writer.client(store, http).push()


def pull_held_at(device: Device, point: str) -> str:
    """``pull_worker`` held at ``point``, then SIGKILLed; what it said."""
    registration = device.registration
    command = [
        sys.executable, "-m", "tests.sync.client.pull_worker", str(device.path),
        registration.hub_url, registration.site, str(registration.device_id),
        registration.token, str(PAGE), point,
    ]  # fmt: skip
    worker = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        said = worker.stdout.readline() if worker.stdout else ""
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    return said.strip()


@pytest.mark.usefixtures("written")
@pytest.mark.parametrize("point", POINTS)
def test_a_pull_killed_around_a_page_commit_resumes_at_the_last_whole_page(
    point: str, live_hub: HubProcess, site_slug: str, tmp_path: Path
) -> None:
    reader = new_device(tmp_path, live_hub.url, site_slug, "reader")
    assert pull_held_at(reader, point) == f"at {point}"
    with reader.open() as store, httpx.Client() as http:
        cursor = read_cursor(store.database, site_slug)
        held = pulled_kinds(store)
        if point == "before-cursor":  # the page's transaction died with the process
            assert (cursor, held) == (0, (0, 0, 0))
        else:  # the first page is whole, and only it
            assert cursor > 0 and sum(held) == PAGE, (cursor, held)
        client = reader.client(store, http)
        report = client.pull()
        assert report.applied == CATCHES + 2 * PEOPLE - sum(held)
        assert (report.skipped, report.set_aside) == (0, 0)
        assert pulled_kinds(store) == (CATCHES, PEOPLE, PEOPLE)
        assert read_cursor(store.database, site_slug) == hub_cursor(site_slug)
        again = client.pull()
        assert (again.applied, again.pages) == (0, 1)
