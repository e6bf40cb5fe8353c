"""What each ``jaga fish`` command runs, once :mod:`inference.fish.cli` has read its options.

Each handler runs its command under ``_guarded``, which prints an error in one line and says
what a Ctrl-C left, and prints what the command made (the pack and its validation line, the
evaluation's summary). Apart from the parser, so that the parser reads as the commands'
options and this module as what they do.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any

from inference.errors import InferenceError
from inference.fish.cli_support import (
    backbone_of,
    backbone_path_of,
    claim_out,
    command_line,
    data_source_of,
    install_lock_of,
    pack_root_of,
    say,
    set_threads,
    settings_from,
    weights_file_of,
)
from inference.fish.config import FinetuneConfig, HeadConfig
from inference.plural import counted


def combine_command(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.ensemble import combine_packs
        from inference.fish.packing import TrainOptions

        options = TrainOptions(
            data=args.data, out=args.out, int8=not args.no_int8, name=args.name,
            version=args.version, source=data_source_of(args.source, args.terms),
            known_acceptance=args.known_acceptance, review_precision=args.review_precision,
            command=command_line(), write_lock=functools.partial(install_lock_of, args.out, None),
        )  # fmt: skip
        claim_out(args.out, args.replace)
        pack = combine_packs(args.packs, options, say)
        say(f"pack {pack.version}: {pack.root}")
        say(f"validation: {_validation_line(pack.training())}")

    return _guarded(run)


def train_command(args: argparse.Namespace) -> int:
    return _guarded(lambda: _run_train(args))


def _run_train(args: argparse.Namespace) -> None:
    from inference.fish.packing import TrainOptions

    epochs = {"epochs": args.epochs} if args.epochs is not None else {}
    head = HeadConfig(**{"hidden": args.hidden, **epochs, **settings_from(HeadConfig, args.set)})
    options = TrainOptions(
        data=args.data, out=args.out, holdout=tuple(args.holdout), seed=args.seed,
        views=args.views, taps=tuple(args.taps), backbone=args.backbone,
        validation_fraction=args.validation_fraction, head=head,
        known_acceptance=args.known_acceptance, review_precision=args.review_precision,
        int8=not args.no_int8, name=args.name, version=args.version,
        source=data_source_of(args.source, args.terms), command=command_line(),
        write_lock=functools.partial(install_lock_of, args.out, args.models_dir),
    )  # fmt: skip
    claim_out(args.out, args.replace)
    if args.mode == "finetune":
        from inference.fish.finetune import finetune_pack

        config = FinetuneConfig(**{**epochs, **settings_from(FinetuneConfig, args.set),
                                   "seed": args.seed})  # fmt: skip
        pack = finetune_pack(options, config, weights_file_of(args), args.device, say)
    else:
        from inference.fish.train import train_head_pack

        set_threads(args.threads)
        pack = train_head_pack(options, backbone_of(args), say)
        if args.keep_head:
            from inference.fish.default_pack import save_assets

            save_assets(pack, args.keep_head)
            say(f"kept the head and its card in {args.keep_head}")
    say(f"pack {pack.version}: {pack.root}")
    say(f"validation: {_validation_line(pack.training())}")


def eval_command(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.evaluate import evaluate_folder

        report = evaluate_folder(
            args.data, pack_root_of(args.pack), args.out, precision=args.precision,
            split=args.split, threads=args.threads, not_fish=args.not_fish, progress=say,
        )  # fmt: skip
        ms = report["seconds_per_image"] * 1000
        say(f"top1 {report['top1']:.4f}  answered_top1 {report['answered_top1']:.4f}  "
               f"macro_f1 {report['macro_f1']:.4f}  ece {report['ece']:.4f}  "
               f"{ms:.1f} ms/image")  # fmt: skip
        say(_familiarity_line(report["familiarity"]))
        worst = report["worst_recall"]
        if worst:
            say(f"worst recall of a species with >= {worst['min_groups']} tracks: "
                   f"{worst['species']} {worst['recall']:.2f}")  # fmt: skip
        say(f"wrote {args.out}")

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


def export_command(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.corrections import export_training_set
        from inference.fish.errors import DatasetError
        from inference.fish.merge import add_training_set

        if args.add_to is not None:
            added = add_training_set(args.corrections, args.add_to, base=args.base,
                                     species_pack=args.species_from,
                                     new_species=args.new_species, say=say)  # fmt: skip
            for removed in added.removed:
                say(f"removed {removed}: taken back by a later export (not a fish, or"
                       " its photo's observations now disagree)")  # fmt: skip
            new, held = counted(added.new, "image"), counted(added.held, "image")
            say(f"added {new} to {args.add_to} (their groups in groups.csv)")
            if added.held:
                say(f"not added again, as {args.add_to} already held them: {held}")
            return
        if args.new_species:  # every species of a new folder is new there
            raise DatasetError("--new-species is for --add-to: --out makes every species' folder")
        written = export_training_set(args.corrections, args.out, base=args.base,
                                      species_pack=args.species_from, say=say)  # fmt: skip
        say(f"wrote {counted(written, 'image')} to {args.out} (with groups.csv, species.csv and"
               " added-corrections.csv)")  # fmt: skip

    if args.add_to is None:
        return _guarded(run, f"nothing was written to {args.out}; run the command again")
    return _guarded(
        run,
        f"{args.add_to} holds the add whole or not at all (one stopped part"
        " way is undone by whatever reads it next); run the command again",
    )


def build_command(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.default_pack import build_from_head

        with install_lock_of(args.out, args.models_dir):
            pack = build_from_head(
                args.head, args.out, backbone_path_of(args), calibration=args.calibration,
                note=say,
            )  # fmt: skip
        say(f"pack {pack.version}: {pack.root}")

    return _guarded(run)


def bench_command(args: argparse.Namespace) -> int:
    def run() -> None:
        from inference.fish.bench import bench_pack

        result = bench_pack(
            pack_root_of(args.pack), args.data, runs=args.runs, threads=args.threads
        )
        say(json.dumps(result, indent=2))

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


def _validation_line(training: dict[str, Any]) -> str:
    v = training.get("validation", {})
    line = f"top1 {v.get('top1', float('nan')):.4f}, macro_f1 {v.get('macro_f1', float('nan')):.4f}"
    open_set = training.get("open_set")
    return line + (f", open-set AUROC {open_set['auroc']:.4f}" if open_set else "")
