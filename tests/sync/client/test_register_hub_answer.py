"""Which hub a registration is with is what the register answer names (``HUB_ID_HEADER``),
sent to the one-time code, not what the unauthenticated status page said: a status answer
may come from a proxy's cached page, a misrouted balancer or a lying hub, and may fail.
``jaga sync register`` asks the status first only to refuse another hub before the code is
spent; the register answer's id is the one kept, and decides again before anything is
saved. The hub is the real one, reached through a transport that changes only its status
answers; the old hub is a registration kept in the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from sync.client.config import Registration
from sync.client.state import read_values, save_registration
from sync.hub.identity import hub_id
from sync.protocol import HUB_ID_HEADER
from sync.store import Passphrase, Store
from sync.store.outbox_hub import held_for_other_hubs
from tests.sync.client.devices import PASSPHRASE, add_access_events, enrol
from tests.sync.client.test_register_another_hub import _unsent
from tests.sync.client.test_register_moved import env, register, sync
from tests.sync.conftest import FAST
from tests.sync.hub.hubkit import HubProcess

__all__ = ["env"]  # the fixture, used by name

OLD_HUB = "https://old-hub.example"
OLD_ID = str(uuid4())
StatusAnswer = Callable[[httpx.Response], httpx.Response]


def _naming_old_hub(real: httpx.Response) -> httpx.Response:
    """A status page naming the old hub's id (cached by a proxy, say)."""
    return httpx.Response(200, json={"status": "ok"}, headers={HUB_ID_HEADER: OLD_ID})


def _unavailable(real: httpx.Response) -> httpx.Response:
    """A status page that fails (the hub's database hiccups, a proxy in maintenance)."""
    return httpx.Response(503, json={"status": "down"})


@dataclass
class StatusPage:
    """The command's environment (``env``), and the status answer the test puts in place."""

    env: pytest.MonkeyPatch
    answers: list[StatusAnswer] = field(default_factory=list)


@pytest.fixture
def status(env: pytest.MonkeyPatch) -> Iterator[StatusPage]:
    """Every hub request goes to the real hub; its status answers are replaced by the one
    the test puts in ``answers``."""
    page = StatusPage(env)
    answers = page.answers
    forward = httpx.Client()

    def handler(request: httpx.Request) -> httpx.Response:
        real = forward.send(forward.build_request(
            request.method, request.url, content=request.content, headers=request.headers
        ))  # fmt: skip
        real.read()
        if request.url.path.endswith("/api/v1/status") and answers:
            return answers[0](real)
        return httpx.Response(real.status_code, headers=real.headers, content=real.content)

    env.setattr(
        "sync.client.transport.hub_http_client",
        lambda: httpx.Client(transport=httpx.MockTransport(handler)),
    )
    yield page
    forward.close()


def _kiosk(db: Path, hub_url: str, site: str, hub: str) -> str:
    """A kiosk of ``site`` registered with the hub at ``hub_url`` named ``hub``, holding one
    person and two access decisions unsent; the person's uid."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with Store.create(db, Passphrase(PASSPHRASE), config=FAST) as store:
        old = Registration(hub_url, site, uuid4(), "old-token", UUID(hub))
        save_registration(store.database, old, store.clock.now(), send_face_images=False)
        uid = enrol(store, site, "OLD-1", seed=3)
        add_access_events(store, site, 2)
    return uid


def _kept(db: Path) -> tuple[dict[str, str], int]:
    """The registration kept, and how many entries are held for another hub."""
    with Store.open(db, Passphrase(PASSPHRASE), config=FAST) as store:
        with store.database.read() as connection:
            held = held_for_other_hubs(connection)
        return read_values(store.database), held


def test_a_status_naming_the_old_hub_does_not_make_another_hub_the_same(
    status: StatusPage,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: the status's id was kept; the registration passed as the same hub, nothing was
    held, and the old hub's person and decisions were queued for (and pushed to) this one."""
    db = tmp_path / "lied" / "jaga.db"
    _kiosk(db, OLD_HUB, site_slug, OLD_ID)
    status.answers.append(_naming_old_hub)
    capsys.readouterr()

    assert register(status.env, db, live_hub.url, site_slug) != 0

    err = capsys.readouterr().err
    assert OLD_ID in err and str(hub_id()) in err
    assert "new code" in err
    values, held = _kept(db)
    assert (values["hub_url"], values["hub_id"]) == (OLD_HUB, OLD_ID)
    assert held == 0  # still registered with the old hub: its entries are queued for it
    assert _unsent(db) == {"person": 1, "face_template": 1, "access_event": 2}


def test_a_failed_status_keeps_the_same_hub_at_a_new_address_the_same(
    status: StatusPage,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: the failed status gave no id, the address decided (another hub), the kept id
    was forgotten, and the device's records were held for its own hub for good."""
    db = tmp_path / "moved" / "jaga.db"
    _kiosk(db, live_hub.url, site_slug, str(hub_id()))
    status.answers.append(_unavailable)
    moved = f"http://localhost:{live_hub.port}"

    assert register(status.env, db, moved, site_slug, "--strand-records") == 0

    assert "left unsent" not in capsys.readouterr().out
    values, held = _kept(db)
    assert (values["hub_url"], values["hub_id"]) == (moved, str(hub_id()))
    assert held == 0
    assert sync(db) == 0
    assert _unsent(db) == {}


def test_a_failed_status_then_another_hubs_answer_saves_nothing_while_records_wait(
    status: StatusPage,
    live_hub: HubProcess,
    site_slug: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another hub now answers at the registered hub's address (reinstalled): the failed
    status let the address decide (the same hub), but the register answer names another id.
    Before: registered, the old hub's records held with no refusal nor word of it."""
    db = tmp_path / "reinstalled" / "jaga.db"
    _kiosk(db, live_hub.url, site_slug, OLD_ID)
    status.answers.append(_unavailable)
    capsys.readouterr()

    assert register(status.env, db, live_hub.url, site_slug) != 0

    err = capsys.readouterr().err
    assert "another hub" in err and "new code" in err
    values, held = _kept(db)
    assert values["hub_id"] == OLD_ID and values["device_token"] == "old-token"
    assert held == 0
    assert _unsent(db) == {"person": 1, "face_template": 1, "access_event": 2}
