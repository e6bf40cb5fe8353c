"""``jaga fish eval``: a species pack against a folder of species folders.

Folders must be species the pack knows, or species it was trained without (``held_out``):
those are evaluated as ``unknown`` and give the open-set AUROC. Any other folder is an
error, since its images could only ever be counted wrong.

Each photo chosen is scored (it gets probabilities), or answered ``no_fish`` by the quality
gate (too small, one flat colour), or cannot be read. The report counts each as the device
would answer it in the field:

- A known species' photo the gate answers ``no_fish`` is a miss of its species: it counts in
  ``n`` and its species' ``n`` (``per_species`` counts it again as ``gate_rejected``), lowers
  that recall and F1, and ``top1`` and ``top5`` (no species is in its top 5). Having no
  probabilities, it is outside ``ece`` and the reliability diagram (over the ``ece_n``
  photos scored), the confusion matrix and ``mistakes`` (over top-1 answers). It is listed
  in ``gate_rejected`` with the gate's reason, as a held-out species' photo is.
- A held-out species' photo the gate answers ``no_fish`` is given no species, the open set's
  right answer: in ``open_set`` it counts in ``n_unknown`` and as ``unknown_rejected``, as a
  known one counts in ``n_known`` and not as ``known_accepted``. The AUROC is over the photos
  scored, as familiarity's AUROC of not-fish photos is over those familiarity scored
  (:mod:`inference.fish.familiarity_report`); ``gate_rejected`` there counts the others.
- A file that cannot be read (corrupt, empty, not an image) is a data problem, not an answer
  of the classifier: it is left out of every figure, said on the console one line a file as
  ``jaga fish train`` says it, counted in the ``evaluating`` line, and listed in ``skipped``
  with the reason.

``worst_recall`` is the lowest recall among species with at least ``MIN_TRACKS_FOR_RECALL``
tracks in the whole folder (not only in the split evaluated): the species there are enough
tracks of to judge.

``mistakes`` lists every known image the pack scored and got wrong, the most confident first.

``top1`` and the rest are from the probabilities, as before familiarity existed: they say how
well the pack tells its species apart, and a fish familiarity turns away keeps its top-1
there (the gate's ``no_fish`` has none to keep). ``answered_top1`` is what an officer gets:
the share of fish photos answered with their species, a fish turned away as ``no_fish``
(familiarity below the threshold, or the quality gate) counted as not identified.
``unknown_rate`` and ``review_rate`` are shares of ``n`` too: the gate's ``no_fish`` is not
``unknown``, and is flagged for review as every ``no_fish`` is. ``familiarity``
(:mod:`inference.fish.familiarity_report`) counts the fish familiarity turns away, among the
``ece_n`` it scored, and with ``not_fish`` folders measures what familiarity keeps out; it is
null for a pack (or a model at that precision) that uses no familiarity.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import ImageError
from inference.fish.classify import SpeciesClassifier
from inference.fish.dataset import FishDataset, Sample, load_dataset, reading, skipped_note
from inference.fish.errors import DatasetError, SpeciesMismatchError, SpeciesPackError
from inference.fish.familiarity_report import (
    NotFish,
    answered_top1,
    check_not_fish_folders,
    familiarity_summary,
    not_fish_images,
    score_not_fish,
)
from inference.fish.images import FloatArray, QualityGate, UInt8Image, read_image
from inference.fish.metrics import reliability
from inference.fish.pack import SpeciesPack, load_pack
from inference.fish.plots import confusion_png, reliability_png
from inference.fish.summary import (
    classification_summary,
    mistakes,
    open_set_summary,
    worst_recall,
)
from inference.plural import counted
from inference.runtime import ThreadBudget

Progress = Callable[[str], None]


@dataclass(frozen=True)
class _Loaded:
    """The photos chosen, read: those scored on each side (known species, held out), those
    the quality gate answers ``no_fish`` and those unreadable (each with its reason)."""

    known: list[tuple[Sample, UInt8Image]]
    unknown: list[tuple[Sample, UInt8Image]]
    no_fish: list[tuple[Sample, str]]
    unreadable: list[tuple[Sample, str]]
    known_ids: frozenset[str]

    def no_fish_known(self) -> list[Sample]:
        """The known species' photos the gate answered ``no_fish``: misses."""
        return [sample for sample, _ in self.no_fish if sample.species_id in self.known_ids]

    def no_fish_unknown(self) -> int:
        return len(self.no_fish) - len(self.no_fish_known())


def evaluate_folder(
    data: Path,
    pack_root: Path,
    out: Path,
    *,
    precision: str = "fp32",
    split: str = "all",
    threads: int | None = None,
    not_fish: Sequence[Path] = (),
    progress: Progress = lambda line: None,
) -> dict[str, Any]:
    """``not_fish``: folders of photos that are not fish, for what familiarity keeps out."""
    check_not_fish_folders(not_fish)
    pack = load_pack(pack_root)
    with reading(data):  # until the photos are read: an --add-to waits for them
        whole = load_dataset(data)
        dataset = _select(whole, pack, split)
        loaded = _load_images(dataset, pack, QualityGate())
    for sample, reason in loaded.unreadable:
        progress(skipped_note(sample.path, reason))
    classifier = SpeciesClassifier(
        pack, precision=precision, threads=ThreadBudget(threads) if threads else None
    )
    if not loaded.known:  # every figure would be NaN
        raise DatasetError(
            f"{data} holds no usable image of a species pack {pack.version} knows "
            f"({len(dataset.samples)} chosen by --split {split}, {len(loaded.unreadable)} of "
            f"them unreadable and {len(loaded.no_fish)} without a fish): nothing to evaluate"
            f"{_split_hint(split)}"
        )
    progress(_evaluating_line(loaded))
    started = time.perf_counter()
    known_p, known_f = classifier.scores([image for _, image in loaded.known])
    unknown_p = classifier.probabilities([image for _, image in loaded.unknown])
    seconds = (time.perf_counter() - started) / max(1, len(loaded.known) + len(loaded.unknown))
    report = _report(pack, loaded, known_p, unknown_p, seconds, tracks=whole.group_counts())
    report |= _familiarity(
        classifier, loaded, known_p, known_f, not_fish=not_fish, progress=progress
    )
    report |= {"pack": str(pack_root), "data": str(data), "split": split, "precision": precision,
               "provider": classifier.provider}  # fmt: skip
    _write(report, known_p, loaded, pack, out)
    return report


def _select(dataset: FishDataset, pack: SpeciesPack, split: str) -> FishDataset:
    known = {s.id for s in pack.species}
    held_out = {s.id for s in pack.held_out}
    strangers = sorted(set(dataset.species_ids) - known - held_out)
    if strangers:
        raise SpeciesMismatchError(
            f"{dataset.root} has species folders that pack {pack.version} does not know: "
            f"{', '.join(strangers)}; known: {', '.join(sorted(known))}"
        )
    if split == "all":
        return dataset
    groups = set(pack.training().get("split", {}).get("validation_groups", []))
    if not groups:
        raise SpeciesPackError(f"pack {pack.version} records no validation split")
    keep = [
        i for i, s in enumerate(dataset.samples) if s.group in groups or s.species_id in held_out
    ]  # fmt: skip
    return dataset.subset(keep)


def _split_hint(split: str) -> str:
    """Why a validation split can choose no photo of a known species."""
    if split != "validation":
        return ""
    return (
        "; --split validation takes the photos in the groups the pack was validated on, and"
        " none is: the folder holds only its training photos, or its groups are named"
        " otherwise since it was trained (a groups.csv written later, such as by"
        " export-training-set --add-to, names every group anew); --split all takes them all"
    )


def _load_images(dataset: FishDataset, pack: SpeciesPack, gate: QualityGate) -> _Loaded:
    result = _Loaded([], [], [], [], frozenset(s.id for s in pack.species))
    for sample in dataset.samples:
        try:
            image = read_image(sample.path)
        except ImageError as exc:
            result.unreadable.append((sample, str(exc)))
            continue
        reason = gate.reject_reason(image)
        if reason:
            result.no_fish.append((sample, reason))
        elif sample.species_id in result.known_ids:
            result.known.append((sample, image))
        else:
            result.unknown.append((sample, image))
    return result


def _evaluating_line(loaded: _Loaded) -> str:
    """What is evaluated, the gate's ``no_fish`` answers among it, and what was left out."""
    n_known = len(loaded.known) + len(loaded.no_fish_known())
    n_unknown = len(loaded.unknown) + loaded.no_fish_unknown()
    line = f"evaluating {n_known} known and {n_unknown} unknown images"
    answers = [f"{count} {side}" for count, side in (
        (len(loaded.no_fish_known()), "known (misses)"),
        (loaded.no_fish_unknown(), "unknown (rejected)"),
    ) if count]  # fmt: skip
    if answers:
        line += (f"; the quality gate answers no_fish for {' and '.join(answers)}, listed"
                 " as gate_rejected")  # fmt: skip
    if loaded.unreadable:
        line += f"; {counted(len(loaded.unreadable), 'unreadable file')} left out"
    return line


def _listed(rows: Sequence[tuple[Sample, str]]) -> list[dict[str, str]]:
    return [{"file": sample.relative, "reason": reason} for sample, reason in rows]


def _labels(pack: SpeciesPack, samples: Sequence[Sample]) -> np.ndarray[Any, np.dtype[np.int64]]:
    index = {s.id: i for i, s in enumerate(pack.species)}
    return np.array([index[s.species_id] for s in samples], dtype=np.int64)


def _report(
    pack: SpeciesPack,
    loaded: _Loaded,
    known_p: FloatArray,
    unknown_p: FloatArray,
    seconds_per_image: float,
    *,
    tracks: dict[str, int],
) -> dict[str, Any]:
    """``tracks``: each species' groups in the whole folder, for ``worst_recall``."""
    labels = _labels(pack, [sample for sample, _ in loaded.known])
    missed = _labels(pack, loaded.no_fish_known())
    summary = classification_summary(known_p, labels, pack.species, missed)
    gated = np.bincount(missed, minlength=len(pack.species)).tolist()
    for row, count in zip(summary["per_species"].values(), gated, strict=True):
        row["gate_rejected"] = count
    t = pack.thresholds
    confidence = known_p.max(axis=1)
    n = summary["n"]  # never 0: some known photo was scored
    report: dict[str, Any] = {
        **summary,
        "seconds_per_image": seconds_per_image,
        "pack_version": pack.version,
        "unknown_rate": int((confidence < t.open_set).sum()) / n,
        "review_rate": (int(t.flags_for_review(confidence).sum()) + len(missed)) / n,
        "skipped": _listed(loaded.unreadable),
        "gate_rejected": _listed(loaded.no_fish),
        "open_set": None,
        "worst_recall": worst_recall(summary, tracks),
        "mistakes": mistakes(
            known_p, labels, pack.species, [sample.relative for sample, _ in loaded.known]
        ),
    }
    if len(unknown_p) or loaded.no_fish_unknown():
        report["open_set"] = open_set_summary(
            confidence, unknown_p.max(axis=1), t.open_set,
            gate_rejected=(len(missed), loaded.no_fish_unknown()),
        )  # fmt: skip
    return report


def _familiarity(
    classifier: SpeciesClassifier,
    loaded: _Loaded,
    known_p: FloatArray,
    known_f: FloatArray | None,
    *,
    not_fish: Sequence[Path],
    progress: Progress,
) -> dict[str, Any]:
    """``familiarity`` and ``answered_top1`` (see the module's doc)."""
    labels = _labels(classifier.pack, [sample for sample, _ in loaded.known])
    predicted = known_p.argmax(axis=1)
    gated = len(loaded.no_fish_known())
    threshold = classifier.familiarity_threshold
    if threshold is None or known_f is None:
        turned_away = np.zeros(len(labels), dtype=bool)
        return {
            "familiarity": None,
            "answered_top1": answered_top1(predicted, labels, turned_away, gated),
        }
    others: NotFish | None = None
    if not_fish:
        paths = not_fish_images(not_fish)
        progress(f"scoring familiarity of {len(paths)} images that are not fish")
        others = score_not_fish(paths, QualityGate(), _familiarity_of(classifier))
    summary = familiarity_summary(threshold, known_f, labels, classifier.pack.species, others)
    return {
        "familiarity": summary,
        "answered_top1": answered_top1(predicted, labels, known_f < threshold, gated),
    }


def _familiarity_of(classifier: SpeciesClassifier) -> Callable[[Sequence[UInt8Image]], FloatArray]:
    def familiarity(images: Sequence[UInt8Image]) -> FloatArray:
        values = classifier.scores(images)[1]
        return values if values is not None else np.zeros(0, dtype=np.float32)

    return familiarity


def _write(
    report: dict[str, Any], known_p: FloatArray, loaded: _Loaded, pack: SpeciesPack, out: Path
) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    labels = _labels(pack, [sample for sample, _ in loaded.known])
    figures = {
        "confusion_matrix": stem.with_name(stem.name + "_confusion.png"),
        "reliability_diagram": stem.with_name(stem.name + "_reliability.png"),
    }
    confusion_png(np.array(report["confusion_matrix"]), [s.id for s in pack.species],
                  figures["confusion_matrix"])  # fmt: skip
    if len(labels):
        reliability_png(reliability(known_p, labels), figures["reliability_diagram"])
    report["figures"] = {name: path.name for name, path in figures.items()}
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
