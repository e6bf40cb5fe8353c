"""``jaga hub renew-log-epoch`` renews once per restore (``sync.hub.log_epoch_once``): run
again with no restore PostgreSQL shows since (an operator repeating it, a retried script, a
run again once the erasure journal could be read), it renews nothing, so devices do not
push all they hold and pull from 0 a second time; ``--again`` renews all the same."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from main import main
from tests.sync.hub.hubkit import Api


def _epoch(site: str) -> str:
    from sync.hub.models import Site

    return str(Site.objects.get(slug=site).log_epoch)


def _renew(data: Path, *options: str) -> None:
    assert main(["hub", "renew-log-epoch", "--data", str(data), *options]) == 0


def test_a_second_run_with_no_restore_since_renews_nothing(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each run renewed every site: the devices that synced between the two pushed again all
    they held and pulled their site from 0 twice (notes: run twice, renews twice)."""
    _renew(tmp_path)
    first = _epoch(api.site)
    capsys.readouterr()

    _renew(tmp_path)

    assert _epoch(api.site) == first
    said = capsys.readouterr().out
    assert "already renewed" in said and "renewed the change log's epoch of" not in said


def test_again_renews_once_more(api: Api, tmp_path: Path) -> None:
    _renew(tmp_path)
    first = _epoch(api.site)

    _renew(tmp_path, "--again")

    assert _epoch(api.site) != first


def test_a_restore_postgresql_shows_is_renewed_again(api: Api, tmp_path: Path) -> None:
    """A ``pg_restore --clean`` makes the tables anew: the renewal's record, restored with
    them, names the tables of before (the client tests restore a real dump)."""
    from sync.hub.models import LogEpochRenewal

    _renew(tmp_path)
    _renew(tmp_path)
    first = _epoch(api.site)
    LogEpochRenewal.objects.update(database="restored elsewhere")

    _renew(tmp_path)

    assert _epoch(api.site) != first


def test_a_restore_after_the_renewal_said_by_restored_at_is_renewed_again(
    api: Api, tmp_path: Path
) -> None:
    """One PostgreSQL cannot show (a file-system snapshot put back), said by its time."""
    from django.utils import timezone

    _renew(tmp_path)
    _renew(tmp_path)
    first = _epoch(api.site)
    later = (timezone.now() + timedelta(seconds=1)).isoformat()

    _renew(tmp_path, "--restored-at", later)

    assert _epoch(api.site) != first


def test_a_site_the_hub_renewed_by_itself_since_has_every_site_renewed_again(
    api: Api, other_api: Api, tmp_path: Path
) -> None:
    """The hub renews a site by itself only on a sealed tip past its log: a rewind since."""
    import uuid

    from django.utils import timezone

    from sync.hub.models import Site

    _renew(tmp_path)
    _renew(tmp_path)
    first = _epoch(other_api.site)
    later = timezone.now() + timedelta(seconds=1)
    Site.objects.filter(slug=api.site).update(log_epoch=uuid.uuid4(), log_epoch_renewed_at=later)

    _renew(tmp_path)

    assert _epoch(other_api.site) != first
