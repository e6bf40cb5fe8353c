"""``jaga fish combine``: two or more species packs as one, the mean of their probabilities.

A head on frozen Lite2 features and a fine-tune at 160 px (Lite0 or Lite2) make different
mistakes on f4k: the head is better on the common damselfish, the fine-tune (class-weighted,
every layer trained) on the rare species. Averaging their calibrated probabilities beat both
on the track-disjoint validation split (figures in the combined pack's card and the issue
notes). Each member weighs the same; no weight is tuned, since the only images to tune it on
are the validation images the thresholds are then chosen on.

The combined pack is an ordinary pack to sync and the review loop. Its one ONNX graph takes
one input per side its members were trained at: the classifier letterboxes each crop once per
side, so every member sees the pixels it was trained on. (Resizing one letterbox inside the
graph instead changed 1.7-3.1 % of a 160 px fine-tune's answers on f4k and moved its top-1 by
-1.0 to +0.6 points; TensorRT's parser cannot take the antialiased resize either.) A pack of
several sides is schema 3, which readers of one input refuse whole; members of one side make
a pack of that side, as before. A combined pack may itself be a member: each of its inputs
is fed from the input of that side.

The mean is re-calibrated with its own temperature, and the open-set and review thresholds
are chosen again, on the same validation split the members were validated on. Members
validated on different splits are refused: thresholds fitted on one's validation images
would be fitted on images the other trained on.

A combined pack says "not a fish" as its first member that can does (a head with species
prototypes, or a fine-tune, from its own features; packs made before either had it cannot):
that member's ``familiarity`` is the pack's, its threshold
chosen again on the shared validation split, so the member's own (the INT8 graph's, on its
own familiarity, as for any pack). Without it the README's
best recipe named a species for a face, however sure its head member was that it was none.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from inference.fish import export
from inference.fish.dataset import reading
from inference.fish.errors import SpeciesMismatchError, SpeciesPackError
from inference.fish.graph_contract import (
    FAMILIARITY,
    FEATURES,
    OUTPUTS,
    PROBABILITIES,
    SPECIES_LOGITS,
    input_names,
)
from inference.fish.images import batch_inputs, read_image
from inference.fish.int8_familiarity import int8_files
from inference.fish.pack import MODEL_FILES, SpeciesPack, load_pack, sides_label
from inference.fish.packing import (
    Progress,
    Trained,
    TrainOptions,
    assess,
    with_familiarity,
    write_species_pack,
)
from inference.fish.trainset import PreparedData, prepare
from inference.fish.types import Species

_ENSEMBLE = "ensemble/"
# Mean probabilities below this are taken as this before the logarithm: a species every
# member rules out must not become -inf, which the softmax after it cannot take.
_FLOOR = 1e-30


@dataclass(frozen=True)
class _Member:
    pack: SpeciesPack
    training: dict[str, Any]
    position: int  # names its part of the graph (a pack may be combined with itself)

    @property
    def prefix(self) -> str:
        return f"{_ENSEMBLE}m{self.position}/"


def combine_packs(roots: Sequence[Path], options: TrainOptions, progress: Progress) -> SpeciesPack:
    """Write ``options.out``: the packs at ``roots`` (two or more) as one (see the module's
    notes); the first pack's side is the combined pack's first input, and its features the
    pack's features.

    ``options.data`` is the folder all were trained on; its split is rebuilt from the
    members' recorded seed, validation fraction and held-out species, and checked. DATA is
    held from its scan to the last photo read.
    """
    with reading(options.data):
        return _combine_packs(roots, options, progress)


def _combine_packs(roots: Sequence[Path], options: TrainOptions, progress: Progress) -> SpeciesPack:
    started = time.perf_counter()
    if len(roots) < 2:
        raise SpeciesPackError(f"combine takes two or more packs, not {len(roots)}")
    members = [_member(root, position) for position, root in enumerate(roots)]
    _check_compatible(members)
    options = replace(options, backbone=" + ".join(_backbone(m) for m in members))
    data = _same_split(members, options)
    for line in data.notes():  # each photo left out, as training says them
        progress(line)
    sides = tuple(dict.fromkeys(side for m in members for side in m.pack.input_sizes))
    uncalibrated = _session(_combined(members, "fp32", sides, temperature=1.0))
    validation = _outputs(uncalibrated, data, data.validation, sides)
    assessment = assess(
        data, validation[SPECIES_LOGITS], data.labels(data.validation),
        _outputs(uncalibrated, data, data.unknown, sides)[SPECIES_LOGITS], options,
    )  # fmt: skip
    if FAMILIARITY in validation:
        assessment = with_familiarity(assessment, validation[FAMILIARITY])
    temperature = assessment.thresholds.temperature
    all_int8 = options.int8 and all("int8" in m.pack.models for m in members)
    precisions = ["fp32", "int8"] if all_int8 else ["fp32"]
    with tempfile.TemporaryDirectory(prefix="jaga-fish-") as scratch:
        models = {}
        for precision in precisions:
            models[precision] = Path(scratch) / MODEL_FILES[precision]
            export.save_model(_combined(members, precision, sides, temperature), models[precision])
        files = int8_files(models, data, assessment.thresholds, sides, progress)
        trained = Trained("ensemble", models, members[0].pack.backbone_sha256,
                          _details(members, started), input_sizes=sides, files=files)  # fmt: skip
        return write_species_pack(data, assessment, trained, options, progress)


def _member(root: Path, position: int) -> _Member:
    pack = load_pack(root)
    return _Member(pack, pack.training(), position)


def _backbone(member: _Member) -> str:
    """What the card names: the member's backbone if its training record says (packs made
    before it did name the pack instead)."""
    return str(member.training.get("backbone") or f"{member.pack.name} {member.pack.version}")


def _combined(
    members: list[_Member], precision: str, sides: tuple[int, ...], temperature: float
) -> onnx.ModelProto:
    models = [onnx.load(m.pack.model_path(precision)) for m in members]
    return _mean_graph(models, members, sides, temperature)


def _mean_graph(
    models: list[onnx.ModelProto], members: list[_Member], sides: tuple[int, ...],
    temperature: float,
) -> onnx.ModelProto:  # fmt: skip
    """One graph: the input of each side -> the members of that side -> the mean of their
    probabilities -> ``log`` / ``temperature`` -> softmax. ``features`` are the first
    member's."""
    nodes: list[onnx.NodeProto] = []
    share = np.array(1 / len(members), np.float32)
    inits: list[TensorProto] = [
        numpy_helper.from_array(share, f"{_ENSEMBLE}share"),
        numpy_helper.from_array(np.array(_FLOOR, np.float32), f"{_ENSEMBLE}floor"),
        numpy_helper.from_array(np.array(temperature, np.float32), f"{_ENSEMBLE}temperature"),
    ]
    for model, member in zip(models, members, strict=True):
        renamed = onnx.compose.add_prefix(model, member.prefix)
        nodes += _member_inputs(member, sides)
        nodes += list(renamed.graph.node)
        inits += list(renamed.graph.initializer)
    e = _ENSEMBLE
    nodes += [
        helper.make_node("Sum", [f"{m.prefix}{PROBABILITIES}" for m in members], [f"{e}sum"],
                         name=f"{e}sum"),
        helper.make_node("Mul", [f"{e}sum", f"{e}share"], [f"{e}mean"], name=f"{e}mean"),
        helper.make_node("Max", [f"{e}mean", f"{e}floor"], [f"{e}floored"], name=f"{e}floor"),
        helper.make_node("Log", [f"{e}floored"], [f"{e}log"], name=f"{e}log"),
        helper.make_node("Div", [f"{e}log", f"{e}temperature"], [SPECIES_LOGITS], name=f"{e}div"),
        helper.make_node("Softmax", [SPECIES_LOGITS], [PROBABILITIES], axis=1, name=f"{e}softmax"),
        helper.make_node("Identity", [f"{members[0].prefix}{FEATURES}"], [FEATURES],
                         name=f"{e}features"),
    ]  # fmt: skip
    n_classes = len(members[0].pack.species)
    outputs = [
        helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["N", None]),
        *(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", n_classes])
          for name in (SPECIES_LOGITS, PROBABILITIES)),
    ]  # fmt: skip
    familiar = _familiar_member(models, members)
    if familiar is not None:
        nodes.append(helper.make_node("Identity", [f"{familiar.prefix}{FAMILIARITY}"],
                                      [FAMILIARITY], name=f"{e}familiarity"))  # fmt: skip
        outputs.append(helper.make_tensor_value_info(FAMILIARITY, TensorProto.FLOAT, ["N"]))
    graph = helper.make_graph(
        nodes, "jaga_fish_species_ensemble",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 3, side, side])
         for name, side in zip(input_names(sides), sides, strict=True)],
        outputs, initializer=inits,
    )  # fmt: skip
    opsets: dict[str, int] = {}  # one entry per domain, at the newest version among them
    for model in models:
        for o in model.opset_import:
            opsets[o.domain] = max(o.version, opsets.get(o.domain, 0))
    combined = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        producer_name="jaga", producer_version="1",
    )  # fmt: skip
    combined.ir_version = max(m.ir_version for m in models)
    onnx.checker.check_model(combined)
    if [o.name for o in combined.graph.output][: len(OUTPUTS)] != list(OUTPUTS):
        raise SpeciesPackError("the combined graph does not give the pack's outputs")
    return combined


def _familiar_member(models: list[onnx.ModelProto], members: list[_Member]) -> _Member | None:
    """The first member whose graph gives ``familiarity`` (see the module's notes)."""
    for model, member in zip(models, members, strict=True):
        if FAMILIARITY in [o.name for o in model.graph.output]:
            return member
    return None


def _member_inputs(member: _Member, sides: tuple[int, ...]) -> list[onnx.NodeProto]:
    """Each of the member's inputs is the graph input of its side."""
    graph_inputs = dict(zip(sides, input_names(sides), strict=True))
    own = member.pack
    return [
        helper.make_node("Identity", [graph_inputs[side]], [member.prefix + name],
                         name=member.prefix + name)
        for side, name in zip(own.input_sizes, own.input_names, strict=True)
    ]  # fmt: skip


def _check_compatible(members: list[_Member]) -> None:
    first = members[0].pack
    for other in (m.pack for m in members[1:]):
        if first.species != other.species or first.held_out != other.held_out:
            raise SpeciesPackError(
                f"packs {first.version} and {other.version} do not list the same species in "
                "the same order (and the same held-out species): their probabilities cannot "
                "be averaged"
            )


def _same_split(members: list[_Member], options: TrainOptions) -> PreparedData:
    settings = [_split_settings(m) for m in members]
    for other in settings[1:]:
        if other != settings[0]:
            raise SpeciesPackError(f"the packs were trained on different splits ({settings[0]} "
                                   f"vs {other}): combine packs trained with the same --seed, "
                                   "--validation-fraction and held-out species")  # fmt: skip
    seed, fraction, holdout = settings[0]
    data = prepare(options.data, holdout=holdout, validation_fraction=fraction, seed=seed)
    _check_species(data, members[0].pack, options.data)
    for member in members:
        recorded = member.training.get("split", {}).get("validation_groups")
        if sorted(data.validation_groups) != recorded:
            raise SpeciesPackError(
                f"{options.data} does not give the validation split pack "
                f"{member.pack.version} was validated on: not the folder it was trained on?"
            )
    return data


def _check_species(data: PreparedData, pack: SpeciesPack, root: Path) -> None:
    """The combined graph's outputs are in the pack's species order, and its thresholds are
    fitted on labels numbered in the folder's: they must be the same list. The split check
    alone cannot see it, since a species with a single track adds nothing to the validation
    groups (a renamed or removed folder of one track would shift every label after it)."""
    folder = (_ids(data.known), _ids(data.held_out))
    if folder != (_ids(pack.species), _ids(pack.held_out)):
        raise SpeciesMismatchError(
            f"the species folders of {root} ({', '.join(folder[0])}) are not the species pack "
            f"{pack.version} was trained on ({', '.join(_ids(pack.species))}): not the folder "
            "it was trained on?"
        )


def _ids(species: Sequence[Species]) -> list[str]:
    return [s.id for s in species]


def _split_settings(member: _Member) -> tuple[int, float, tuple[str, ...]]:
    t = member.training
    try:
        return (int(t["seed"]), float(t["split"]["validation_fraction"]),
                tuple(sorted(t["held_out"])))  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise SpeciesPackError(
            f"pack {member.pack.version} records no training split ({exc}): only packs made "
            "by `jaga fish train` can be combined"
        ) from exc


def _session(model: onnx.ModelProto) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _outputs(
    session: Any, data: PreparedData, indices: tuple[int, ...], sides: tuple[int, ...]
) -> dict[str, Any]:
    """The combined graph's logits (and familiarity, where it gives it) on the images at
    ``indices``, letterboxed as a device does."""
    names = [SPECIES_LOGITS]
    if FAMILIARITY in [o.name for o in session.get_outputs()]:
        names.append(FAMILIARITY)
    rows: dict[str, list[Any]] = {
        SPECIES_LOGITS: [np.zeros((0, len(data.known)), np.float32)],
        FAMILIARITY: [np.zeros(0, np.float32)],
    }
    paths = data.paths(indices)
    for start in range(0, len(paths), 64):
        images = [read_image(path) for path in paths[start : start + 64]]
        for name, value in zip(names, session.run(names, batch_inputs(images, sides)), strict=True):
            rows[name].append(value)
    return {name: np.concatenate(rows[name]) for name in names}


def _details(members: list[_Member], started: float) -> dict[str, Any]:
    return {
        "members": [_member_record(m) for m in members],
        "member_packs": "; ".join(
            f"{m.pack.name} {m.pack.version} ({m.training.get('mode')}, "
            f"{sides_label(m.pack.input_sizes)} px)"
            for m in members
        ),
        "combination": "mean of calibrated probabilities, re-calibrated",
        "timings": {"total_seconds": round(time.perf_counter() - started, 1)},
    }


def _member_record(member: _Member) -> dict[str, Any]:
    validation = member.training.get("validation", {})
    return {
        "name": member.pack.name,
        "version": member.pack.version,
        "mode": member.training.get("mode"),
        "input_sizes": list(member.pack.input_sizes),
        "fp32_sha256": member.pack.sha256[MODEL_FILES["fp32"]],
        "validation_top1": validation.get("top1"),
    }
