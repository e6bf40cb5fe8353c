"""The runtime: provider planning and sessions for installed models.

:class:`Runtime` is made once per process; it plans providers once and hands out
:class:`OnnxSession` objects that report the provider they actually run on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from inference.cli_numbers import thread_count
from inference.pack.installed import ModelPack
from inference.runtime.providers import (
    DEFAULT_PREFERENCE,
    Precision,
    ProviderPlan,
    plan_providers,
)
from inference.runtime.session import (
    ModelSession,
    OnnxSession,
    SessionConfig,
    ThreadBudget,
)

__all__ = [
    "ModelSession",
    "OnnxSession",
    "Precision",
    "ProviderPlan",
    "Runtime",
    "ThreadBudget",
    "thread_count",
]
log = logging.getLogger(__name__)


class Runtime:
    """Sessions for the models of one pack, all on one provider plan."""

    def __init__(
        self,
        pack: ModelPack,
        *,
        preference: Sequence[str] = DEFAULT_PREFERENCE,
        precision: Precision = Precision.FP16,
        threads: ThreadBudget | None = None,
        calibration_tables: dict[str, Path] | None = None,
        available: Sequence[str] | None = None,
    ) -> None:
        self.pack = pack
        self.plan = plan_providers(
            ort.get_available_providers() if available is None else available,
            preference=preference,
            precision=precision,
            int8_calibration_available=bool(calibration_tables),
        )
        log.info("execution providers: %s", self.plan.describe())
        self._config = SessionConfig(
            plan=self.plan,
            threads=threads or ThreadBudget.share_cores(sessions=1),
            engines_dir=pack.engines_dir,
            calibration_tables=calibration_tables,
        )

    def session(self, model_id: str, *, warmup: bool = True) -> OnnxSession:
        config = self._config if warmup else _without_warmup(self._config)
        # The session checks the bytes it loads against the record: hashing the file as the
        # pack hands it out too read every model twice at each start.
        return OnnxSession(self.pack.model(model_id, hash_file=False), config)


def _without_warmup(config: SessionConfig) -> SessionConfig:
    return SessionConfig(
        plan=config.plan,
        threads=config.threads,
        engines_dir=config.engines_dir,
        calibration_tables=config.calibration_tables,
        warmup=False,
    )
