"""The check that a published pack keeps the species the devices run: a species is kept
under a new folder id when its display name is kept, and two publications at once are each
checked against the pack published before them, not both against the same one."""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from sync.hub import review
from sync.hub.models import SpeciesPack
from sync.hub.species_names import SpeciesList
from sync.species_packs import PackArchiveError, archive_pack
from tests.sync.hub.hubfixtures import default_species_installed
from tests.sync.hub.hubkit import Api
from tests.sync.hub.test_packs import _waiting_for_a_lock, with_named_species, with_species
from tests.sync.test_species_packs import make_pack

pytestmark = pytest.mark.usefixtures("species_packs_removed")


def slug(name: str) -> str:
    """A folder id as ``jaga fish export-training-set`` without ``--species-from`` makes it."""
    return "_".join(name.casefold().split())


def test_a_pack_retrained_under_new_folder_ids_keeps_species_it_names(
    api: Api, tmp_path: Path
) -> None:
    """A pack retrained from corrections exported without ``--species-from fish-default``
    has folder ids like ``amphiprion_clarkii`` for the default pack's ``fish_04``: it names
    all 23 species, and was refused as lacking all 23."""
    from inference.fish.installed import default_species

    with default_species_installed(default_species):
        _, default = default_species()
        renamed = {slug(name): name for name in default.values()}
        pack = with_named_species(make_pack(tmp_path / "renamed"), renamed)
        review.check_species_kept(archive_pack(pack))  # nothing is refused
        # Another reviewer's case and spacing, a Mac's decomposed letters: one species still.
        first, second, *rest = sorted(default.values())
        typed = {slug(first): f"  {first.upper()} ", slug(second): unicodedata.normalize(
            "NFD", second.lower())} | {slug(name): name for name in rest}  # fmt: skip
        review.check_species_kept(archive_pack(with_named_species(pack, typed)))
        # What is truly missing is named, and nothing else.
        gone = dict(list(renamed.items())[2:])
        missing = [sid for sid, name in default.items() if name not in gone.values()]
        with pytest.raises(PackArchiveError) as refused:
            review.check_species_kept(archive_pack(with_named_species(pack, gone)))
    words = str(refused.value)
    assert f"lacks {len(missing)} species of" in words
    for sid in missing:
        assert f"{sid} ({default[sid]})" in words
    kept = [sid for sid in default if sid not in missing]
    assert not any(f"{sid} (" in words for sid in kept)


def test_a_species_kept_by_its_id_under_a_new_name_needs_the_word(api: Api, tmp_path: Path) -> None:
    """A pack that keeps folder id ``a`` but names it otherwise was published without a word;
    devices store species by display name, so from then on they named it anew while earlier
    catches kept the old name, and a training export made two folders of one species."""
    before = with_named_species(
        make_pack(tmp_path / "before"), {"a": "Chromis viridis", "b": "Dascyllus aruanus"}
    )
    review.publish_pack_archive(f"1.{api.site}", archive_pack(before), allow_species_change=True)
    respelled = {"a": "  CHROMIS viridis", "b": "Dascyllus aruanus"}  # case, spacing: no change
    review.check_species_kept(archive_pack(with_named_species(before, respelled)))
    swapped = {"a": "Dascyllus aruanus", "b": "Chromis viridis"}  # both names still named
    review.check_species_kept(archive_pack(with_named_species(before, swapped)))
    renamed = with_named_species(
        make_pack(tmp_path / "after", seed=1), {"a": "Blue-green chromis", "b": "Dascyllus aruanus"}
    )
    with pytest.raises(PackArchiveError) as refused:
        review.check_species_kept(archive_pack(renamed))
    words = str(refused.value)
    assert "renames 1 species of" in words and "a (Chromis viridis -> Blue-green chromis)" in words
    assert "lacks" not in words and "--allow-species-change" in words
    published = review.publish_pack_archive(
        f"2.{api.site}", archive_pack(renamed), allow_species_change=True
    )
    assert published.version == f"2.{api.site}"


def test_two_packs_published_at_once_are_each_checked_against_the_one_before(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two publications at once: the first (adding species c) paused before its commit, the
    second (a and b only) was checked against the pack before the first, passed, and then
    replaced the first on every device, dropping c without a word. The check now runs under
    the packs' lock: the second is checked against the first, and refused."""
    base = with_species(make_pack(tmp_path / "base"), "a", "b")
    review.publish_pack_archive(f"0.{api.site}", archive_pack(base), allow_species_change=True)
    adds_c = archive_pack(with_species(make_pack(tmp_path / "adds", seed=1), "a", "b", "c"))
    lacks_c = archive_pack(with_species(make_pack(tmp_path / "lacks", seed=2), "a", "b"))
    first, second = f"1.{api.site}", f"2.{api.site}"
    announced, go, errors = threading.Event(), threading.Event(), dict[str, BaseException]()
    real = review.announce_species_pack

    def pausing(pack: SpeciesPack, sites: Any = None) -> None:
        real(pack, sites)
        if threading.current_thread().name == "first":  # its pack stored, not committed
            announced.set()
            go.wait(30)

    def publishing(name: str, version: str, data: bytes) -> threading.Thread:
        def run() -> None:
            try:
                review.publish_pack_archive(version, data)
            except BaseException as error:  # the test tells it
                errors[name] = error
            finally:
                connection.close()

        thread = threading.Thread(target=run, name=name)
        thread.start()
        return thread

    monkeypatch.setattr(review, "announce_species_pack", pausing)
    one = publishing("first", first, adds_c)
    assert announced.wait(30)
    two = publishing("second", second, lacks_c)
    deadline = time.monotonic() + 30  # a bound on a hang, not a timed assertion
    while two.is_alive() and not _waiting_for_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)
    go.set()
    one.join(30)
    two.join(30)
    assert not one.is_alive() and not two.is_alive()
    assert "first" not in errors, errors
    assert SpeciesPack.objects.filter(version=first).exists()
    assert isinstance(errors.get("second"), PackArchiveError), errors
    assert f"lacks 1 species of {first}" in str(errors["second"])
    assert not SpeciesPack.objects.filter(version=second).exists()


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        # An old name matching a new folder id: devices never say "Chromis" again.
        ({"fish_07": "Chromis"}, {"chromis": "Chromis viridis"}, "lacks 1 species"),
        # A new species displayed as the old folder id.
        ({"fish_07": "Chromis"}, {"x": "fish_07"}, "lacks 1 species"),
        # The folder id kept in another case: still a rename.
        (
            {"fish_04": "Amphiprion clarkii"},
            {"Fish_04": "Clark's anemonefish"},
            "fish_04 (Amphiprion clarkii -> Clark's anemonefish)",
        ),
        # An accent added is another name; one typed as two characters is not.
        ({"a": "Dascyllus aruanus"}, {"a": "Dascyllus aruánus"}, "renames 1 species"),
    ],
)
def test_species_are_kept_by_display_name_never_a_name_by_a_folder_id(
    api: Api, tmp_path: Path, before: dict[str, str], after: dict[str, str], said: str
) -> None:
    """``kept_species`` put the new pack's ids and names in one set: an old display name
    equal to a new folder id (or the reverse) counted as kept, and a folder id kept in
    another case hid a rename."""
    old = with_named_species(make_pack(tmp_path / "before"), before)
    review.publish_pack_archive(f"1.{api.site}", archive_pack(old), allow_species_change=True)
    new = archive_pack(with_named_species(make_pack(tmp_path / "after", seed=1), after))
    with pytest.raises(PackArchiveError, match=re.escape(said)):
        review.check_species_kept(new)
    decomposed = {sid: unicodedata.normalize("NFD", name) for sid, name in before.items()}
    review.check_species_kept(
        archive_pack(with_named_species(Path(tmp_path / "after"), decomposed))
    )


def test_a_top_k_name_is_matched_with_display_names_only() -> None:
    """A top-k "Chromis" of an older pack became a button "Chromis viridis", the species whose
    folder is ``chromis``; a typed species still matches a folder id, a name first."""
    known = SpeciesList("2", {"chromis": "Chromis viridis", "b": "Bee", "c": "b"})
    assert known.named("Chromis") is None
    assert known.named("  chromis VIRIDIS") == "Chromis viridis"
    assert known.name_of("chromis") == "Chromis viridis"  # typed: a folder id
    assert known.name_of("B") == "b"  # the species named "b", not the one whose folder is b
