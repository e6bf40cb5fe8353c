"""A bring-your-own model folder in InsightFace's format, and the contract of each model.

InsightFace ships its packs as plain folders of ONNX files (``buffalo_l/det_10g.onnx``,
``w600k_r50.onnx``, ...). Jaga reads such a folder through a small manifest,
``jaga-pack.toml``, that the user writes (or has ``jaga face pack DIR --write`` write)::

    [detector]                      # SCRFD, 5 landmarks
    file = "det_10g.onnx"
    sha256 = "..."                  # checked on every load when given
    outputs = "insightface"         # or "names": score_8, bbox_8, kps_8, ...
    licence = "non-commercial research (InsightFace)"

    [recogniser]                    # ArcFace, 112x112 chips
    file = "w600k_r50.onnx"
    similarity_threshold = 0.3      # 1:1; calibrate with jaga eval pairs; needed for decisions
    identify_threshold = 0.45       # 1:N; calibrate with jaga eval identify; needed for 1:N

Every other field has InsightFace's own value as its default (input size, mean and std,
colour order, strides, anchors, output width). Without a manifest, the folder's file names
are read the way InsightFace's model zoo names them (``det_*``/``scrfd*``: a detector;
``w600k_*``, ``glintr100*``, ``*arcface*``: a recogniser) with those same defaults.

Nothing is guessed from a graph's shape: the declared contract is checked against the
graph's inputs and outputs when the model is loaded, and a mismatch is a clear error.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from inference.errors import ChecksumMismatchError, InputError, PackError
from inference.face import cli_options
from inference.pack.files import sha256_of

MANIFEST_NAME = cli_options.MANIFEST_NAME
UNKNOWN_LICENCE = "not declared: InsightFace's own weights are for non-commercial research"
_DETECTOR_NAMES = (re.compile(r"^det_.*\.onnx$"), re.compile(r"^scrfd.*\.onnx$"))
_RECOGNISER_NAMES = (
    re.compile(r"^w600k_.*\.onnx$"),
    re.compile(r"^glintr100.*\.onnx$"),
    re.compile(r".*arcface.*\.onnx$"),
)
Colour = Literal["RGB", "BGR"]


@dataclass(frozen=True)
class DetectorSpec:
    """An SCRFD detector with 5 landmarks; defaults are InsightFace's ``scrfd.py``."""

    file: str
    sha256: str | None = None
    licence: str = UNKNOWN_LICENCE
    input_size: int = 640
    """Square side the image is letterboxed into (InsightFace's ``det_size``)."""
    mean: float = 127.5
    std: float = 128.0
    colour: Colour = "RGB"
    strides: tuple[int, ...] = (8, 16, 32)
    anchors: int = 2
    """Anchors per feature-map location (2 for the 3-stride models)."""
    outputs: Literal["insightface", "names"] = "insightface"
    """``insightface``: by position, all scores, then all boxes, then all landmarks, stride by
    stride (how InsightFace reads them); ``names``: ``score_8``, ``bbox_8``, ``kps_8``, ..."""
    score_threshold: float = 0.5
    """InsightFace's ``det_thresh`` default."""
    nms_iou_threshold: float = 0.4
    """InsightFace's ``nms_thresh`` default."""
    retry_border: float = 0.5
    """Jaga's tight-crop retry, as for YuNet: an image in which nothing is found is framed
    with this border (a share of its long side) and looked at again, because a face that
    fills the letterboxed input is larger than SCRFD's anchors. On 100 random LFW crops
    (350 px, all found by YuNet), scrfd_500m_bnkps finds 1 without the retry, 90 with a
    0.25 border and 100 with 0.5. 0 turns it off."""

    def __post_init__(self) -> None:
        if not self.strides or min(self.strides) < 1 or self.input_size < 1:
            raise InputError("detector: strides are whole numbers >= 1, input_size >= 1")
        if self.input_size % max(self.strides) or self.anchors < 1 or self.std == 0:
            raise InputError("detector: input_size must be a multiple of every stride, "
                             "anchors >= 1 and std != 0")  # fmt: skip
        if not 0.0 < self.score_threshold <= 1.0 or not 0.0 < self.nms_iou_threshold <= 1.0:
            raise InputError("detector: score_threshold and nms_iou_threshold lie in (0, 1]")
        if self.retry_border < 0:
            raise InputError("detector: retry_border must be >= 0")


@dataclass(frozen=True)
class RecogniserSpec:
    """An ArcFace recogniser on 112x112 chips; defaults are InsightFace's ``arcface_onnx.py``."""

    file: str
    sha256: str | None = None
    licence: str = UNKNOWN_LICENCE
    input_size: int = 112
    mean: float = 127.5
    std: float = 127.5
    colour: Colour = "RGB"
    dimension: int = 512
    similarity_threshold: float | None = None
    """Cosine similarity for "same person" (1:1), calibrated on the user's data; decisions
    need it, because it belongs to the weights (ArcFace and dlib scores live on different
    scales)."""
    identify_threshold: float | None = None
    """1:N's bar, calibrated with ``jaga eval identify``: an unknown face meets every identity
    of the gallery, so it lies above the 1:1 threshold (0.947 against 0.911 for the default
    descriptor). 1:N with this recogniser needs it."""

    def __post_init__(self) -> None:
        if self.input_size != 112 or self.dimension < 1 or self.std == 0:
            raise InputError("recogniser: ArcFace chips are 112 px, dimension >= 1, std != 0")
        for name in ("similarity_threshold", "identify_threshold"):
            threshold = getattr(self, name)
            if threshold is not None and not -1.0 <= threshold <= 1.0:
                raise InputError(f"recogniser: {name} lies in [-1, 1], got {threshold}")


@dataclass(frozen=True)
class ByoPack:
    """A folder of user-supplied models and what is declared about them."""

    root: Path
    detector: DetectorSpec | None = None
    recogniser: RecogniserSpec | None = None
    inferred: bool = False
    """True when the contracts come from the file names rather than a manifest."""
    notes: tuple[str, ...] = field(default=())

    def path(self, spec: DetectorSpec | RecogniserSpec) -> Path:
        return self.root / spec.file

    def checked_sha256(self, spec: DetectorSpec | RecogniserSpec) -> str:
        """The file's sha256, which must equal the declared one when there is one."""
        path = self.path(spec)
        if not path.is_file():
            raise PackError(f"{path} does not exist")
        actual = sha256_of(path)
        if spec.sha256 is not None and actual != spec.sha256.lower():
            raise ChecksumMismatchError(f"sha256 of {path} is {actual}, the manifest pins "
                                        f"{spec.sha256}")  # fmt: skip
        return actual

    def to_toml(self) -> str:
        """The manifest for this pack (with checksums filled in), as TOML text."""
        lines = [f"# {MANIFEST_NAME}: bring-your-own models for Jaga"]
        for section, spec in (("detector", self.detector), ("recogniser", self.recogniser)):
            if spec is None:
                continue
            lines += ["", f"[{section}]"]
            for item in fields(spec):
                value = getattr(spec, item.name)
                if item.name == "sha256" and value is None:
                    value = self.checked_sha256(spec)
                if value is not None:
                    lines.append(f"{item.name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def load_byo_pack(root: Path) -> ByoPack:
    """The pack in folder ``root``: its manifest if it has one, else inferred from names."""
    if not root.is_dir():
        raise PackError(f"{root} is not a folder")
    manifest = root / MANIFEST_NAME
    if manifest.exists():
        return _from_manifest(root, manifest)
    return _from_names(root)


def _from_manifest(root: Path, manifest: Path) -> ByoPack:
    try:
        table = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PackError(f"cannot read {manifest}: {exc}") from exc
    unknown = set(table) - {"detector", "recogniser"}
    if unknown or not table:
        raise PackError(
            f"{manifest}: sections are [detector] and [recogniser], got {sorted(table)}"
        )
    detector = _spec(DetectorSpec, table.get("detector"), manifest)
    recogniser = _spec(RecogniserSpec, table.get("recogniser"), manifest)
    return ByoPack(root, detector, recogniser)


def _spec(kind: type[Any], values: Any, where: Path) -> Any:
    if values is None:
        return None
    if not isinstance(values, dict):
        raise PackError(f"{where}: [{kind.__name__}] must be a table")
    known = {item.name for item in fields(kind)}
    if set(values) - known:
        raise PackError(
            f"{where}: unknown keys {sorted(set(values) - known)}; known {sorted(known)}"
        )
    if "file" not in values:
        raise PackError(f"{where}: every model needs a file")
    hints = get_type_hints(kind)
    converted = {key: _typed(value, hints[key], f"{where}: {key}") for key, value in values.items()}
    try:
        return kind(**converted)
    except (TypeError, ValueError, ArithmeticError, InputError) as exc:
        raise PackError(f"{where}: {exc}") from exc


def _typed(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the field's declared type; else a ``PackError`` naming the key. A wrong
    type used to pass ``jaga face pack`` and crash detection later (``input_size = 640.0``),
    or be quietly misread (``colour = "rgb"`` taken as BGR)."""
    wanted = _without_none(hint)  # TOML has no null: an optional key is simply left out
    if get_origin(wanted) is Literal:
        if value not in get_args(wanted):
            raise PackError(f"{where} is one of {list(get_args(wanted))}, not {value!r}")
        return value
    if get_origin(wanted) is tuple:
        if not isinstance(value, list) or not all(_is_int(item) for item in value):
            raise PackError(f"{where} is a list of whole numbers, not {value!r}")
        return tuple(value)
    if wanted is float and (_is_int(value) or isinstance(value, float)):
        if not math.isfinite(value):  # TOML reads nan and inf
            raise PackError(f"{where} must be a finite number, not {value!r}")
        return float(value)
    if wanted is int and _is_int(value):
        return value
    if wanted is str and isinstance(value, str):
        return value
    kinds = {int: "a whole number", float: "a number", str: "text"}
    raise PackError(f"{where} needs {kinds.get(wanted, wanted)}, not {value!r}")


def _without_none(hint: Any) -> Any:
    if get_origin(hint) in (Union, UnionType):
        return next(arg for arg in get_args(hint) if arg is not type(None))
    return hint


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _from_names(root: Path) -> ByoPack:
    names = sorted(path.name for path in root.glob("*.onnx"))
    detector = _one(names, _DETECTOR_NAMES, "detector", root)
    recogniser = _one(names, _RECOGNISER_NAMES, "recogniser", root)
    if detector is None and recogniser is None:
        raise PackError(f"{root} has no {MANIFEST_NAME} and no InsightFace-named model "
                        "(det_*.onnx, scrfd*.onnx, w600k_*.onnx, glintr100*.onnx)")  # fmt: skip
    notes = (f"no {MANIFEST_NAME}: contracts are InsightFace's defaults, chosen by file name, "
             "and no checksum is pinned (jaga face pack DIR --write writes one)",)  # fmt: skip
    return ByoPack(
        root,
        DetectorSpec(detector) if detector else None,
        RecogniserSpec(recogniser) if recogniser else None,
        inferred=True,
        notes=notes,
    )


def _one(
    names: list[str], patterns: tuple[re.Pattern[str], ...], role: str, root: Path
) -> str | None:
    found = [name for name in names if any(p.match(name) for p in patterns)]
    if len(found) > 1:
        raise PackError(f"{root}: several files could be the {role} ({', '.join(found)}); "
                        f"name one in {MANIFEST_NAME}")  # fmt: skip
    return found[0] if found else None


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
