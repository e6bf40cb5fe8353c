"""Execution-provider planning: one ordered preference, intersected with what is installed.

The plan is made once at start-up. It records what was skipped and why, so that "running
on CPU" is always an explained fact rather than a silent fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
DEFAULT_PREFERENCE: tuple[str, ...] = (TENSORRT, CUDA, CPU)
SHORT_NAMES = {"tensorrt": TENSORRT, "cuda": CUDA, "cpu": CPU}


class Precision(StrEnum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


@dataclass(frozen=True)
class ProviderPlan:
    """The providers sessions will ask for, best first, and why others were left out."""

    providers: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    precision: Precision

    @property
    def preferred(self) -> str:
        return self.providers[0]

    def describe(self) -> str:
        chosen = " -> ".join(short_name(name) for name in self.providers)
        if TENSORRT in self.providers:
            chosen += f" (TensorRT {self.precision})"
        reasons = "; ".join(f"{short_name(name)}: {why}" for name, why in self.skipped)
        return chosen + (f"; skipped {reasons}" if reasons else "")


def short_name(provider: str) -> str:
    for short, full in SHORT_NAMES.items():
        if full == provider:
            return short
    return provider


def parse_preference(text: str) -> tuple[str, ...]:
    """``"tensorrt,cuda,cpu"`` -> provider names; unknown names are an error."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in SHORT_NAMES]
    if unknown or not names:
        raise ValueError(f"unknown providers {unknown}; choose from {', '.join(SHORT_NAMES)}")
    return tuple(SHORT_NAMES[name] for name in names)


def plan_providers(
    available: Sequence[str],
    *,
    preference: Sequence[str] = DEFAULT_PREFERENCE,
    precision: Precision = Precision.FP16,
    int8_calibration_available: bool = False,
) -> ProviderPlan:
    """Intersect ``preference`` with ``available`` (``onnxruntime.get_available_providers()``).

    CPU is always kept last as the floor, because every model must run somewhere; INT8
    without a calibration table is refused rather than silently run at another precision.
    """
    installed = set(available)
    chosen: list[str] = []
    skipped: list[tuple[str, str]] = []
    for name in preference:
        if name not in installed:
            skipped.append((name, "not installed in this onnxruntime build"))
        elif name == TENSORRT and precision is Precision.INT8 and not int8_calibration_available:
            skipped.append((name, "int8 asked for but no calibration table was given"))
        elif name not in chosen:
            chosen.append(name)
    if CPU not in chosen:
        chosen.append(CPU)
    return ProviderPlan(tuple(chosen), tuple(skipped), precision)
