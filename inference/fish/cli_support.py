"""What the ``jaga fish`` commands (:mod:`inference.fish.cli_commands`) share.

The options turned into what training takes (``--set`` settings, the data source, the
installed backbone, the ImageNet weights, the pack to evaluate); the ``--out`` folder
claimed before a pack is written there, and the install lock of a models folder a pack is
built into; and the one way the commands print a line. Apart from the handlers so that the
handlers read as what each command does.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shlex
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from inference.errors import InputError
from inference.fish.card import KNOWN_SOURCES, UNSPECIFIED, DataSource
from inference.fish.config import FinetuneConfig, HeadConfig

# ``seed`` has its own option (--seed), which sets it in both modes; as a --set it would be
# overwritten without a word, so it is not one.
_ALL_SETTINGS = {f.name for c in (HeadConfig, FinetuneConfig) for f in dataclasses.fields(c)} - {
    "seed"
}


def claim_out(out: Path, replace: bool) -> None:
    """Refuse an ``--out`` that holds a pack unless ``--replace`` (then say which pack
    goes), and always one that holds anything else: the new pack replaces the folder whole.
    The pack before that a run killed mid-write left retired aside is put back first, so it
    is the pack this run finds (and replaces only with ``--replace``)."""
    from inference.fish.pack import MANIFEST, restore_retired

    if restore_retired(out):
        say(f"put back the pack in {out} an interrupted write had set aside")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / MANIFEST).is_file():
        raise InputError(
            f"--out {out} holds files that are not a species pack; choose a new folder"
        )
    pack = _pack_label(out / MANIFEST)
    if not replace:
        raise InputError(
            f"--out {out} holds pack {pack}; add --replace to replace it, or choose a new folder"
        )
    say(f"replacing pack {pack} in {out}")


def _pack_label(manifest: Path) -> str:
    try:
        fields = json.loads(manifest.read_text(encoding="utf-8"))
        return f"{fields['name']} {fields['version']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "(its manifest.json cannot be read)"


def install_lock_of(out: Path, models_dir: Path | None) -> AbstractContextManager[None]:
    """The install lock of the models folder a pack is built into (``--out
    <models>/fish-default``, where ``jaga models install`` builds the default pack), else none.

    An install rebuilds that pack, and sweeps a staging folder beside it as a killed build's,
    so a build there waits for a running install as a second install does (and an install
    for it). A pack built anywhere else takes no lock and leaves no lock file behind.
    ``build-pack`` holds it for the whole build (seconds); ``train`` and ``combine`` only
    while the finished pack is written into place (``TrainOptions.write_lock``), since
    training takes minutes to an hour and an install must not wait that long.
    """
    from inference.pack.installed import RECORD_NAME, default_pack_dir
    from inference.pack.lock import install_lock

    folder = out.absolute().parent
    models = (models_dir or default_pack_dir()).absolute()
    if folder.resolve() == models.resolve() or (folder / RECORD_NAME).is_file():
        return install_lock(folder, say)
    return contextlib.nullcontext()


def backbone_of(args: argparse.Namespace) -> Any:
    from inference.fish.features import default_cache_dir
    from inference.fish.train import Backbone
    from inference.pack.installed import ModelPack
    from inference.runtime import Runtime, ThreadBudget

    pack = ModelPack(args.models_dir)
    model = pack.model(args.backbone)
    threads = ThreadBudget(args.threads) if args.threads else None
    session = Runtime(pack, threads=threads).session(args.backbone)
    cache = getattr(args, "cache", None) or default_cache_dir()
    return Backbone(session, model.path, model.sha256, cache, args.threads)


def backbone_path_of(args: argparse.Namespace) -> Path:
    from inference.pack.installed import ModelPack

    return ModelPack(args.models_dir).model(args.backbone).path


def weights_file_of(args: argparse.Namespace) -> Path:
    if args.pth is not None:
        return Path(args.pth)
    from inference.pack.installed import ModelPack

    return ModelPack(args.models_dir).source_path(args.backbone, "pth")


def set_threads(threads: int | None) -> None:
    """``--threads`` goes to the backbone; the head's small matrices train on one thread.

    On shared cores a multi-threaded torch spends much of its time waiting for its own
    workers, and the head's matrices are too small to gain from a second thread.
    """
    del threads
    import torch

    torch.set_num_threads(1)


def pack_root_of(pack: Path | None) -> Path:
    if pack is not None:
        return pack
    from inference.fish.installed import installed_default_pack

    return installed_default_pack()


def settings_from(config: type, pairs: list[str]) -> dict[str, Any]:
    """``["lr=0.1", ...]`` -> the fields of ``config`` they name, typed as the defaults are."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    chosen: dict[str, Any] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key not in defaults:
            continue  # the other mode's setting
        try:
            chosen[key] = _parse_setting(text, defaults[key])
        except ValueError:
            raise InputError(f"--set {pair}: not a value for {key}") from None
    unknown = [p for p in pairs if p.partition("=")[0] not in _ALL_SETTINGS]
    if unknown:
        raise InputError(f"unknown settings {unknown}; known: {', '.join(sorted(_ALL_SETTINGS))}")
    return chosen


def _parse_setting(text: str, default: object) -> object:
    if isinstance(default, bool):
        return text.lower() in {"1", "true", "yes"}
    if isinstance(default, float):
        return float(text)
    return int(text)  # int fields, and max_steps whose default is None


def data_source_of(source: str, terms: str) -> DataSource:
    if source in KNOWN_SOURCES and not terms:
        return KNOWN_SOURCES[source]
    if not source and not terms:
        return UNSPECIFIED
    return DataSource(source or UNSPECIFIED.name, terms or UNSPECIFIED.terms)


def command_line() -> str:
    return "jaga " + shlex.join(sys.argv[1:])


def say(line: str) -> None:
    print(line, flush=True)
