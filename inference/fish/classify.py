"""On-device species classification with a verified species pack.

One photo may hold several fish: :meth:`SpeciesClassifier.classify` takes the crops of one
photo (or of many) and runs them as one batch. A pack whose model gives ``familiarity`` and
whose thresholds name its threshold answers ``no_fish`` for a crop like none of its species
(a face, a room), which the quality gate passes and the top-1 probability cannot tell; other
packs answer as before. The pack can be switched while the classifier
is in use; a pack that fails verification, or whose model will not load, is refused and the
current pack stays in use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from inference.errors import ChecksumMismatchError, InputError
from inference.fish.calibrate import Thresholds
from inference.fish.errors import PackVerificationError, SpeciesPackError
from inference.fish.graph_contract import FAMILIARITY, PROBABILITIES
from inference.fish.images import (
    DEFAULT_GATE,
    FloatArray,
    QualityGate,
    UInt8Image,
    batch_inputs,
    check_rgb,
    read_image,
)
from inference.fish.pack import SpeciesPack, load_pack, sides_label
from inference.fish.types import FishPrediction, FishStatus, SpeciesScore
from inference.pack.installed import InstalledModel, default_pack_dir
from inference.pack.manifest import InputContract, ModelSpec
from inference.runtime import OnnxSession, Precision, ProviderPlan, ThreadBudget
from inference.runtime.providers import plan_providers
from inference.runtime.session import SessionConfig
from inference.runtime.tensorrt import MAX_BATCH

log = logging.getLogger(__name__)
DEFAULT_TOP_K = 5


@dataclass(frozen=True)
class _Loaded:
    pack: SpeciesPack
    session: OnnxSession
    probabilities_index: int
    familiarity_index: int | None  # None: the pack gives no familiarity, or no threshold for it
    thresholds: Thresholds  # the pack's, for the model of this precision


class SpeciesClassifier:
    """Top-k species with calibrated probabilities, ``unknown`` and review flags."""

    def __init__(
        self,
        pack: SpeciesPack,
        *,
        precision: str = "fp32",
        plan: ProviderPlan | None = None,
        threads: ThreadBudget | None = None,
        engines_dir: Path | None = None,
        gate: QualityGate = DEFAULT_GATE,
        batch_size: int = MAX_BATCH,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:  # the TensorRT engines take no larger batch
            raise ValueError(f"batch_size must be at least 1 and at most {MAX_BATCH}")
        self._precision = precision
        self._config = SessionConfig(
            plan=plan or plan_providers(ort.get_available_providers(), precision=Precision.FP16),
            threads=threads or ThreadBudget.share_cores(sessions=1),
            engines_dir=engines_dir or default_pack_dir() / "engines",
        )
        self._gate = gate
        self._batch_size = batch_size
        self._switching = threading.Lock()
        self._loaded = self._load(pack)

    @classmethod
    def from_path(cls, root: Path, **options: object) -> SpeciesClassifier:
        return cls(load_pack(root), **options)  # type: ignore[arg-type]

    @property
    def pack(self) -> SpeciesPack:
        return self._loaded.pack

    @property
    def provider(self) -> str:
        return self._loaded.session.provider

    @property
    def familiarity_threshold(self) -> float | None:
        """The familiarity below which this classifier answers ``no_fish``; None where it
        uses none (the pack, or its model at this precision, has no familiarity)."""
        loaded = self._loaded
        return None if loaded.familiarity_index is None else loaded.thresholds.familiarity

    def switch_pack(self, root: Path) -> SpeciesPack:
        """Verify and load the pack at ``root``, then use it; on any error keep the current one."""
        with self._switching:
            loaded = self._load(load_pack(root))
            previous, self._loaded = self._loaded.pack, loaded
        log.info("species pack %s -> %s", previous.version, loaded.pack.version)
        return loaded.pack

    def classify(
        self, images: Sequence[UInt8Image], top_k: int = DEFAULT_TOP_K
    ) -> list[FishPrediction]:
        """One prediction per RGB uint8 image (crops of the fish), in order."""
        loaded = self._loaded  # one pack for the whole call, even if switched meanwhile
        checked = [check_rgb(image) for image in images]
        reasons = [self._gate.reject_reason(image) for image in checked]
        usable = [i for i, reason in enumerate(reasons) if reason is None]
        probabilities, familiarity = self._scores([checked[i] for i in usable], loaded)
        rows = dict(zip(usable, probabilities, strict=True))
        familiar = dict(zip(usable, familiarity, strict=True)) if familiarity is not None else {}
        return [
            _prediction(loaded.pack, loaded.thresholds, rows[i], top_k, familiar.get(i))
            if i in rows
            else _no_fish(loaded.pack, reasons[i] or "")
            for i in range(len(checked))
        ]  # fmt: skip

    def classify_files(
        self, paths: Sequence[Path], top_k: int = DEFAULT_TOP_K
    ) -> list[FishPrediction]:
        """As :meth:`classify`; a file that cannot be decoded raises :class:`ImageError`."""
        return self.classify([read_image(path) for path in paths], top_k)

    def probabilities(
        self, images: Sequence[UInt8Image], loaded: _Loaded | None = None
    ) -> FloatArray:
        """Calibrated probabilities ``[N, C]`` for raw RGB crops, without the quality gate."""
        return self._scores(images, loaded or self._loaded)[0]

    def scores(self, images: Sequence[UInt8Image]) -> tuple[FloatArray, FloatArray | None]:
        """Probabilities ``[N, C]`` and familiarity ``[N]`` (None where this classifier uses
        none, see :attr:`familiarity_threshold`), without the quality gate."""
        return self._scores(images, self._loaded)

    def _scores(
        self, images: Sequence[UInt8Image], loaded: _Loaded
    ) -> tuple[FloatArray, FloatArray | None]:
        """Probabilities ``[N, C]`` and, where the pack gives it, familiarity ``[N]``."""
        sides = loaded.pack.input_sizes
        rows = [np.zeros((0, len(loaded.pack.species)), dtype=np.float32)]
        familiar = [np.zeros(0, dtype=np.float32)]
        for start in range(0, len(images), self._batch_size):
            outputs = loaded.session.run(
                batch_inputs(images[start : start + self._batch_size], sides)
            )
            rows.append(outputs[loaded.probabilities_index])
            if loaded.familiarity_index is not None:
                familiar.append(outputs[loaded.familiarity_index].reshape(-1))
        familiarity = None
        if loaded.familiarity_index is not None:
            familiarity = np.concatenate(familiar).astype(np.float32)
        return np.concatenate(rows).astype(np.float32), familiarity

    def _load(self, pack: SpeciesPack) -> _Loaded:
        path = pack.model_path(self._precision)
        spec = _session_spec(pack, path)
        try:  # the warm-up runs one image of the declared side through the model
            session = OnnxSession(InstalledModel(spec, path, pack.sha256[path.name]), self._config)
        except ChecksumMismatchError as exc:  # changed since the pack was verified
            raise PackVerificationError(f"pack {pack.version}: {exc}; the pack is refused") from exc
        except InputError as exc:
            raise SpeciesPackError(
                f"pack {pack.version}: its model does not take the {sides_label(pack.input_sizes)} "
                f"px input its manifest declares ({exc}); the pack is refused"
            ) from exc
        index = _probabilities_index(pack, session)
        thresholds = pack.thresholds_for(self._precision)
        familiarity = _familiarity_index(pack, thresholds, session)
        return _Loaded(pack, session, index, familiarity, thresholds)


def _probabilities_index(pack: SpeciesPack, session: OnnxSession) -> int:
    """Where the model answers, once its warm-up (one input of the declared sides) shows it
    gives one probability per species of ``species.json``: a model of another width would
    name the wrong species, or none, on the first photo."""
    if PROBABILITIES not in session.output_names:
        raise SpeciesPackError(
            f"pack {pack.version}: its model has no {PROBABILITIES!r} output; the pack is refused"
        )
    shape = (session.warmup_shapes or {}).get(PROBABILITIES)  # its sessions always warm up
    if shape != (1, len(pack.species)):
        raise SpeciesPackError(
            f"pack {pack.version}: its model gives probabilities of shape {shape} for one crop, "
            f"not one per each of the {len(pack.species)} species its list names; the pack is "
            "refused"
        )
    return session.output_names.index(PROBABILITIES)


def _familiarity_index(
    pack: SpeciesPack, thresholds: Thresholds, session: OnnxSession
) -> int | None:
    """Where the model gives familiarity, if it does and the pack has a threshold for it
    (for this model: an INT8 one has its own). One without the other (a graph rebuilt by
    hand, thresholds edited, an INT8 model made before it had its own) is used as a pack
    without familiarity: that answers as every pack did before it, never worse."""
    if FAMILIARITY not in session.output_names or thresholds.familiarity is None:
        if FAMILIARITY in session.output_names or thresholds.familiarity is not None:
            log.warning("pack %s: familiarity output or threshold missing; not used", pack.version)
        return None
    return session.output_names.index(FAMILIARITY)


def _session_spec(pack: SpeciesPack, path: Path) -> ModelSpec:
    """The runtime's description of a pack model, so it gets the same provider planning,
    thread budget and TensorRT engine cache (keyed by the file's sha256) as the pack models."""
    contracts = [
        InputContract(
            name=name,
            shape=("N", 3, side, side),
            example=(1, 3, side, side),
            layout="NCHW",
            colour="RGB",
            range="0-255",
        )
        for name, side in zip(pack.input_names, pack.input_sizes, strict=True)
    ]
    return ModelSpec(
        id="fish_species",
        name=f"{pack.name} {pack.version}",
        role="fish_species",
        version=pack.version,
        licence="see the pack's card.md",
        file=path.name,
        converter="copy",
        sha256=pack.sha256[path.name],
        card="card.md",
        sources={},
        input=contracts[0],
        more_inputs=tuple(contracts[1:]),
    )


def _prediction(
    pack: SpeciesPack,
    thresholds: Thresholds,
    row: FloatArray,
    top_k: int,
    familiarity: float | None = None,
) -> FishPrediction:
    if thresholds.is_unfamiliar(familiarity):
        return _no_fish(pack, _unfamiliar_reason(float(familiarity or 0.0), thresholds))
    order = np.argsort(-row, kind="stable")[: max(1, top_k)]
    scores = tuple(
        SpeciesScore(pack.species[i], float(np.clip(row[i], 0.0, 1.0))) for i in order
    )  # fmt: skip
    confidence = scores[0].probability
    known = confidence >= thresholds.open_set
    return FishPrediction(
        status=FishStatus.IDENTIFIED if known else FishStatus.UNKNOWN,
        top_k=scores,
        needs_review=not known or bool(thresholds.flags_for_review(confidence)),
        pack_version=pack.version,
    )


def _unfamiliar_reason(familiarity: float, thresholds: Thresholds) -> str:
    """Why the crop is no fish, in the words the store, the hub and a reviewer read."""
    return (
        f"not like any species of the pack (similarity {familiarity:.2f}, "
        f"below its {thresholds.familiarity:.2f})"
    )


def _no_fish(pack: SpeciesPack, reason: str) -> FishPrediction:
    return FishPrediction(FishStatus.NO_FISH, (), True, pack.version, reason)
