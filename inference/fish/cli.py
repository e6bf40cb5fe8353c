"""``jaga fish train | combine | eval | export-training-set | build-pack | bench``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import shlex
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from inference.errors import InferenceError, InputError
from inference.fish.calibrate import DEFAULT_KNOWN_ACCEPTANCE, DEFAULT_REVIEW_PRECISION
from inference.fish.card import KNOWN_SOURCES, UNSPECIFIED, DataSource
from inference.fish.config import BACKBONE_ID, BACKBONES, FinetuneConfig, HeadConfig
from inference.fish.taps import DEFAULT_TAPS, KNOWN_TAPS
from inference.output_paths import output_file, output_folder
from inference.plural import counted
from inference.runtime import thread_count

# ``seed`` has its own option (--seed), which sets it in both modes; as a --set it would be
# overwritten without a word, so it is not one.
_ALL_SETTINGS = {f.name for c in (HeadConfig, FinetuneConfig) for f in dataclasses.fields(c)} - {
    "seed"
}


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    fish = subparsers.add_parser("fish", help="train, evaluate and feed fish species packs")
    commands = fish.add_subparsers(dest="fish_command", metavar="ACTION", required=True)
    _add_train(commands)
    _add_combine(commands)
    _add_eval(commands)
    _add_export(commands)
    _add_build(commands)
    _add_bench(commands)


def _add_train(commands: argparse._SubParsersAction[Any]) -> None:
    train = commands.add_parser("train", help="train a species pack from species folders")
    train.add_argument("--data", type=Path, required=True, help="folder of species folders")
    train.add_argument(
        "--out",
        type=output_folder,
        required=True,
        help="species pack folder to write; in the models folder (fish-default) writing it"
        " waits for a running `jaga models install`",
    )
    _add_replace(train)
    train.add_argument("--mode", choices=["head", "finetune"], default="head")
    train.add_argument(
        "--holdout",
        nargs="*",
        default=[],
        metavar="SPECIES",
        help="species folders left out of training, to measure open-set AUROC",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--views",
        type=int,
        default=4,
        help="head mode: augmented views per training image (0: none)",
    )
    train.add_argument(
        "--taps",
        nargs="+",
        choices=KNOWN_TAPS,
        default=list(DEFAULT_TAPS),
        help="head mode: the backbone outputs the head reads, concatenated in this order",
    )
    train.add_argument("--hidden", type=int, default=0, help="head mode: hidden width (0: linear)")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training setting (HeadConfig or FinetuneConfig field)",
    )
    train.add_argument("--validation-fraction", type=float, default=0.2)
    train.add_argument("--known-acceptance", type=float, default=DEFAULT_KNOWN_ACCEPTANCE)
    train.add_argument("--review-precision", type=float, default=DEFAULT_REVIEW_PRECISION)
    train.add_argument("--no-int8", action="store_true", help="skip the INT8 model")
    train.add_argument("--name", default="fish-species", help="pack name")
    train.add_argument("--version", help="pack version (default: date and model digest)")
    train.add_argument(
        "--source", default="", help=f"data source: one of {', '.join(KNOWN_SOURCES)}, or free text"
    )
    train.add_argument("--terms", default="", help="terms of use of the data (free text)")
    train.add_argument(
        "--keep-head",
        type=Path,
        metavar="DIR",
        help="head mode: also keep the head, species, thresholds and card in DIR "
        "(how assets/fish/default is made)",
    )
    train.add_argument("--models-dir", type=Path, help="installed model pack (the backbone)")
    train.add_argument("--backbone", choices=BACKBONES, default=BACKBONE_ID,
                       help=f"the installed backbone to train on ({BACKBONE_ID})")  # fmt: skip
    train.add_argument("--cache", type=Path, help="feature cache folder")
    train.add_argument(
        "--threads", type=thread_count, default=None, help="threads for the backbone (ONNX Runtime)"
    )
    train.add_argument(
        "--device",
        type=torch_device,
        default="auto",
        help="finetune mode: cpu, cuda, cuda:N or mps; auto (default): the GPU where torch has"
        " one, else the CPU. A device named but not usable here is refused",
    )
    train.add_argument(
        "--pth", type=Path, help="finetune mode: ImageNet .pth (default: the model pack's source)"
    )
    train.set_defaults(handler=_train)  # fmt: skip


def torch_device(text: str) -> str:
    """An argparse ``type`` for ``--device``: ``auto``, or a device torch trains on here.

    A device torch does not know (``bogus``), or one this machine lacks (``cuda`` without a
    usable GPU), is refused in one line when the command line is read; it was a torch
    traceback once the data had been read. A device that was named is never swapped for
    another, as training on the CPU instead of a GPU takes many times longer: ``auto`` is the
    one that falls back, as ONNX Runtime's ``--providers`` preference falls back to the CPU.
    Without torch (a device's install) the value is left to the finetune to refuse.
    """
    if text == "auto":
        return text
    try:
        import torch
    except ImportError:
        return text
    try:
        device = torch.device(text)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device to train on: expected auto, cpu, cuda, cuda:N or mps"
        )
    problem = _unusable(torch, device)
    if problem is not None:
        raise argparse.ArgumentTypeError(
            f"{text}: {problem}; use --device cpu, or auto (the GPU where there is one)"
        )
    return text


def _unusable(torch: Any, device: Any) -> str | None:
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "" if torch.version.cuda else ", a build without CUDA"
            return f"no CUDA GPU is usable on this machine (torch {torch.__version__}{built})"
        if device.index is not None and device.index >= torch.cuda.device_count():
            gpus = counted(torch.cuda.device_count(), "CUDA GPU")
            return f"this machine has {gpus}, numbered from 0"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "no Apple GPU (MPS) is usable on this machine"
    return None


def _add_combine(commands: argparse._SubParsersAction[Any]) -> None:
    combine = commands.add_parser(
        "combine",
        help="packs trained on the same split as one: the mean of their probabilities",
    )
    combine.add_argument("packs", type=Path, nargs="+", metavar="PACK",
                         help="two or more; the pack of the largest input side first")  # fmt: skip
    combine.add_argument("--data", type=Path, required=True,
                         help="the species folders the packs were trained on")  # fmt: skip
    combine.add_argument(
        "--out",
        type=output_folder,
        required=True,
        help="species pack folder to write; in the models folder (fish-default) writing it"
        " waits for a running `jaga models install`",
    )
    _add_replace(combine)
    combine.add_argument("--no-int8", action="store_true", help="skip the INT8 model")
    combine.add_argument("--name", default="fish-species", help="pack name")
    combine.add_argument("--version", help="pack version (default: date and model digest)")
    combine.add_argument("--source", default="", help="data source, as for train")
    combine.add_argument("--terms", default="", help="terms of use of the data (free text)")
    combine.add_argument("--known-acceptance", type=float, default=DEFAULT_KNOWN_ACCEPTANCE)
    combine.add_argument("--review-precision", type=float, default=DEFAULT_REVIEW_PRECISION)
    combine.set_defaults(handler=_combine)


def _add_replace(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--replace",
        action="store_true",
        help="replace the species pack --out holds (without it, such a pack is refused)",
    )


def _claim_out(out: Path, replace: bool) -> None:
    """Refuse an ``--out`` that holds a pack unless ``--replace`` (then say which pack
    goes), and always one that holds anything else: the new pack replaces the folder whole.
    The pack before that a run killed mid-write left retired aside is put back first, so it
    is the pack this run finds (and replaces only with ``--replace``)."""
    from inference.fish.pack import MANIFEST, restore_retired

    if restore_retired(out):
        _print(f"put back the pack in {out} an interrupted write had set aside")
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
    _print(f"replacing pack {pack} in {out}")


def _pack_label(manifest: Path) -> str:
    try:
        fields = json.loads(manifest.read_text(encoding="utf-8"))
        return f"{fields['name']} {fields['version']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "(its manifest.json cannot be read)"


def _combine(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.ensemble import combine_packs
        from inference.fish.packing import TrainOptions

        options = TrainOptions(
            data=args.data, out=args.out, int8=not args.no_int8, name=args.name,
            version=args.version, source=_source(args.source, args.terms),
            known_acceptance=args.known_acceptance, review_precision=args.review_precision,
            command=_command_line(), write_lock=functools.partial(_install_lock_of, args.out, None),
        )  # fmt: skip
        _claim_out(args.out, args.replace)
        pack = combine_packs(args.packs, options, _print)
        _print(f"pack {pack.version}: {pack.root}")
        _print(f"validation: {_validation_line(pack.training())}")

    return _guarded(run)


def _add_eval(commands: argparse._SubParsersAction[Any]) -> None:
    ev = commands.add_parser("eval", help="evaluate a species pack on species folders")
    ev.add_argument("--data", type=Path, required=True, help="folder of species folders")
    ev.add_argument("--pack", type=Path, help="species pack (default: the installed default)")
    ev.add_argument(
        "--out", type=output_file, required=True, help="R.json; PNGs are written beside it"
    )
    ev.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    ev.add_argument(
        "--split",
        choices=["all", "validation"],
        default="all",
        help="validation: only the pack's validation groups and held-out species",
    )
    ev.add_argument("--threads", type=thread_count, default=None)
    ev.add_argument("--not-fish", type=Path, nargs="+", default=[], metavar="DIR",
                    help="folders of photos that are not fish (faces, decks): familiarity "
                    "AUROC and the share of them the pack rejects")  # fmt: skip
    ev.set_defaults(handler=_eval)  # fmt: skip


def _add_export(commands: argparse._SubParsersAction[Any]) -> None:
    ex = commands.add_parser(
        "export-training-set", help="turn confirmed corrections into species folders"
    )
    ex.add_argument(
        "--corrections",
        type=Path,
        nargs="+",
        required=True,
        metavar="CSV",
        help="CSV with columns file,confirmed_species[,group]; several exports' CSVs in any"
        " order (read in the order their exported_at says), a fish in two taking the later"
        " one's verdict; CSVs without exported_at in the order given, read after the others"
        " when listed after every CSV that has one, before them otherwise",
    )
    where = ex.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=output_folder, help="a new folder to write species folders in")
    where.add_argument(
        "--add-to",
        type=Path,
        metavar="DATA",
        help="a training folder to add the images to, into its species folders; its images"
        " keep their groups and groups.csv gains the corrections'",
    )
    ex.add_argument("--base", type=Path, help="folder the CSV's relative file paths start from")
    ex.add_argument("--species-from", type=Path, help="a pack whose species names to use")
    ex.set_defaults(handler=_export)  # fmt: skip


def _add_build(commands: argparse._SubParsersAction[Any]) -> None:
    build = commands.add_parser(
        "build-pack", help="build a species pack from a stored head (e.g. assets/fish/default)"
    )
    build.add_argument("--head", type=Path, required=True, help="folder with head.json etc.")
    build.add_argument("--out", type=output_folder, required=True,
                       help="species pack folder to write; in the models folder (fish-default)"
                       " the build waits for a running `jaga models install`")  # fmt: skip
    build.add_argument("--models-dir", type=Path, help="installed model pack (the backbone)")
    build.add_argument("--backbone", choices=BACKBONES, default=BACKBONE_ID,
                       help="the backbone the head was trained on")  # fmt: skip
    build.add_argument("--calibration", type=Path,
                       help="species folders whose photos calibrate an INT8 model too")  # fmt: skip
    build.set_defaults(handler=_build)


def _add_bench(commands: argparse._SubParsersAction[Any]) -> None:
    bench = commands.add_parser("bench", help="FP32 vs INT8 latency of a pack, in one run")
    bench.add_argument("--pack", type=Path, help="species pack (default: the installed default)")
    bench.add_argument("--data", type=Path, required=True, help="species folders to draw from")
    bench.add_argument("--runs", type=int, default=50, help="single-image calls per precision")
    bench.add_argument("--threads", type=thread_count, default=1, help="0: all cores")
    bench.set_defaults(handler=_bench)


def _train(args: argparse.Namespace) -> int:
    return _guarded(lambda: _run_train(args))


def _run_train(args: argparse.Namespace) -> None:
    from inference.fish.packing import TrainOptions

    epochs = {"epochs": args.epochs} if args.epochs is not None else {}
    head = HeadConfig(**{"hidden": args.hidden, **epochs, **_settings(HeadConfig, args.set)})
    options = TrainOptions(
        data=args.data, out=args.out, holdout=tuple(args.holdout), seed=args.seed,
        views=args.views, taps=tuple(args.taps), backbone=args.backbone,
        validation_fraction=args.validation_fraction, head=head,
        known_acceptance=args.known_acceptance, review_precision=args.review_precision,
        int8=not args.no_int8, name=args.name, version=args.version,
        source=_source(args.source, args.terms), command=_command_line(),
        write_lock=functools.partial(_install_lock_of, args.out, args.models_dir),
    )  # fmt: skip
    _claim_out(args.out, args.replace)
    if args.mode == "finetune":
        from inference.fish.finetune import finetune_pack

        config = FinetuneConfig(**{**epochs, **_settings(FinetuneConfig, args.set),
                                   "seed": args.seed})  # fmt: skip
        pack = finetune_pack(options, config, _pth(args), args.device, _print)
    else:
        from inference.fish.train import train_head_pack

        _set_threads(args.threads)
        pack = train_head_pack(options, _backbone(args), _print)
        if args.keep_head:
            from inference.fish.default_pack import save_assets

            save_assets(pack, args.keep_head)
            _print(f"kept the head and its card in {args.keep_head}")
    _print(f"pack {pack.version}: {pack.root}")
    _print(f"validation: {_validation_line(pack.training())}")


def _eval(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.evaluate import evaluate_folder

        report = evaluate_folder(
            args.data, _pack_root(args.pack), args.out, precision=args.precision,
            split=args.split, threads=args.threads, not_fish=args.not_fish, progress=_print,
        )  # fmt: skip
        ms = report["seconds_per_image"] * 1000
        _print(f"top1 {report['top1']:.4f}  answered_top1 {report['answered_top1']:.4f}  "
               f"macro_f1 {report['macro_f1']:.4f}  ece {report['ece']:.4f}  "
               f"{ms:.1f} ms/image")  # fmt: skip
        _print(_familiarity_line(report["familiarity"]))
        worst = report["worst_recall"]
        if worst:
            _print(f"worst recall of a species with >= {worst['min_groups']} tracks: "
                   f"{worst['species']} {worst['recall']:.2f}")  # fmt: skip
        _print(f"wrote {args.out}")

    return _guarded(run)


def _familiarity_line(familiarity: dict[str, Any] | None) -> str:
    if familiarity is None:
        return "familiarity: none (this pack's model never answers no_fish by it)"
    line = (f"familiarity threshold {familiarity['threshold']:.4f}: {familiarity['no_fish']} of "
            f"{familiarity['n']} fish turned away as no_fish")  # fmt: skip
    others = familiarity["not_fish"]
    if others and others["rejected_rate"] is not None:
        auroc = "n/a" if others["auroc"] is None else f"{others['auroc']:.5f}"
        rejected = others["unfamiliar"] + others["gate_rejected"]  # a rate would round to 100 %
        line += f"; not fish: {rejected} of {others['n']} rejected, AUROC {auroc}"
    return line


def _export(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.corrections import export_training_set
        from inference.fish.merge import add_training_set

        if args.add_to is not None:
            added = add_training_set(args.corrections, args.add_to, base=args.base,
                                     species_pack=args.species_from, say=_print)  # fmt: skip
            for removed in added.removed:
                _print(f"removed {removed}: taken back by a later export (not a fish, or"
                       " its photo's observations now disagree)")  # fmt: skip
            new, held = counted(added.new, "image"), counted(added.held, "image")
            _print(f"added {new} to {args.add_to} (their groups in groups.csv)")
            if added.held:
                _print(f"not added again, as {args.add_to} already held them: {held}")
            return
        written = export_training_set(args.corrections, args.out, base=args.base,
                                      species_pack=args.species_from, say=_print)  # fmt: skip
        _print(f"wrote {counted(written, 'image')} to {args.out} (with groups.csv, species.csv and"
               " added-corrections.csv)")  # fmt: skip

    if args.add_to is None:
        return _guarded(run, f"nothing was written to {args.out}; run the command again")
    return _guarded(
        run,
        f"{args.add_to} holds the add whole or not at all (one stopped part"
        " way is undone by whatever reads it next); run the command again",
    )


def _build(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.default_pack import build_from_head

        with _install_lock_of(args.out, args.models_dir):
            pack = build_from_head(
                args.head, args.out, _backbone_path(args), calibration=args.calibration,
                note=_print,
            )  # fmt: skip
        _print(f"pack {pack.version}: {pack.root}")

    return _guarded(run)


def _install_lock_of(out: Path, models_dir: Path | None) -> AbstractContextManager[None]:
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
        return install_lock(folder, _print)
    return contextlib.nullcontext()


def _bench(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.bench import bench_pack

        result = bench_pack(_pack_root(args.pack), args.data, runs=args.runs, threads=args.threads)
        _print(json.dumps(result, indent=2))

    return _guarded(run)


def _guarded(run: Any, interrupted: str = "no pack was written; run the command again") -> int:
    """``run``, its errors printed; a Ctrl-C says what it left (``--add-to`` says itself)."""
    try:
        run()
    except InferenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"interrupted: {exc.args[0] if exc.args else interrupted}", file=sys.stderr)
        return 130
    return 0


def _backbone(args: argparse.Namespace) -> Any:
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


def _backbone_path(args: argparse.Namespace) -> Path:
    from inference.pack.installed import ModelPack

    return ModelPack(args.models_dir).model(args.backbone).path


def _pth(args: argparse.Namespace) -> Path:
    if args.pth is not None:
        return Path(args.pth)
    from inference.pack.installed import ModelPack

    return ModelPack(args.models_dir).source_path(args.backbone, "pth")


def _set_threads(threads: int | None) -> None:
    """``--threads`` goes to the backbone; the head's small matrices train on one thread.

    On shared cores a multi-threaded torch spends much of its time waiting for its own
    workers, and the head's matrices are too small to gain from a second thread.
    """
    del threads
    import torch

    torch.set_num_threads(1)


def _pack_root(pack: Path | None) -> Path:
    if pack is not None:
        return pack
    from inference.fish.installed import installed_default_pack

    return installed_default_pack()


def _settings(config: type, pairs: list[str]) -> dict[str, Any]:
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


def _source(source: str, terms: str) -> DataSource:
    if source in KNOWN_SOURCES and not terms:
        return KNOWN_SOURCES[source]
    if not source and not terms:
        return UNSPECIFIED
    return DataSource(source or UNSPECIFIED.name, terms or UNSPECIFIED.terms)


def _validation_line(training: dict[str, Any]) -> str:
    v = training.get("validation", {})
    line = f"top1 {v.get('top1', float('nan')):.4f}, macro_f1 {v.get('macro_f1', float('nan')):.4f}"
    open_set = training.get("open_set")
    return line + (f", open-set AUROC {open_set['auroc']:.4f}" if open_set else "")


def _command_line() -> str:
    return "jaga " + shlex.join(sys.argv[1:])


def _print(line: str) -> None:
    print(line, flush=True)
