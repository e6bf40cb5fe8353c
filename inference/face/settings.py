"""Every threshold of the face pipeline, in one place.

Each stage keeps its own frozen settings dataclass next to its code, with the measurement
behind each default in that field's docstring; :class:`FaceSettings` gathers them so that a
deployment reads, prints (``jaga face settings``) and overrides (``--settings FILE``) all of
them together:

========================  ====================================  ===========================
section                   dataclass (module)                    measured in
========================  ====================================  ===========================
``detector``              ``DetectorSettings`` (detect)         ``tests/.../measure.py``
``tracker``               ``TrackerSettings`` (track)           ``tests/.../measure.py``
``quality``               ``QualitySettings`` (quality)         ``tests/.../measure.py``
``liveness``              ``LivenessSettings`` (liveness)       ``liveness_study``
``match``                 ``MatchSettings`` (match)             ``jaga eval pairs``, LFW
``decision``              ``DecisionSettings`` (decide)         below
``weights``               ``WeightSettings`` (decide)           below
``frames``                ``FrameSettings`` (here)              below
``challenge``             ``ChallengeSettings`` (challenge)     NUAA webcam sequences
========================  ====================================  ===========================

The decision's two thresholds are not repeated here: :meth:`FaceSettings.thresholds` reads
them from the models' own settings (liveness ``threshold``; match ``verify_threshold`` in
1:1, ``identify_threshold`` in 1:N), so one number has one home.

Where the defaults of this package's own sections come from (each field's docstring has
the figures; ``python -m tools.measure_face_decisions`` and ``jaga eval video`` reproduce them):

* ``weights.full_sharpness = 0.165``: the median sharpness of the faces the gate accepts in
  300 random LFW images (5th-95th percentile 0.070-0.23); a face at least as sharp as the
  typical enrolment photo counts fully, one at the gate's minimum (0.05) counts 0.3.
* ``weights.full_inter_ocular_px = 51``: the eye distance in the descriptor's chip (dlib's
  150 px chip puts the eyes 51 px apart, :data:`align.YUNET_DLIB_CHIP`); a face with fewer
  pixels between the eyes is enlarged to make the chip, so it carries less detail.
* ``decision.min_frames = 3``: the tracker's ``min_hits``; fusing more NUAA frames changes
  no error rate (9.9 % BPCER for 1 frame, 10.3 % for 3, 11.4 % for 8; APCER 0).
* ``decision.max_seconds = 3``: decided tracks of both videos took 0.2-1.4 s (2.6 s at most
  when walkers is played in real time and frames are dropped).
* ``decision.challenge_below = 0.8``: challenges 12.1 % of NUAA's live decisions.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from inference.errors import InputError
from inference.face.challenge import ChallengeSettings
from inference.face.decide import DecisionSettings, Mode, Thresholds, WeightSettings
from inference.face.detect import DetectorSettings
from inference.face.liveness import LivenessSettings
from inference.face.match import MatchSettings
from inference.face.quality import QualitySettings
from inference.face.track import TrackerSettings
from inference.regular_file import read_small_file

# A settings file is a few kilobytes of TOML; a MiB refuses, unread, a file named by mistake.
MAX_SETTINGS_BYTES = 1 << 20


@dataclass(frozen=True)
class FrameSettings:
    """Policies about whole frames (whose face is being judged)."""

    single_subject: bool = False
    """Kiosk mode: a frame with more than one comparable face is ``multiple_faces`` and adds
    no evidence to any track (the system cannot know who presented the badge). Off for
    surveillance-style video, where every face is judged."""
    rival_inter_ocular_ratio: float = 0.5
    """In single-subject mode a second face counts as a rival when its eye distance is at
    least this share of the largest face's: a person queueing behind, at twice the distance,
    is not a rival. (A policy, not a measurement: at half the eye distance a face is as far
    again from the camera.)"""

    def __post_init__(self) -> None:
        if not 0.0 < self.rival_inter_ocular_ratio <= 1.0:
            raise ValueError("rival_inter_ocular_ratio lies in (0, 1]")

    def comparable(self, inter_ocular_px: Sequence[float]) -> int:
        """How many of these faces (their eye distances) are comparable to the largest: more
        than one, and it is not clear whose face is being judged."""
        if not inter_ocular_px:
            return 0
        floor = self.rival_inter_ocular_ratio * max(inter_ocular_px)
        return sum(1 for side in inter_ocular_px if side >= floor)


@dataclass(frozen=True)
class FaceSettings:
    """The settings of every stage of the face pipeline."""

    detector: DetectorSettings = field(default_factory=DetectorSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    match: MatchSettings = field(default_factory=MatchSettings)
    decision: DecisionSettings = field(default_factory=DecisionSettings)
    weights: WeightSettings = field(default_factory=WeightSettings)
    frames: FrameSettings = field(default_factory=FrameSettings)
    challenge: ChallengeSettings = field(default_factory=ChallengeSettings)

    def __post_init__(self) -> None:
        # The pipeline fuses the liveness score of every face the gate accepts, and reads no
        # liveness verdict: a face smaller than the liveness model trusts must not pass.
        if self.quality.min_face_side_px < self.liveness.min_face_side_px:
            raise ValueError(
                f"quality.min_face_side_px ({self.quality.min_face_side_px}) must be at least "
                f"liveness.min_face_side_px ({self.liveness.min_face_side_px})"
            )

    def thresholds(self, mode: Mode, similarity: float | None = None) -> Thresholds:
        """The decision's thresholds for ``mode``; ``similarity`` replaces the match settings'
        for descriptors calibrated elsewhere (a bring-your-own recogniser)."""
        if similarity is None:
            verify = mode is Mode.VERIFY
            similarity = self.match.verify_threshold if verify else self.match.identify_threshold
        challenge_below = max(self.decision.challenge_below, self.liveness.threshold)
        return Thresholds(self.liveness.threshold, similarity, challenge_below)

    def for_still_images(self) -> FaceSettings:
        """The same thresholds for single photos: a face is tracked and decided at once."""
        return dataclasses.replace(
            self,
            tracker=dataclasses.replace(self.tracker, min_hits=1),
            decision=dataclasses.replace(self.decision, min_frames=1),
        )

    def overridden(self, table: Mapping[str, Any]) -> FaceSettings:
        """A copy with ``{section: {field: value}}`` applied (a parsed TOML file); unknown
        sections, fields or wrongly typed values are an :class:`InputError`."""
        changes: dict[str, Any] = {}
        for section, values in table.items():
            current = getattr(self, section, None) if section in _sections() else None
            if current is None or not isinstance(values, Mapping):
                raise InputError(f"unknown settings section [{section}]; known: {_sections()}")
            changes[section] = _replace_scalars(current, section, values)
        return dataclasses.replace(self, **changes)  # load_settings reports a refusal

    def as_dict(self) -> dict[str, Any]:
        """Every setting as plain JSON values, section by section."""
        return {name: _plain(getattr(self, name)) for name in _sections()}


def load_settings(path: Path | None = None) -> FaceSettings:
    """The defaults, overridden by the TOML file at ``path`` when one is given: a regular
    file of at most ``MAX_SETTINGS_BYTES`` (:class:`InputError` naming it otherwise)."""
    settings = FaceSettings()
    if path is None:
        return settings
    try:
        text = read_small_file(path, "a settings file", MAX_SETTINGS_BYTES).decode("utf-8")
        table = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read settings {path}: {exc}") from exc
    try:
        return settings.overridden(table)
    except ValueError as exc:  # a dataclass refused the combination
        raise InputError(f"{path}: {exc}") from exc


def _sections() -> list[str]:
    return [f.name for f in dataclasses.fields(FaceSettings)]


def _replace_scalars(current: Any, section: str, values: Mapping[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(current)}
    changes = {}
    for name, value in values.items():
        if name not in known:
            raise InputError(f"[{section}] has no setting {name!r}; known: {sorted(known)}")
        changes[name] = _coerce(getattr(current, name), value, f"{section}.{name}")
    return dataclasses.replace(current, **changes)


def _coerce(current: Any, value: Any, where: str) -> Any:
    """``value`` as the type of the setting it replaces; only scalars are overridable."""
    if isinstance(current, Enum):
        try:
            return type(current)(value)
        except ValueError as exc:
            choices = [member.value for member in type(current)]
            raise InputError(f"{where}: {value!r} is not one of {choices}") from exc
    if isinstance(current, bool) or not isinstance(current, int | float | str):
        if isinstance(current, bool) and isinstance(value, bool):
            return value
        raise InputError(f"{where} cannot be set from a settings file")
    if isinstance(value, float) and not math.isfinite(value):
        # TOML reads nan and inf; every comparison with nan is false, so a nan threshold
        # would silently pass every face.
        raise InputError(f"{where} must be a finite number, got {value!r}")
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not type(current):
        raise InputError(f"{where} needs a {type(current).__name__}, got {value!r}")
    return value


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
